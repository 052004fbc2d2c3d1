"""``torch.nn.RNN``, ``LSTM``, ``GRU`` and their cells as Flax linen modules.

``variables["params"]`` of every module is the torch ``state_dict()``: torch's keys, in torch's
order, with torch's shapes and initialisation, so torch weights drop in as they are and the params
go back to torch (or to a safetensors file) unchanged. dtypes follow flax: params are created and
stored in ``param_dtype``; a call computes in ``dtype``, or (``dtype=None``) in what the inputs and
params promote to, and returns that dtype. The modules declare params and call the functional
core; ``import jrnn.linen`` needs flax.
"""

from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from . import _errors, _errors_modules, _wrappers
from ._init import check_param_bytes, torch_uniform
from ._optional import require
from ._params import guess_kind
from ._wrappers import TorchModule, check_options, run

nn = require("flax.linen", extra="flax", feature="`jrnn.linen`")


def _declare(module: nn.Module, fn: str, layout: dict[str, tuple[int, ...]]) -> dict:
    """Declare one param per torch key, in torch's order, and return them as a params dict.

    Params handed to ``apply`` must be exactly the module's, as torch's
    ``load_state_dict(strict=True)`` asks: flax alone would ignore extra ones (another layer, a
    reverse direction) and run a smaller network than the params describe.
    """
    kind = module.torch_module
    if not module.is_initializing():
        given = {k: tuple(v.shape) for k, v in module.variables.get("params", {}).items()}
        missing = {k: shape for k, shape in layout.items() if k not in given}
        unexpected = {k: shape for k, shape in given.items() if k not in layout}
        misshaped = {
            k: (shape, given[k]) for k, shape in layout.items() if given.get(k, shape) != shape
        }
        if missing or unexpected or misshaped:
            guess = guess_kind(given, kind.cell)
            hint = ""
            if guess not in (None, kind.family):
                hint = _errors_modules.wrapper_kind_hint("jrnn.linen", guess, kind.cell)
            raise _errors.params_mismatch(fn, kind.name, missing, unexpected, misshaped, hint)
    if module.is_initializing():
        check_param_bytes(fn, layout, module.param_dtype)
    init = torch_uniform(module.hidden_size)
    return {
        name: module.param(name, init, shape, module.param_dtype) for name, shape in layout.items()
    }


def _input_size(module: nn.Module, first_weight: str, x: jax.Array) -> int:
    """``H_in``: read from ``x`` at ``init``, from the existing params afterwards.

    Reading it from the params lets the core report a mis-shaped ``x`` in its own terms (with
    the ``batch_first`` hint) rather than as a param shape mismatch.
    """
    if module.has_variable("params", first_weight):
        return module.get_variable("params", first_weight).shape[1]
    return x.shape[-1]


def _as_array(fn: str, arg: str, value: Any, ranks: tuple[int, ...], legend: str) -> jax.Array:
    value = value if hasattr(value, "shape") else jnp.asarray(value)
    if value.ndim not in ranks:
        raise _errors_modules.flax_x_rank(fn, arg, legend, tuple(value.shape))
    return value


class _Network(nn.Module):
    """What ``RNN``, ``LSTM`` and ``GRU`` share: everything but their fields and their names."""

    torch_module: ClassVar[TorchModule]

    @nn.compact
    def __call__(
        self,
        x: jax.Array,
        state: Any = None,
        *,
        lengths: jax.Array | None = None,
        deterministic: bool = True,
    ) -> tuple[jax.Array, Any]:
        """Run the network, exactly torch's ``forward`` (see :func:`jrnn.lstm`).

        Args:
            x: the input sequence.
            state: the initial state: ``h0``, or LSTM's ``(h0, c0)``; ``None`` means zeros.
            lengths: ``(N,)`` valid steps per sequence (a scalar for unbatched ``x``), as
                torch's packed sequences: outputs past a length are 0, the final state is the
                state at the last valid step.
            deterministic: ``True`` switches dropout off (torch's eval mode); ``False`` draws
                the dropout masks from the ``"dropout"`` rng.

        Returns:
            ``(output, h_n)``, or LSTM's ``(output, (h_n, c_n))``, in the compute dtype.

        Raises:
            ValueError: x not of rank 2 or 3, a size not an integer >= 1, an unknown
                nonlinearity, dropout outside ``[0, 1]``, proj_size where torch refuses it,
                dropout on without a ``"dropout"`` rng, params not this module's, and every
                error of the core function.
            TypeError: ``dtype``/``param_dtype`` not floating, and every error of the core.

        """
        kind = self.torch_module
        fn = f"jrnn.linen.{kind.name}"
        x = _as_array(fn, "x", x, (2, 3), "(L, N, H_in), (N, L, H_in) or unbatched (L, H_in)")
        nonlinearity = getattr(self, "nonlinearity", "tanh")  # only the Elman RNN has one
        proj_size, dropout = check_options(
            fn,
            kind,
            {"hidden_size": self.hidden_size, "num_layers": self.num_layers},
            {
                "bias": self.bias,
                "batch_first": self.batch_first,
                "bidirectional": self.bidirectional,
            },
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            nonlinearity=nonlinearity,
            proj_size=getattr(self, "proj_size", 0),  # only LSTM and GRU take one
            dropout=self.dropout,
        )
        layout = kind.layout(
            _input_size(self, "weight_ih_l0", x),
            self.hidden_size,
            self.bias,
            self.num_layers,
            self.bidirectional,
            proj_size,
        )
        params = _declare(self, fn, layout)
        key = None
        if dropout > 0 and not deterministic:
            if not self.has_rng("dropout"):
                raise _errors_modules.linen_dropout_rng_missing(fn, dropout)
            key = self.make_rng("dropout")
        return run(
            fn,
            kind,
            params,
            x,
            state,
            dtype=self.dtype,
            nonlinearity=nonlinearity,
            batch_first=self.batch_first,
            lengths=lengths,
            dropout=dropout,
            key=key,
            unroll=self.unroll,
            precision=self.precision,
            checkpoint_every=self.checkpoint_every,
        )


