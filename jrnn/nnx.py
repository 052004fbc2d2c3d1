"""``torch.nn.RNN`` and ``torch.nn.RNNCell`` as Flax NNX modules.

Each torch parameter is one ``nnx.Param`` attribute under torch's name, so the flat paths of
``nnx.state(model, nnx.Param)`` are exactly the keys of torch's ``state_dict()``. Weights move in
and out in one call each: ``RNN.from_params(params, rngs=...)`` builds a model around a params
dict (from :func:`jrnn.init_rnn`, torch or a safetensors file), ``model.load_params(params)``
overwrites a model's weights, ``model.to_params()`` returns them as a params dict. The modules
only hold the params and call :func:`jrnn.rnn` / :func:`jrnn.cell_step`; ``import jrnn.nnx``
needs flax.
"""

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from . import _errors, _inputs, _nonlinearity
from ._cell import cell_step
from ._init import check_init_args, init_rnn, init_rnn_cell
from ._params import RNNConfig, cell_config, cell_layout, rnn_config, rnn_layout
from ._rnn import rnn

_RNN_SIZES = ("input_size", "hidden_size", "num_layers", "bias", "bidirectional")
_CELL_SIZES = ("input_size", "hidden_size", "bias")


def _declare(module: nnx.Module, params: Mapping[str, jax.Array]) -> None:
    """Hold each entry of ``params`` as an ``nnx.Param`` attribute named by its torch key."""
    for name, value in params.items():
        setattr(module, name, nnx.Param(value))


def _collect(module: nnx.Module, names: Mapping[str, Any]) -> dict[str, jax.Array]:
    """Return the current values of the ``nnx.Param`` attributes ``names``, as a params dict."""
    return {name: getattr(module, name).get_value() for name in names}


def _load(fn: str, module: nnx.Module, params: Mapping, config: RNNConfig, sizes: tuple) -> None:
    """Overwrite ``module``'s params after checking that ``params`` describe the same network."""
    expected = {size: getattr(module, size) for size in sizes}
    described = {size: getattr(config, size) for size in sizes}
    if expected != described:
        raise _errors.params_do_not_fit(fn, expected, described)
    if config.dtype != module.dtype:
        raise _errors.params_dtype_does_not_fit(fn, config.dtype, module.dtype)
    for name, value in params.items():
        getattr(module, name).set_value(jnp.asarray(value))


def _dropout_key(fn: str, module: "RNN", deterministic: bool | None, rngs: Any) -> jax.Array | None:
    """Return the dropout key for one call, drawn as ``nnx.Dropout`` draws it; ``None`` when off."""
    if deterministic is None:
        deterministic = module.deterministic
    if deterministic or module.dropout == 0:
        return None
    rngs = module.rngs if rngs is None else rngs
    if rngs is None:
        raise _errors.dropout_rng_missing(fn, module.dropout)
    if isinstance(rngs, nnx.Rngs):
        return rngs["dropout"]()
    if isinstance(rngs, nnx.RngStream):
        return rngs()
    if isinstance(rngs, jax.Array):
        return rngs
    raise _errors.dropout_rngs_type(fn, rngs)


