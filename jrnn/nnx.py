"""``torch.nn.RNN``, ``LSTM``, ``GRU`` and their cells as Flax NNX modules.

Each torch parameter is one ``nnx.Param`` attribute under torch's name, so the flat paths of
``nnx.state(model, nnx.Param)`` are exactly the keys of torch's ``state_dict()``. Weights move in
and out in one call each: ``LSTM.from_params(params, rngs=...)`` builds a model around a params
dict (from :func:`jrnn.init_lstm`, torch or a safetensors file), ``model.load_params(params)``
overwrites a model's weights, ``model.to_params()`` returns them as a params dict. dtypes follow
flax: params are created and stored in ``param_dtype``; a call computes in ``dtype``, or
(``dtype=None``) in what the inputs and params promote to. The modules hold params and options
and call the functional core; ``import jrnn.nnx`` needs flax.
"""

from collections.abc import Mapping
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from . import _errors_modules, _wrappers
from ._init import check_param_bytes, uniform_params
from ._optional import require
from ._params import RNNConfig, cell_config, rnn_config
from ._wrappers import TorchModule, check_options, run

nnx = require("flax.nnx", extra="flax", feature="`jrnn.nnx`")


def _dropout_key(fn: str, module: "_Network", deterministic: bool | None, rngs: Any):
    """Return the dropout key for one call, drawn as ``nnx.Dropout`` draws it; ``None`` when off."""
    if deterministic is None:
        deterministic = module.deterministic
    if deterministic or module.dropout == 0:
        return None
    rngs = module.rngs if rngs is None else rngs
    if rngs is None:
        raise _errors_modules.dropout_rng_missing(fn, module.dropout)
    if isinstance(rngs, nnx.Rngs):
        return rngs["dropout"]()
    if isinstance(rngs, nnx.RngStream):
        return rngs()
    if isinstance(rngs, jax.Array):
        return rngs
    raise _errors_modules.dropout_rngs_type(fn, rngs)


class _Wrapper(nnx.Module):
    """Params held as one ``nnx.Param`` per torch key, and moved in and out as a params dict.

    A subclass gives ``_layout()`` (its keys and shapes), ``_read(fn, params, family)`` (the
    :class:`RNNConfig` a params dict describes) and ``_built_from(config)`` (the constructor
    arguments, other than the two sizes, that params decide).
    """

    torch_module: ClassVar[TorchModule]
    _sizes: ClassVar[tuple[str, ...]]  # what load_params checks against the params

    def _hold(self, rngs: nnx.Rngs) -> None:
        """Draw the params as torch does and hold each as an ``nnx.Param`` named by its key."""
        fn = f"jrnn.nnx.{self.torch_module.name}"
        if not isinstance(rngs, nnx.Rngs):
            raise _errors_modules.init_rngs_type(fn, rngs)
        layout = self._layout()
        check_param_bytes(fn, layout, self.param_dtype)
        params = uniform_params(rngs.params(), layout, self.hidden_size, self.param_dtype)
        for name, value in params.items():
            setattr(self, name, nnx.Param(value))

    def to_params(self) -> dict[str, jax.Array]:
        """Return the weights as a params dict for the core function, in torch's order."""
        return {name: getattr(self, name).get_value() for name in self._layout()}

    def load_params(self, params: Mapping[str, jax.Array]) -> None:
        """Overwrite the weights with ``params`` (the torch module's state_dict as arrays).

        Nothing is changed unless all of ``params`` fit.

        Raises:
            ValueError: params that are not this kind's state_dict (another kind's get a hint),
                or that describe another network (other sizes, layers, bias, directions or
                projection).
            TypeError: params not arrays, or of another dtype than the model's ``param_dtype``.

        """
        fn = f"jrnn.nnx.{self.torch_module.name}.load_params"
        config = self._read(fn, params, self.torch_module.family)
        expected = {size: getattr(self, size) for size in self._sizes}
        described = {size: getattr(config, size) for size in self._sizes}
        if expected != described:
            raise _errors_modules.params_do_not_fit(fn, expected, described)
        if config.dtype != jnp.dtype(self.param_dtype):
            raise _errors_modules.params_dtype_does_not_fit(
                fn, config.dtype, jnp.dtype(self.param_dtype)
            )
        for name, value in params.items():
            getattr(self, name).set_value(jnp.asarray(value))

    @classmethod
    def from_params(cls, params: Mapping[str, jax.Array], *, rngs: nnx.Rngs, **options):
        """Build a model holding ``params``, e.g. ``jrnn.from_torch(torch_module)``.

        Sizes, layers, bias, directions, projection and ``param_dtype`` are read from the
        params; ``options`` are the constructor's other keyword arguments (``dtype``,
        ``dropout``, ``nonlinearity`` for the Elman kinds, ...).

        Raises:
            ValueError: params that are not this kind's state_dict, and the constructor's errors.
            TypeError: params not arrays of one floating dtype; an option the params decide.

        """
        fn = f"jrnn.nnx.{cls.torch_module.name}.from_params"
        config = cls._read(fn, params, cls.torch_module.family)
        model = cls(
            config.input_size,
            config.hidden_size,
            **cls._built_from(config),
            param_dtype=config.dtype,
            rngs=rngs,
            **options,
        )
        model.load_params(params)
        return model