class _OneState(_Network):
    """``RNN`` and ``GRU``: one state, passed as ``h0`` (as :func:`jrnn.rnn`, :func:`jrnn.gru`)."""

    def __call__(
        self,
        x: jax.Array,
        h0: jax.Array | None = None,
        *,
        lengths: jax.Array | None = None,
        deterministic: bool = True,
    ) -> tuple[jax.Array, jax.Array]:
        """Run the network, exactly torch's ``forward`` (see :func:`jrnn.rnn`, :func:`jrnn.gru`).

        Args:
            x: the input sequence.
            h0: the initial state; ``None`` means zeros.
            lengths: ``(N,)`` valid steps per sequence, as torch's packed sequences.
            deterministic: ``True`` switches dropout off; ``False`` draws it from the
                ``"dropout"`` rng.

        Returns:
            ``(output, h_n)``, in the compute dtype.

        """
        return super().__call__(x, h0, lengths=lengths, deterministic=deterministic)


class RNN(_OneState):
    """``torch.nn.RNN`` as a linen module whose ``variables["params"]`` is its ``state_dict()``.

    ``input_size`` is read from ``x`` at ``init``. The params are ``weight_ih_l{k}``,
    ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` (and ``..._reverse`` twins), each drawn
    from U(-1/sqrt(H), 1/sqrt(H)) as torch does; ``jrnn.from_torch(torch_rnn)`` (or any params
    dict of :func:`jrnn.rnn`) can be passed to ``apply`` as they are.

    Shapes:
        ``L`` time, ``N`` batch, ``H_in`` input features, ``H`` hidden, ``D`` directions,
        ``S = D * num_layers``; as :func:`jrnn.rnn`.
        ``x``: ``(L, N, H_in)``, ``(N, L, H_in)`` if ``batch_first``, or unbatched ``(L, H_in)``.
        ``h0`` and ``h_n``: ``(S, N, H)`` or unbatched ``(S, H)``.
        ``output``: ``(L, N, D*H)`` (``(N, L, D*H)`` if ``batch_first``, ``(L, D*H)`` unbatched).

    Attributes:
        hidden_size: ``H``.
        num_layers: stacked layers.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        bias: whether the layers have ``bias_ih``/``bias_hh``.
        batch_first: ``x`` and ``output`` are ``(N, L, ...)``.
        dropout: probability of zeroing each output element of every layer but the last, drawn
            from the ``"dropout"`` rng when called with ``deterministic=False``.
        bidirectional: add a reverse direction to every layer.
        dtype: the dtype of the computation (inputs and params are cast to it); ``None``
            promotes the inputs and params, as flax does.
        param_dtype: the dtype params are created and stored in.
        unroll: time steps per scan iteration (:func:`jrnn.rnn`).
        precision: passed to every matmul (:func:`jrnn.rnn`).
        checkpoint_every: recompute states in segments of this length for the backward pass
            (:func:`jrnn.rnn`); ``None`` keeps them all.

    Example:
        >>> import jax, jax.numpy as jnp, jrnn.linen
        >>> model = jrnn.linen.RNN(hidden_size=4, num_layers=2)
        >>> x = jnp.ones((7, 2, 3), jnp.float32)  # (L, N, H_in)
        >>> variables = model.init(jax.random.key(0), x)
        >>> list(variables["params"])  # doctest: +NORMALIZE_WHITESPACE
        ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0',
         'weight_ih_l1', 'weight_hh_l1', 'bias_ih_l1', 'bias_hh_l1']
        >>> output, h_n = model.apply(variables, x)
        >>> output.shape, h_n.shape
        ((7, 2, 4), (2, 2, 4))

    """

    torch_module: ClassVar[TorchModule] = _wrappers.RNN

    hidden_size: int
    num_layers: int = 1
    nonlinearity: str = "tanh"
    bias: bool = True
    batch_first: bool = False
    dropout: float = 0.0
    bidirectional: bool = False
    dtype: Any = None
    param_dtype: Any = jnp.float32
    unroll: int = 1
    precision: Any = None
    checkpoint_every: int | None = None