class RNN(nnx.Module):
    """``torch.nn.RNN`` as an NNX module with one ``nnx.Param`` per ``state_dict()`` key.

    The params ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` (and
    ``..._reverse`` twins) are drawn as :func:`jrnn.init_rnn` draws them, from
    U(-1/sqrt(H), 1/sqrt(H)) as torch does. Dropout follows ``nnx.Dropout``: on while
    ``deterministic`` is ``False`` (the default, as a fresh torch module trains), switched by
    ``model.train()`` / ``model.eval()`` (or ``nnx.view``), its keys drawn from a ``"dropout"``
    stream forked from ``rngs`` at construction.

    Shapes:
        As :func:`jrnn.rnn`: ``x`` ``(L, N, H_in)``, ``(N, L, H_in)`` if ``batch_first``, or
        unbatched ``(L, H_in)``; ``h0`` and ``h_n`` ``(S, N, H)`` or ``(S, H)``, ``S = D *
        num_layers``; ``output`` ``(L, N, D*H)`` (``(N, L, D*H)`` if ``batch_first``).

    Args:
        input_size: ``H_in``.
        hidden_size: ``H``.
        num_layers: stacked layers.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        bias: whether the layers have ``bias_ih``/``bias_hh``.
        batch_first: ``x`` and ``output`` are ``(N, L, ...)``.
        dropout: probability of zeroing each output element of every layer but the last.
        bidirectional: add a reverse direction to every layer.
        dtype: the floating dtype of the params; ``x`` and ``h0`` must match it.
        unroll: time steps per scan iteration (:func:`jrnn.rnn`).
        precision: passed to every matmul (:func:`jrnn.rnn`).
        checkpoint_every: recompute states in segments of this length for the backward pass
            (:func:`jrnn.rnn`); ``None`` keeps them all.
        deterministic: start with dropout off (eval mode).
        rngs: ``nnx.Rngs``; the ``"params"`` stream initialises the weights, the ``"dropout"``
            stream (forked only when ``dropout > 0``) draws the dropout masks. Both fall back to
            ``"default"``.

    Raises:
        ValueError: a size not an integer >= 1, an unknown nonlinearity, dropout outside
            ``[0, 1)``.
        TypeError: ``dtype`` not floating.

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

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        *,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype: Any = jnp.float32,
        unroll: int = 1,
        precision: Any = None,
        checkpoint_every: int | None = None,
        deterministic: bool = False,
        rngs: nnx.Rngs,
    ):
        fn = "jrnn.nnx.RNN"
        sizes = {"input_size": input_size, "hidden_size": hidden_size, "num_layers": num_layers}
        check_init_args(fn, sizes, dtype)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.bidirectional = bias, bidirectional
        self.dtype = jnp.dtype(dtype)
        self.nonlinearity = _nonlinearity.check(fn, nonlinearity)
        self.batch_first = batch_first
        self.dropout = _inputs.dropout_rate(fn, dropout)
        self.unroll, self.precision = unroll, precision
        self.checkpoint_every = checkpoint_every
        self.deterministic = deterministic
        _declare(
            self,
            init_rnn(rngs.params(), **sizes, bias=bias, bidirectional=bidirectional, dtype=dtype),
        )
        self.rngs = rngs["dropout"].fork() if self.dropout > 0 else None

    def __call__(
        self,
        x: jax.Array,
        h0: jax.Array | None = None,
        *,
        lengths: jax.Array | None = None,
        deterministic: bool | None = None,
        rngs: nnx.Rngs | nnx.RngStream | jax.Array | None = None,
    ) -> tuple[jax.Array, jax.Array]:
        """Run the network, exactly ``torch.nn.RNN.forward`` (see :func:`jrnn.rnn`).

        Args:
            x: the input sequence, in ``dtype``.
            h0: the initial state; ``None`` means zeros.
            lengths: ``(N,)`` valid steps per sequence (a scalar for unbatched ``x``), as
                torch's packed sequences: outputs past a length are 0, ``h_n`` is the state at
                the last valid step.
            deterministic: overrides the ``deterministic`` attribute for this call.
            rngs: overrides the stored ``"dropout"`` stream for this call: an ``nnx.Rngs``
                (its ``"dropout"`` stream), an ``nnx.RngStream`` or a ``jax.random`` key.

        Returns:
            ``(output, h_n)``.

        Raises:
            ValueError: dropout is on but there is no stream to draw from, and every error of
                :func:`jrnn.rnn`.
            TypeError: ``rngs`` of another type, and every error of :func:`jrnn.rnn`.

        """
        key = _dropout_key("jrnn.nnx.RNN", self, deterministic, rngs)
        return rnn(
            self.to_params(),
            x,
            h0,
            nonlinearity=self.nonlinearity,
            batch_first=self.batch_first,
            lengths=lengths,
            dropout=self.dropout,
            key=key,
            unroll=self.unroll,
            precision=self.precision,
            checkpoint_every=self.checkpoint_every,
        )

    def set_view(self, deterministic: bool | None = None) -> None:
        """Set ``deterministic`` for ``nnx.view(model, deterministic=...)``, as ``nnx.Dropout``."""
        if deterministic is not None:
            self.deterministic = deterministic

    def to_params(self) -> dict[str, jax.Array]:
        """Return the weights as a params dict for :func:`jrnn.rnn`, in torch's order."""
        layout = rnn_layout(
            self.input_size, self.hidden_size, self.num_layers, self.bias, self.bidirectional
        )
        return _collect(self, layout)

    def load_params(self, params: Mapping[str, jax.Array]) -> None:
        """Overwrite the weights with ``params`` (a ``torch.nn.RNN`` state_dict of arrays).

        Raises:
            ValueError: params that are not an RNN state_dict, or that describe another network
                (other sizes, layers, bias or directions).
            TypeError: params not arrays, or of another dtype than the model's.

        """
        fn = "jrnn.nnx.RNN.load_params"
        _load(fn, self, params, rnn_config(fn, params), _RNN_SIZES)

    @classmethod
    def from_params(
        cls,
        params: Mapping[str, jax.Array],
        *,
        nonlinearity: str = "tanh",
        batch_first: bool = False,
        dropout: float = 0.0,
        unroll: int = 1,
        precision: Any = None,
        checkpoint_every: int | None = None,
        deterministic: bool = False,
        rngs: nnx.Rngs,
    ) -> "RNN":
        """Build a model holding ``params``, e.g. ``jrnn.from_torch(torch_rnn)``.

        Sizes, layers, bias, directions and dtype are read from the params; the other arguments
        are the constructor's.

        Raises:
            ValueError: params that are not an RNN state_dict, and the constructor's errors.
            TypeError: params not arrays of one floating dtype.

        """
        config = rnn_config("jrnn.nnx.RNN.from_params", params)
        model = cls(
            config.input_size,
            config.hidden_size,
            config.num_layers,
            nonlinearity=nonlinearity,
            bias=config.bias,
            batch_first=batch_first,
            dropout=dropout,
            bidirectional=config.bidirectional,
            dtype=config.dtype,
            unroll=unroll,
            precision=precision,
            checkpoint_every=checkpoint_every,
            deterministic=deterministic,
            rngs=rngs,
        )
        model.load_params(params)
        return model