class _Network(_Wrapper):
    """What ``RNN``, ``LSTM`` and ``GRU`` share: all but their docs and one argument name."""

    _sizes = ("input_size", "hidden_size", "num_layers", "bias", "bidirectional", "proj_size")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        unroll: int = 1,
        precision: Any = None,
        checkpoint_every: int | None = None,
        deterministic: bool = False,
        rngs: nnx.Rngs,
    ):
        kind = self.torch_module
        sizes = {"input_size": input_size, "hidden_size": hidden_size, "num_layers": num_layers}
        self.proj_size, self.dropout = check_options(
            f"jrnn.nnx.{kind.name}",
            kind,
            sizes,
            {"bias": bias, "batch_first": batch_first, "bidirectional": bidirectional},
            dtype=dtype,
            param_dtype=param_dtype,
            nonlinearity=getattr(self, "nonlinearity", "tanh"),  # set first by the Elman RNN
            proj_size=proj_size,
            dropout=dropout,
        )
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.bidirectional, self.batch_first = bias, bidirectional, batch_first
        self.dtype, self.param_dtype = dtype, param_dtype
        self.unroll, self.precision, self.checkpoint_every = unroll, precision, checkpoint_every
        self.deterministic = deterministic
        self._hold(rngs)
        self.rngs = self._dropout_stream(rngs) if self.dropout > 0 else None

    def _dropout_stream(self, rngs: nnx.Rngs) -> nnx.RngStream:
        """A fork of ``rngs``'s ``"dropout"`` stream (or its ``"default"``), held for calls."""
        try:
            return rngs["dropout"].fork()
        except KeyError:  # neither stream
            raise _errors_modules.dropout_stream(
                f"jrnn.nnx.{self.torch_module.name}", self.dropout
            ) from None

    def _layout(self) -> dict[str, tuple[int, ...]]:
        return self.torch_module.layout(
            self.input_size,
            self.hidden_size,
            self.bias,
            self.num_layers,
            self.bidirectional,
            self.proj_size,
        )

    @staticmethod
    def _read(fn: str, params: object, family: str) -> RNNConfig:
        return rnn_config(fn, params, family)

    @staticmethod
    def _built_from(config: RNNConfig) -> dict[str, object]:
        return {
            "num_layers": config.num_layers,
            "bias": config.bias,
            "bidirectional": config.bidirectional,
            "proj_size": config.proj_size,
        }

    def __call__(
        self,
        x: jax.Array,
        state: Any = None,
        *,
        lengths: jax.Array | None = None,
        deterministic: bool | None = None,
        rngs: nnx.Rngs | nnx.RngStream | jax.Array | None = None,
    ) -> tuple[jax.Array, Any]:
        """Run the network, exactly torch's ``forward`` (see :func:`jrnn.lstm`).

        Args:
            x: the input sequence.
            state: the initial state: ``h0``, or LSTM's ``(h0, c0)``; ``None`` means zeros.
            lengths: ``(N,)`` valid steps per sequence (a scalar for unbatched ``x``), as
                torch's packed sequences: outputs past a length are 0, the final state is the
                state at the last valid step.
            deterministic: overrides the ``deterministic`` attribute for this call.
            rngs: overrides the stored ``"dropout"`` stream for this call: an ``nnx.Rngs``
                (its ``"dropout"`` stream), an ``nnx.RngStream`` or a ``jax.random`` key.

        Returns:
            ``(output, h_n)``, or LSTM's ``(output, (h_n, c_n))``, in the compute dtype.

        Raises:
            ValueError: dropout is on but there is no stream to draw from, and every error of
                the core function.
            TypeError: ``rngs`` of another type, and every error of the core function.

        """
        fn = f"jrnn.nnx.{self.torch_module.name}"
        return run(
            fn,
            self.torch_module,
            self.to_params(),
            x,
            state,
            dtype=self.dtype,
            nonlinearity=getattr(self, "nonlinearity", "tanh"),
            batch_first=self.batch_first,
            lengths=lengths,
            dropout=self.dropout,
            key=_dropout_key(fn, self, deterministic, rngs),
            unroll=self.unroll,
            precision=self.precision,
            checkpoint_every=self.checkpoint_every,
        )

    def set_view(self, deterministic: bool | None = None) -> None:
        """Set ``deterministic`` for ``nnx.view(model, deterministic=...)``, as ``nnx.Dropout``."""
        if deterministic is not None:
            self.deterministic = deterministic