class _GatedNetwork(_Network):
    """``LSTM`` and ``GRU``'s fields, in the order of torch's constructor."""

    hidden_size: int
    num_layers: int = 1
    bias: bool = True
    batch_first: bool = False
    dropout: float = 0.0
    bidirectional: bool = False
    proj_size: int = 0
    dtype: Any = None
    param_dtype: Any = jnp.float32
    unroll: int = 1
    precision: Any = None
    checkpoint_every: int | None = None


class LSTM(_GatedNetwork):
    """``torch.nn.LSTM`` (``proj_size`` included) as a linen module; params are its state_dict.

    ``input_size`` is read from ``x`` at ``init``; the params are torch's ``weight_ih_l{k}
    (4H, H_in)``, ``weight_hh_l{k} (4H, P)``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` and, with a
    projection, ``weight_hr_l{k} (P, H)``, each drawn from U(-1/sqrt(H), 1/sqrt(H)).
    ``__call__(x, state=None, *, lengths=None, deterministic=True)`` returns
    ``(output, (h_n, c_n))`` as :func:`jrnn.lstm`.

    Shapes:
        As :func:`jrnn.lstm`, ``P = proj_size or H``: ``x`` ``(L, N, H_in)`` (``(N, L, H_in)``
        if ``batch_first``, ``(L, H_in)`` unbatched); ``h0``/``h_n`` ``(S, N, P)``,
        ``c0``/``c_n`` ``(S, N, H)``; ``output`` ``(L, N, D*P)``.

    Attributes:
        hidden_size: ``H``.
        num_layers: stacked layers.
        bias: whether the layers have ``bias_ih``/``bias_hh``.
        batch_first: ``x`` and ``output`` are ``(N, L, ...)``.
        dropout: as :class:`RNN`.
        bidirectional: add a reverse direction to every layer.
        proj_size: ``P``: project ``h`` to this size (0: no projection), as torch.
        dtype: the computation's dtype; ``None`` promotes the inputs and params, as flax does.
        param_dtype: the dtype params are created and stored in.
        unroll: as :class:`RNN`.
        precision: as :class:`RNN`.
        checkpoint_every: as :class:`RNN`.

    Example:
        >>> import jax, jax.numpy as jnp, jrnn.linen
        >>> model = jrnn.linen.LSTM(hidden_size=4, proj_size=2)
        >>> x = jnp.ones((7, 3), jnp.float32)  # unbatched (L, H_in)
        >>> variables = model.init(jax.random.key(0), x)
        >>> {k: v.shape for k, v in variables["params"].items()}  # doctest: +NORMALIZE_WHITESPACE
        {'weight_ih_l0': (16, 3), 'weight_hh_l0': (16, 2), 'bias_ih_l0': (16,),
         'bias_hh_l0': (16,), 'weight_hr_l0': (2, 4)}
        >>> output, (h_n, c_n) = model.apply(variables, x)
        >>> output.shape, h_n.shape, c_n.shape
        ((7, 2), (1, 2), (1, 4))

    """

    torch_module: ClassVar[TorchModule] = _wrappers.LSTM


