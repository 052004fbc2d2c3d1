"""``torch.nn.RNN`` and ``torch.nn.RNNCell`` as Flax linen modules.

``variables["params"]`` of either module is the torch ``state_dict()``: torch's keys, in torch's
order, with torch's shapes and initialisation. So torch weights drop in as they are, and the
params go back to torch (or to a safetensors file) unchanged. The modules only declare those
params and call :func:`jrnn.rnn` / :func:`jrnn.cell_step`; ``import jrnn.linen`` needs flax.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from . import _errors, _inputs, _nonlinearity
from ._cell import cell_step
from ._init import check_init_args, torch_uniform
from ._params import cell_layout, rnn_layout
from ._rnn import rnn


def _declare(
    module: nn.Module, fn: str, kind: str, layout: dict[str, tuple[int, ...]]
) -> dict[str, jax.Array]:
    """Declare one param per torch key, in torch's order, and return them as a params dict.

    Params handed to ``apply`` must hold exactly the module's keys, as torch's
    ``load_state_dict(strict=True)`` asks: flax alone would ignore extra ones (another layer,
    a reverse direction) and run a smaller network than the params describe.
    """
    if not module.is_initializing():
        given = {k: tuple(v.shape) for k, v in module.variables.get("params", {}).items()}
        missing = {k: shape for k, shape in layout.items() if k not in given}
        unexpected = {k: shape for k, shape in given.items() if k not in layout}
        if missing or unexpected:
            raise _errors.params_mismatch(fn, kind, missing, unexpected, {})
    init = torch_uniform(module.hidden_size)
    return {name: module.param(name, init, shape, module.dtype) for name, shape in layout.items()}


def _input_size(module: nn.Module, first_weight: str, x: jax.Array) -> int:
    """``H_in``: read from ``x`` at ``init``, from the existing params afterwards.

    Reading it from the params lets :func:`jrnn.rnn` report a mis-shaped ``x`` in its own terms
    (with the ``batch_first`` hint) rather than as a param shape mismatch.
    """
    if module.has_variable("params", first_weight):
        return module.get_variable("params", first_weight).shape[1]
    return x.shape[-1]


def _as_array(fn: str, arg: str, value: Any, ranks: tuple[int, ...], legend: str) -> jax.Array:
    value = value if hasattr(value, "shape") else jnp.asarray(value)
    if value.ndim not in ranks:
        raise _errors.flax_x_rank(fn, arg, legend, tuple(value.shape))
    return value


class RNN(nn.Module):
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
        dtype: the floating dtype of the params; ``x`` and ``h0`` must match it.
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

    hidden_size: int
    num_layers: int = 1
    nonlinearity: str = "tanh"
    bias: bool = True
    batch_first: bool = False
    dropout: float = 0.0
    bidirectional: bool = False
    dtype: Any = jnp.float32
    unroll: int = 1
    precision: Any = None
    checkpoint_every: int | None = None

    @nn.compact
    def __call__(
        self,
        x: jax.Array,
        h0: jax.Array | None = None,
        *,
        lengths: jax.Array | None = None,
        deterministic: bool = True,
    ) -> tuple[jax.Array, jax.Array]:
        """Run the network, exactly ``torch.nn.RNN.forward`` (see :func:`jrnn.rnn`).

        Args:
            x: the input sequence, in ``dtype``.
            h0: the initial state; ``None`` means zeros.
            lengths: ``(N,)`` valid steps per sequence (a scalar for unbatched ``x``), as
                torch's packed sequences: outputs past a length are 0, ``h_n`` is the state at
                the last valid step.
            deterministic: ``True`` switches dropout off (torch's eval mode); ``False`` draws
                the dropout masks from the ``"dropout"`` rng.

        Returns:
            ``(output, h_n)``.

        Raises:
            ValueError: x not of rank 2 or 3, a size not an integer >= 1, an unknown
                nonlinearity, dropout outside ``[0, 1)``, and every error of :func:`jrnn.rnn`.
            TypeError: ``dtype`` not floating, and every error of :func:`jrnn.rnn`.

        """
        fn = "jrnn.linen.RNN"
        x = _as_array(fn, "x", x, (2, 3), "(L, N, H_in), (N, L, H_in) or unbatched (L, H_in)")
        sizes = {"hidden_size": self.hidden_size, "num_layers": self.num_layers}
        check_init_args(fn, sizes, self.dtype)
        _nonlinearity.check(fn, self.nonlinearity)
        dropout = _inputs.dropout_rate(fn, self.dropout)
        layout = rnn_layout(
            _input_size(self, "weight_ih_l0", x),
            self.hidden_size,
            self.num_layers,
            self.bias,
            self.bidirectional,
        )
        params = _declare(self, fn, "RNN", layout)
        key = None
        if dropout > 0 and not deterministic:
            key = self.make_rng("dropout")
        return rnn(
            params,
            x,
            h0,
            nonlinearity=self.nonlinearity,
            batch_first=self.batch_first,
            lengths=lengths,
            dropout=dropout,
            key=key,
            unroll=self.unroll,
            precision=self.precision,
            checkpoint_every=self.checkpoint_every,
        )


class RNNCell(nn.Module):
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
        dtype: the floating dtype of the params; ``x_t`` and ``h`` must match it.
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

    hidden_size: int
    bias: bool = True
    nonlinearity: str = "tanh"
    dtype: Any = jnp.float32
    precision: Any = None

    @nn.compact
    def __call__(self, x_t: jax.Array, h: jax.Array | None = None) -> jax.Array:
        """One step, exactly ``torch.nn.RNNCell.forward`` (see :func:`jrnn.cell_step`).

        Args:
            x_t: the input at one time step, in ``dtype``.
            h: the previous hidden state; ``None`` means zeros.

        Returns:
            The next hidden state, shaped like ``h``.

        Raises:
            ValueError: x_t not of rank 1 or 2, hidden_size not an integer >= 1, an unknown
                nonlinearity, and every error of :func:`jrnn.cell_step`.
            TypeError: ``dtype`` not floating, and every error of :func:`jrnn.cell_step`.

        """
        fn = "jrnn.linen.RNNCell"
        x_t = _as_array(fn, "x_t", x_t, (1, 2), "(N, H_in) or unbatched (H_in,)")
        check_init_args(fn, {"hidden_size": self.hidden_size}, self.dtype)
        _nonlinearity.check(fn, self.nonlinearity)
        layout = cell_layout(_input_size(self, "weight_ih", x_t), self.hidden_size, self.bias)
        params = _declare(self, fn, "RNNCell", layout)
        return cell_step(params, x_t, h, nonlinearity=self.nonlinearity, precision=self.precision)