class _OneState(_Network):
    """``RNN`` and ``GRU``: one state, passed as ``h0`` (as :func:`jrnn.rnn`, :func:`jrnn.gru`)."""

    def __call__(
        self,
        x: jax.Array,
        h0: jax.Array | None = None,
        *,
        lengths: jax.Array | None = None,
        deterministic: bool | None = None,
        rngs: nnx.Rngs | nnx.RngStream | jax.Array | None = None,
    ) -> tuple[jax.Array, jax.Array]:
        """Run the network, exactly torch's ``forward``; see :meth:`LSTM.__call__`."""
        return super().__call__(x, h0, lengths=lengths, deterministic=deterministic, rngs=rngs)


class RNN(_OneState):
    """``torch.nn.RNN`` as an NNX module with one ``nnx.Param`` per ``state_dict()`` key.

    The params ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` (and
    ``..._reverse`` twins) are drawn as :func:`jrnn.init_rnn` draws them, from
    U(-1/sqrt(H), 1/sqrt(H)) as torch does. Dropout follows ``nnx.Dropout``: on while
    ``deterministic`` is ``False`` (the default, as a fresh torch module trains), switched by
    ``model.train()`` / ``model.eval()`` (or ``nnx.view``), its keys drawn from a ``"dropout"``
    stream forked from ``rngs`` at construction. ``model(x, h0=None, *, lengths=None,
    deterministic=None, rngs=None)`` returns ``(output, h_n)`` as :func:`jrnn.rnn`.

    Shapes:
        As :func:`jrnn.rnn`: ``x`` ``(L, N, H_in)``, ``(N, L, H_in)`` if ``batch_first``, or
        unbatched ``(L, H_in)``; ``h0`` and ``h_n`` ``(S, N, H)`` or ``(S, H)``, ``S = D *
        num_layers``; ``output`` ``(L, N, D*H)`` (``(N, L, D*H)`` if ``batch_first``).

    Args:
        input_size: ``H_in``.
        hidden_size: ``H``.
        num_layers: stacked layers.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        **options: keyword-only, as :class:`LSTM`: ``bias``, ``batch_first``, ``dropout``,
            ``bidirectional``, ``dtype``, ``param_dtype``, ``unroll``, ``precision``,
            ``checkpoint_every``, ``deterministic``, and ``rngs`` (required).

    Raises:
        ValueError: a size not an integer >= 1, an unknown nonlinearity, dropout outside
            ``[0, 1]``.
        TypeError: ``dtype`` or ``param_dtype`` not floating.

    Example:
        >>> import jax.numpy as jnp, jrnn.nnx
        >>> from flax import nnx
        >>> model = jrnn.nnx.RNN(3, 4, num_layers=2, rngs=nnx.Rngs(0))
        >>> sorted(k[0] for k, _ in nnx.to_flat_state(nnx.state(model, nnx.Param)))
        ... # doctest: +NORMALIZE_WHITESPACE
        ['bias_hh_l0', 'bias_hh_l1', 'bias_ih_l0', 'bias_ih_l1',
         'weight_hh_l0', 'weight_hh_l1', 'weight_ih_l0', 'weight_ih_l1']
        >>> output, h_n = model(jnp.ones((7, 2, 3), jnp.float32))
        >>> output.shape, h_n.shape
        ((7, 2, 4), (2, 2, 4))
        >>> same = jrnn.nnx.RNN.from_params(model.to_params(), rngs=nnx.Rngs(1))

    """

    torch_module = _wrappers.RNN

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        nonlinearity: str = "tanh",
        **options,
    ):
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, **options)