class GRU(_OneState, _GatedNetwork):
    """``torch.nn.GRU`` as a linen module whose ``variables["params"]`` is its ``state_dict()``.

    As :class:`LSTM`, with three gate blocks ``r, z, n`` (``weight_ih_l{k}`` is ``(3H, H_in)``)
    and one state: ``__call__(x, h0=None, *, lengths=None, deterministic=True)`` returns
    ``(output, h_n)`` as :func:`jrnn.gru`. ``proj_size`` other than 0 is refused, as torch does.

    Shapes:
        As :class:`RNN`.

    Attributes:
        hidden_size: ``H``.
        num_layers: stacked layers.
        bias: whether the layers have ``bias_ih``/``bias_hh``.
        batch_first: ``x`` and ``output`` are ``(N, L, ...)``.
        dropout: as :class:`RNN`.
        bidirectional: add a reverse direction to every layer.
        proj_size: must be 0 (torch's GRU takes it only to refuse it).
        dtype: the computation's dtype; ``None`` promotes the inputs and params, as flax does.
        param_dtype: the dtype params are created and stored in.
        unroll: as :class:`RNN`.
        precision: as :class:`RNN`.
        checkpoint_every: as :class:`RNN`.

    Example:
        >>> import jax, jax.numpy as jnp, jrnn.linen
        >>> model = jrnn.linen.GRU(hidden_size=4, batch_first=True, bidirectional=True)
        >>> x = jnp.ones((2, 7, 3), jnp.float32)  # (N, L, H_in)
        >>> variables = model.init(jax.random.key(0), x)
        >>> variables["params"]["weight_ih_l0_reverse"].shape
        (12, 3)
        >>> output, h_n = model.apply(variables, x)
        >>> output.shape, h_n.shape
        ((2, 7, 8), (2, 2, 4))

    """

    torch_module: ClassVar[TorchModule] = _wrappers.GRU


class _Cell(nn.Module):
    """What ``RNNCell``, ``LSTMCell`` and ``GRUCell`` share."""

    torch_module: ClassVar[TorchModule]

    @nn.compact
    def __call__(self, x_t: jax.Array, state: Any = None) -> Any:
        """One step, exactly torch's cell ``forward`` (see :func:`jrnn.lstm_cell_step`).

        Args:
            x_t: the input at one time step.
            state: ``h``, or LSTM's ``(h, c)``; ``None`` means zeros.

        Returns:
            The next ``h``, or LSTM's ``(h, c)``, in the compute dtype.

        Raises:
            ValueError: x_t not of rank 1 or 2, hidden_size not an integer >= 1, an unknown
                nonlinearity, params not this cell's, and every error of the core function.
            TypeError: ``dtype``/``param_dtype`` not floating, and every error of the core.

        """
        kind = self.torch_module
        fn = f"jrnn.linen.{kind.name}"
        x_t = _as_array(fn, "x_t", x_t, (1, 2), "(N, H_in) or unbatched (H_in,)")
        nonlinearity = getattr(self, "nonlinearity", "tanh")  # only the Elman cell has one
        check_options(
            fn,
            kind,
            {"hidden_size": self.hidden_size},
            {},  # torch's cells read bias as a flag: no type check
            dtype=self.dtype,
            param_dtype=self.param_dtype,
            nonlinearity=nonlinearity,
        )
        layout = kind.layout(_input_size(self, "weight_ih", x_t), self.hidden_size, self.bias)
        params = _declare(self, fn, layout)
        return run(
            fn,
            kind,
            params,
            x_t,
            state,
            dtype=self.dtype,
            nonlinearity=nonlinearity,
            precision=self.precision,
        )


class RNNCell(_Cell):
    """``torch.nn.RNNCell`` as a linen module whose ``variables["params"]`` is its ``state_dict()``.

    ::

        h_next = f(x_t @ W_ih.T + b_ih + h @ W_hh.T + b_hh),   f = tanh or relu

    ``input_size`` is read from ``x_t`` at ``init``; the params ``weight_ih (H, H_in)``,
    ``weight_hh (H, H)``, ``bias_ih (H,)``, ``bias_hh (H,)`` are drawn from U(-1/sqrt(H),
    1/sqrt(H)) as torch does. Unlike ``flax.linen`` cells it maps ``(x_t, h)`` to the next ``h``,
    as torch's cell does.

    Shapes:
        ``x_t``: ``(N, H_in)`` or unbatched ``(H_in,)``.
        ``h`` and the result: ``(N, H)`` or unbatched ``(H,)``.

    Attributes:
        hidden_size: ``H``.
        bias: whether the cell has ``bias_ih``/``bias_hh``.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        dtype: the computation's dtype; ``None`` promotes the inputs and params, as flax does.
        param_dtype: the dtype params are created and stored in.
        precision: passed to every matmul (:func:`jrnn.cell_step`).

    Example:
        >>> import jax, jax.numpy as jnp, jrnn.linen
        >>> cell = jrnn.linen.RNNCell(hidden_size=4)
        >>> x_t = jnp.ones((2, 3), jnp.float32)  # (N, H_in)
        >>> variables = cell.init(jax.random.key(0), x_t)
        >>> {k: v.shape for k, v in variables["params"].items()}
        {'weight_ih': (4, 3), 'weight_hh': (4, 4), 'bias_ih': (4,), 'bias_hh': (4,)}
        >>> cell.apply(variables, x_t).shape
        (2, 4)

    """

    torch_module: ClassVar[TorchModule] = _wrappers.RNN_CELL

    hidden_size: int
    bias: bool = True
    nonlinearity: str = "tanh"
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: Any = None

    def __call__(self, x_t: jax.Array, h: jax.Array | None = None) -> jax.Array:
        """One step, exactly ``torch.nn.RNNCell.forward`` (see :func:`jrnn.cell_step`).

        Args:
            x_t: the input at one time step.
            h: the previous hidden state; ``None`` means zeros.

        Returns:
            The next hidden state, in the compute dtype.

        """
        return super().__call__(x_t, h)