class RNNCell(nnx.Module):
    """``torch.nn.RNNCell`` as an NNX module with one ``nnx.Param`` per ``state_dict()`` key.

    ::

        h_next = f(x_t @ W_ih.T + b_ih + h @ W_hh.T + b_hh),   f = tanh or relu

    Shapes:
        ``weight_ih (H, H_in)``, ``weight_hh (H, H)``, ``bias_ih (H,)``, ``bias_hh (H,)``.
        ``x_t``: ``(N, H_in)`` or ``(H_in,)``. ``h`` and the result: ``(N, H)`` or ``(H,)``.

    Args:
        input_size: ``H_in``.
        hidden_size: ``H``.
        bias: whether the cell has ``bias_ih``/``bias_hh``.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        dtype: the floating dtype of the params; ``x_t`` and ``h`` must match it.
        precision: passed to every matmul (:func:`jrnn.cell_step`).
        rngs: ``nnx.Rngs``; its ``"params"`` stream (or ``"default"``) initialises the weights
            from U(-1/sqrt(H), 1/sqrt(H)), as torch does.

    Raises:
        ValueError: a size not an integer >= 1, an unknown nonlinearity.
        TypeError: ``dtype`` not floating.

    Example:
        >>> import jax.numpy as jnp, jrnn.nnx
        >>> from flax import nnx
        >>> cell = jrnn.nnx.RNNCell(3, 4, rngs=nnx.Rngs(0))
        >>> cell(jnp.ones((2, 3), jnp.float32)).shape
        (2, 4)
        >>> {k: v.shape for k, v in cell.to_params().items()}
        {'weight_ih': (4, 3), 'weight_hh': (4, 4), 'bias_ih': (4,), 'bias_hh': (4,)}

    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        bias: bool = True,
        nonlinearity: str = "tanh",
        dtype: Any = jnp.float32,
        precision: Any = None,
        rngs: nnx.Rngs,
    ):
        fn = "jrnn.nnx.RNNCell"
        sizes = {"input_size": input_size, "hidden_size": hidden_size}
        check_init_args(fn, sizes, dtype)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        self.dtype = jnp.dtype(dtype)
        self.nonlinearity = _nonlinearity.check(fn, nonlinearity)
        self.precision = precision
        _declare(self, init_rnn_cell(rngs.params(), **sizes, bias=bias, dtype=dtype))

    def __call__(self, x_t: jax.Array, h: jax.Array | None = None) -> jax.Array:
        """One step, exactly ``torch.nn.RNNCell.forward`` (see :func:`jrnn.cell_step`).

        Args:
            x_t: the input at one time step, in ``dtype``.
            h: the previous hidden state; ``None`` means zeros.

        Returns:
            The next hidden state, shaped like ``h``.

        Raises:
            ValueError: every error of :func:`jrnn.cell_step`.
            TypeError: every error of :func:`jrnn.cell_step`.

        """
        return cell_step(
            self.to_params(), x_t, h, nonlinearity=self.nonlinearity, precision=self.precision
        )

    def to_params(self) -> dict[str, jax.Array]:
        """Return the weights as a params dict for :func:`jrnn.cell_step`, in torch's order."""
        return _collect(self, cell_layout(self.input_size, self.hidden_size, self.bias))

    def load_params(self, params: Mapping[str, jax.Array]) -> None:
        """Overwrite the weights with ``params`` (a ``torch.nn.RNNCell`` state_dict of arrays).

        Raises:
            ValueError: params that are not an RNNCell state_dict, or of other sizes or bias.
            TypeError: params not arrays, or of another dtype than the model's.

        """
        fn = "jrnn.nnx.RNNCell.load_params"
        _load(fn, self, params, cell_config(fn, params), _CELL_SIZES)

    @classmethod
    def from_params(
        cls,
        params: Mapping[str, jax.Array],
        *,
        nonlinearity: str = "tanh",
        precision: Any = None,
        rngs: nnx.Rngs,
    ) -> "RNNCell":
        """Build a cell holding ``params``; sizes, bias and dtype are read from the params.

        Raises:
            ValueError: params that are not an RNNCell state_dict, an unknown nonlinearity.
            TypeError: params not arrays of one floating dtype.

        """
        config = cell_config("jrnn.nnx.RNNCell.from_params", params)
        model = cls(
            config.input_size,
            config.hidden_size,
            bias=config.bias,
            nonlinearity=nonlinearity,
            dtype=config.dtype,
            precision=precision,
            rngs=rngs,
        )
        model.load_params(params)
        return model