class LSTM(_Network):
    """``torch.nn.LSTM`` (``proj_size`` included) as an NNX module, one ``nnx.Param`` per key.

    The params ``weight_ih_l{k} (4H, H_in)``, ``weight_hh_l{k} (4H, P)``, ``bias_ih_l{k}``,
    ``bias_hh_l{k}`` and, with a projection, ``weight_hr_l{k} (P, H)`` (and ``..._reverse``
    twins) are drawn as :func:`jrnn.init_lstm` draws them. Dropout follows ``nnx.Dropout``, as
    in :class:`RNN`. ``model(x, state=None, *, lengths=None, deterministic=None, rngs=None)``
    returns ``(output, (h_n, c_n))`` as :func:`jrnn.lstm`.

    Shapes:
        As :func:`jrnn.lstm`, ``P = proj_size or H``: ``h0``/``h_n`` ``(S, N, P)``,
        ``c0``/``c_n`` ``(S, N, H)``; ``output`` ``(L, N, D*P)``.

    Args:
        input_size: ``H_in``.
        hidden_size: ``H``.
        num_layers: stacked layers.
        bias: whether the layers have ``bias_ih``/``bias_hh``.
        batch_first: ``x`` and ``output`` are ``(N, L, ...)``.
        dropout: probability of zeroing each output element of every layer but the last.
        bidirectional: add a reverse direction to every layer.
        proj_size: ``P``: project ``h`` to this size (0: no projection), as torch.
        dtype: the computation's dtype; ``None`` promotes the inputs and params, as flax does.
        param_dtype: the dtype params are created and stored in.
        unroll: time steps per scan iteration (:func:`jrnn.lstm`).
        precision: passed to every matmul.
        checkpoint_every: recompute states in segments of this length for the backward pass;
            ``None`` keeps them all.
        deterministic: start with dropout off (eval mode).
        rngs: ``nnx.Rngs``; the ``"params"`` stream initialises the weights, the ``"dropout"``
            stream (forked only when ``dropout > 0``) draws the dropout masks. Both fall back to
            ``"default"``.

    Raises:
        ValueError: a size not an integer >= 1, dropout outside ``[0, 1]``, a ``proj_size``
            torch refuses.
        TypeError: ``dtype`` or ``param_dtype`` not floating.

    Example:
        >>> import jax.numpy as jnp, jrnn.nnx
        >>> from flax import nnx
        >>> model = jrnn.nnx.LSTM(3, 4, proj_size=2, rngs=nnx.Rngs(0))
        >>> output, (h_n, c_n) = model(jnp.ones((7, 5, 3), jnp.float32))
        >>> output.shape, h_n.shape, c_n.shape
        ((7, 5, 2), (1, 5, 2), (1, 5, 4))
        >>> list(model.to_params())  # doctest: +NORMALIZE_WHITESPACE
        ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0', 'weight_hr_l0']

    """

    torch_module = _wrappers.LSTM