class _GatedCell(_Cell):
    """``LSTMCell`` and ``GRUCell``'s fields, in the order of torch's constructor."""

    hidden_size: int
    bias: bool = True
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: Any = None


class LSTMCell(_GatedCell):
    """``torch.nn.LSTMCell`` as a linen module whose ``variables["params"]`` is its state_dict.

    ``__call__(x_t, state=None)`` maps ``(x_t, (h, c))`` to the next ``(h, c)``, as torch's cell
    and :func:`jrnn.lstm_cell_step` do; params ``weight_ih (4H, H_in)``, ``weight_hh (4H, H)``,
    ``bias_ih (4H,)``, ``bias_hh (4H,)``, gates ``i, f, g, o``.

    Shapes:
        ``x_t``: ``(N, H_in)`` or ``(H_in,)``; ``h``, ``c``: ``(N, H)`` or ``(H,)``.

    Attributes:
        hidden_size: ``H``.
        bias: whether the cell has ``bias_ih``/``bias_hh``.
        dtype: the computation's dtype; ``None`` promotes the inputs and params, as flax does.
        param_dtype: the dtype params are created and stored in.
        precision: passed to every matmul.

    Example:
        >>> import jax, jax.numpy as jnp, jrnn.linen
        >>> cell = jrnn.linen.LSTMCell(hidden_size=4)
        >>> x_t = jnp.ones((2, 3), jnp.float32)
        >>> variables = cell.init(jax.random.key(0), x_t)
        >>> h, c = cell.apply(variables, x_t)
        >>> variables["params"]["weight_ih"].shape, h.shape, c.shape
        ((16, 3), (2, 4), (2, 4))

    """

    torch_module: ClassVar[TorchModule] = _wrappers.LSTM_CELL


class GRUCell(_GatedCell):
    """``torch.nn.GRUCell`` as a linen module whose ``variables["params"]`` is its state_dict.

    ``__call__(x_t, h=None)`` maps ``(x_t, h)`` to the next ``h``, as torch's cell and
    :func:`jrnn.gru_cell_step` do; params ``weight_ih (3H, H_in)``, ``weight_hh (3H, H)``,
    ``bias_ih (3H,)``, ``bias_hh (3H,)``, gates ``r, z, n``.

    Shapes:
        ``x_t``: ``(N, H_in)`` or ``(H_in,)``; ``h``: ``(N, H)`` or ``(H,)``.

    Attributes:
        hidden_size: ``H``.
        bias: whether the cell has ``bias_ih``/``bias_hh``.
        dtype: the computation's dtype; ``None`` promotes the inputs and params, as flax does.
        param_dtype: the dtype params are created and stored in.
        precision: passed to every matmul.

    Example:
        >>> import jax, jax.numpy as jnp, jrnn.linen
        >>> cell = jrnn.linen.GRUCell(hidden_size=4, param_dtype=jnp.float32, dtype=jnp.bfloat16)
        >>> x_t = jnp.ones((2, 3), jnp.float32)
        >>> variables = cell.init(jax.random.key(0), x_t)
        >>> variables["params"]["weight_hh"].dtype, cell.apply(variables, x_t).dtype
        (dtype('float32'), dtype(bfloat16))

    """

    torch_module: ClassVar[TorchModule] = _wrappers.GRU_CELL

    def __call__(self, x_t: jax.Array, h: jax.Array | None = None) -> jax.Array:
        """One step, exactly ``torch.nn.GRUCell.forward`` (see :func:`jrnn.gru_cell_step`).

        Args:
            x_t: the input at one time step.
            h: the previous hidden state; ``None`` means zeros.

        Returns:
            The next hidden state, in the compute dtype.

        """
        return super().__call__(x_t, h)