class GRU(_OneState):
    """``torch.nn.GRU`` as an NNX module with one ``nnx.Param`` per ``state_dict()`` key.

    As :class:`LSTM` with gates ``r, z, n`` (``weight_ih_l{k}`` is ``(3H, H_in)``) and one
    state: ``model(x, h0=None, *, lengths=None, deterministic=None, rngs=None)`` returns
    ``(output, h_n)`` as :func:`jrnn.gru`. ``proj_size`` other than 0 is refused, as torch does.

    Shapes:
        As :class:`RNN`.

    Args:
        input_size: ``H_in``.
        hidden_size: ``H``.
        num_layers: stacked layers.
        **options: keyword-only, as :class:`LSTM`.

    Example:
        >>> import jax.numpy as jnp, jrnn.nnx
        >>> from flax import nnx
        >>> model = jrnn.nnx.GRU(3, 4, 2, dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
        >>> output, h_n = model(jnp.ones((7, 5, 3), jnp.float32))
        >>> output.dtype, model.weight_hh_l1.get_value().dtype, h_n.shape
        (dtype(bfloat16), dtype('float32'), (2, 5, 4))

    """

    torch_module = _wrappers.GRU


class _Cell(_Wrapper):
    """What ``RNNCell``, ``LSTMCell`` and ``GRUCell`` share."""

    _sizes = ("input_size", "hidden_size", "bias")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        bias: bool = True,
        dtype: Any = None,
        param_dtype: Any = jnp.float32,
        precision: Any = None,
        rngs: nnx.Rngs,
    ):
        kind = self.torch_module
        check_options(
            f"jrnn.nnx.{kind.name}",
            kind,
            {"input_size": input_size, "hidden_size": hidden_size},
            {},  # torch's cells read bias as a flag: no type check
            dtype=dtype,
            param_dtype=param_dtype,
            nonlinearity=getattr(self, "nonlinearity", "tanh"),  # set first by the Elman cell
        )
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.dtype, self.param_dtype, self.precision = dtype, param_dtype, precision
        self._hold(rngs)

    def _layout(self) -> dict[str, tuple[int, ...]]:
        return self.torch_module.layout(self.input_size, self.hidden_size, self.bias)

    @staticmethod
    def _read(fn: str, params: object, family: str) -> RNNConfig:
        return cell_config(fn, params, family)

    @staticmethod
    def _built_from(config: RNNConfig) -> dict[str, object]:
        return {"bias": config.bias}

    def __call__(self, x_t: jax.Array, state: Any = None) -> Any:
        """One step, exactly torch's cell ``forward`` (see :func:`jrnn.lstm_cell_step`).

        Args:
            x_t: the input at one time step.
            state: ``h``, or LSTM's ``(h, c)``; ``None`` means zeros.

        Returns:
            The next ``h``, or LSTM's ``(h, c)``, in the compute dtype.

        Raises:
            ValueError: every error of the core function.
            TypeError: every error of the core function.

        """
        return run(
            f"jrnn.nnx.{self.torch_module.name}",
            self.torch_module,
            self.to_params(),
            x_t,
            state,
            dtype=self.dtype,
            nonlinearity=getattr(self, "nonlinearity", "tanh"),
            precision=self.precision,
        )


class RNNCell(_Cell):
    """``torch.nn.RNNCell`` as an NNX module with one ``nnx.Param`` per ``state_dict()`` key.

    ::

        h_next = f(x_t @ W_ih.T + b_ih + h @ W_hh.T + b_hh),   f = tanh or relu

    ``cell(x_t, h=None)`` returns the next ``h`` as :func:`jrnn.cell_step`.

    Shapes:
        ``weight_ih (H, H_in)``, ``weight_hh (H, H)``, ``bias_ih (H,)``, ``bias_hh (H,)``.
        ``x_t``: ``(N, H_in)`` or ``(H_in,)``. ``h`` and the result: ``(N, H)`` or ``(H,)``.

    Args:
        input_size: ``H_in``.
        hidden_size: ``H``.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        **options: keyword-only, as :class:`LSTMCell`: ``bias``, ``dtype``, ``param_dtype``,
            ``precision``, and ``rngs`` (required).

    Raises:
        ValueError: a size not an integer >= 1, an unknown nonlinearity.
        TypeError: ``dtype`` or ``param_dtype`` not floating.

    Example:
        >>> import jax.numpy as jnp, jrnn.nnx
        >>> from flax import nnx
        >>> cell = jrnn.nnx.RNNCell(3, 4, rngs=nnx.Rngs(0))
        >>> cell(jnp.ones((2, 3), jnp.float32)).shape
        (2, 4)
        >>> {k: v.shape for k, v in cell.to_params().items()}
        {'weight_ih': (4, 3), 'weight_hh': (4, 4), 'bias_ih': (4,), 'bias_hh': (4,)}

    """

    torch_module = _wrappers.RNN_CELL

    def __init__(self, input_size: int, hidden_size: int, *, nonlinearity="tanh", **options):
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, **options)

    def __call__(self, x_t: jax.Array, h: jax.Array | None = None) -> jax.Array:
        """One step, exactly ``torch.nn.RNNCell.forward`` (see :func:`jrnn.cell_step`)."""
        return super().__call__(x_t, h)


class LSTMCell(_Cell):
    """``torch.nn.LSTMCell`` as an NNX module with one ``nnx.Param`` per ``state_dict()`` key.

    ``cell(x_t, state=None)`` maps ``(x_t, (h, c))`` to the next ``(h, c)`` as
    :func:`jrnn.lstm_cell_step`; params ``weight_ih (4H, H_in)``, ``weight_hh (4H, H)``,
    ``bias_ih (4H,)``, ``bias_hh (4H,)``.

    Shapes:
        ``x_t``: ``(N, H_in)`` or ``(H_in,)``; ``h``, ``c``: ``(N, H)`` or ``(H,)``.

    Args:
        input_size: ``H_in``.
        hidden_size: ``H``.
        bias: whether the cell has ``bias_ih``/``bias_hh``.
        dtype: the computation's dtype; ``None`` promotes the inputs and params, as flax does.
        param_dtype: the dtype params are created and stored in.
        precision: passed to every matmul.
        rngs: ``nnx.Rngs``; its ``"params"`` stream (or ``"default"``) initialises the weights
            from U(-1/sqrt(H), 1/sqrt(H)), as torch does.

    Raises:
        ValueError: a size not an integer >= 1.
        TypeError: ``dtype`` or ``param_dtype`` not floating.

    Example:
        >>> import jax.numpy as jnp, jrnn.nnx
        >>> from flax import nnx
        >>> cell = jrnn.nnx.LSTMCell(3, 4, rngs=nnx.Rngs(0))
        >>> h, c = cell(jnp.ones((2, 3), jnp.float32))
        >>> h.shape, c.shape
        ((2, 4), (2, 4))

    """

    torch_module = _wrappers.LSTM_CELL


class GRUCell(_Cell):
    """``torch.nn.GRUCell`` as an NNX module with one ``nnx.Param`` per ``state_dict()`` key.

    ``cell(x_t, h=None)`` returns the next ``h`` as :func:`jrnn.gru_cell_step`; params
    ``weight_ih (3H, H_in)``, ``weight_hh (3H, H)``, ``bias_ih (3H,)``, ``bias_hh (3H,)``.

    Shapes:
        ``x_t``: ``(N, H_in)`` or ``(H_in,)``; ``h``: ``(N, H)`` or ``(H,)``.

    Args:
        input_size: ``H_in``.
        hidden_size: ``H``.
        **options: keyword-only, as :class:`LSTMCell`.

    Example:
        >>> import jax.numpy as jnp, jrnn.nnx
        >>> from flax import nnx
        >>> cell = jrnn.nnx.GRUCell(3, 4, rngs=nnx.Rngs(0))
        >>> cell(jnp.ones((3,), jnp.float32)).shape
        (4,)

    """

    torch_module = _wrappers.GRU_CELL

    def __call__(self, x_t: jax.Array, h: jax.Array | None = None) -> jax.Array:
        """One step, exactly ``torch.nn.GRUCell.forward`` (see :func:`jrnn.gru_cell_step`)."""
        return super().__call__(x_t, h)
