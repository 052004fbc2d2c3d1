"""``torch.nn.RNN.forward`` as a pure function: layers, directions, lengths and dropout."""

import functools

import jax
import jax.numpy as jnp
from jax import lax

from . import _inputs, _nonlinearity
from ._params import rnn_config, suffix
from ._scan import scan_layer, scan_layer_in_segments


def rnn(
    params: dict[str, jax.Array],
    x: jax.Array,
    h0: jax.Array | None = None,
    *,
    nonlinearity: str = "tanh",
    batch_first: bool = False,
    lengths: jax.Array | None = None,
    dropout: float = 0.0,
    key: jax.Array | None = None,
    unroll: int = 1,
    precision=None,
    checkpoint_every: int | None = None,
    scan_layers: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """A multi-layer Elman RNN, exactly ``torch.nn.RNN.forward``.

    Every layer and direction computes ``h_t = f(x_t @ W_ih.T + b_ih + h_{t-1} @ W_hh.T + b_hh)``
    with ``f`` tanh or relu; layer ``k > 0`` reads the (dropped-out) outputs of layer ``k-1``.
    The number of layers, directions, bias and sizes are read from the params.

    Shapes:
        ``L`` time, ``N`` batch, ``H_in`` input features, ``H`` hidden, ``D`` directions,
        ``S = D * num_layers``.
        ``x``: ``(L, N, H_in)``, ``(N, L, H_in)`` if ``batch_first``, or unbatched ``(L, H_in)``.
        ``h0`` and ``h_n``: ``(S, N, H)`` (also when ``batch_first``) or unbatched ``(S, H)``;
        entry ``layer * D + direction``.
        ``output``: ``(L, N, D*H)`` (``(N, L, D*H)`` if ``batch_first``, ``(L, D*H)`` unbatched),
        forward then reverse features along the last axis.
        ``lengths``: ``(N,)`` integers, or a scalar for unbatched ``x``.

    Args:
        params: ``torch.nn.RNN(...).state_dict()`` as arrays, e.g. from :func:`jrnn.init_rnn`.
        x: the input sequence, in the params' dtype.
        h0: the initial state; ``None`` means zeros.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        batch_first: ``x`` and ``output`` are ``(N, L, ...)``.
        lengths: row ``i`` is valid for its first ``lengths[i]`` steps, as
            ``pack_padded_sequence(x, lengths, enforce_sorted=False)`` then
            ``pad_packed_sequence(total_length=L)``: outputs past a row's length are 0, ``h_n``
            holds the state at its last valid step, the reverse direction starts there, and
            nothing in the padding reaches any output or gradient. Concrete lengths must lie in
            ``[0, L]``; traced ones (under ``jit``/``vmap``) are clipped to it.
        dropout: probability of zeroing each element of every layer's output but the last,
            per time step, kept values scaled by ``1/(1-p)``. Applied only when ``key`` is given.
        key: a ``jax.random`` key for dropout; ``None`` is deterministic (torch's eval mode).
        unroll: time steps per scan iteration.
        precision: passed to every matmul (``jax.lax.Precision``), e.g. ``"highest"``.
        checkpoint_every: for very long sequences, keep only every ``checkpoint_every``-th state
            for the backward pass and recompute the rest, segment by segment: training memory
            inside each layer drops from ``O(L)`` to ``O(L/k + k)`` states for about one extra
            forward pass. ``None`` (default) keeps the whole state sequence.
        scan_layers: run layers 1..n-1 as one ``lax.scan`` over their stacked params instead of
            a Python loop: the compiled program stops growing with ``num_layers`` (faster first
            call for deep stacks), at some cost in steady-state speed (see the README).

    Returns:
        ``(output, h_n)``.

    Raises:
        ValueError: params that are not an RNN state_dict; x, h0 or lengths of the wrong shape;
            lengths out of range; unknown nonlinearity; dropout outside ``[0, 1)``.
        TypeError: x or h0 not in the params' dtype, lengths not integer.

    Example:
        >>> import jax, jax.numpy as jnp, jrnn
        >>> params = jrnn.init_rnn(jax.random.key(0), input_size=100, hidden_size=10, num_layers=2)
        >>> x = jnp.ones((8, 5, 100), jnp.float32)
        >>> h0 = jnp.zeros((2, 5, 10), jnp.float32)
        >>> out, h_t = jrnn.rnn(params, x, h0)
        >>> out.shape, h_t.shape
        ((8, 5, 10), (2, 5, 10))
    """
    fn = "jrnn.rnn"
    config = rnn_config(fn, params)
    _nonlinearity.check(fn, nonlinearity)
    dropout = _inputs.dropout_rate(fn, dropout)
    _inputs.random_key(fn, key)
    _inputs.positive_int(fn, "unroll", unroll)
    if checkpoint_every is not None:
        _inputs.positive_int(fn, "checkpoint_every", checkpoint_every)
    x, unbatched = _inputs.sequence(fn, x, config, batch_first)  # (L, N, H_in)
    seq_len, batch_size = x.shape[:2]
    h0 = _inputs.initial_state(fn, h0, config, batch_size, unbatched)  # (S, N, H)
    mask = _inputs.valid_steps(fn, lengths, seq_len, batch_size, unbatched)  # (L, N) or None
    if mask is not None:
        x = jnp.where(mask[..., None], x, 0)  # padding never reaches a value or a gradient

    run_layer = functools.partial(
        _run_layer,
        mask=mask,
        dropout=dropout,
        checkpoint_every=checkpoint_every,
        nonlinearity=nonlinearity,
        unroll=unroll,
        precision=precision,
    )
    num_layers, directions = config.num_layers, config.num_directions
    h0 = h0.reshape(num_layers, directions, *h0.shape[1:])  # (layers, D, N, H)
    dropout_keys = None  # (layers,) keys: layer k > 0 drops its input with fold_in(key, k)
    if key is not None and dropout > 0:
        dropout_keys = jax.vmap(lambda k: jax.random.fold_in(key, k))(jnp.arange(num_layers))
    output, h_n = run_layer(_layer_params(params, 0), x, h0[0], None)
    h_n = [h_n]  # (D, N, H) per layer
    if scan_layers and num_layers > 1:
        # Layers 1..n-1 share their shapes: one scan over their stacked params.
        stacked = jax.tree.map(
            lambda *p: jnp.stack(p), *[_layer_params(params, k) for k in range(1, num_layers)]
        )
        keys = None if dropout_keys is None else dropout_keys[1:]

        def next_layer(layer_input, inputs):
            layer_params, layer_h0, layer_key = inputs
            return run_layer(layer_params, layer_input, layer_h0, layer_key)

        output, h_rest = lax.scan(next_layer, output, (stacked, h0[1:], keys))
        h_n.append(h_rest.reshape((num_layers - 1) * directions, *h_rest.shape[2:]))
    else:
        for k in range(1, num_layers):
            layer_key = None if dropout_keys is None else dropout_keys[k]
            output, h_layer = run_layer(_layer_params(params, k), output, h0[k], layer_key)
            h_n.append(h_layer)
    h_n = jnp.concatenate(h_n)  # (S, N, H), entry layer*D + direction
    if unbatched:
        return output[:, 0], h_n[:, 0]
    if batch_first:
        output = jnp.swapaxes(output, 0, 1)  # (N, L, D*H)
    return output, h_n


def _layer_params(params, layer):
    """The params of one layer, ``_l{layer}`` dropped from their names: ``weight_ih_reverse``."""
    tag = f"_l{layer}"
    return {
        name.replace(tag, "", 1): value
        for name, value in params.items()
        if name.endswith(tag) or name.endswith(tag + "_reverse")
    }


def _run_layer(params, x, h0, dropout_key, *, mask, dropout, checkpoint_every, **step_config):
    """One layer, all directions: input dropout (given a ``dropout_key``), one scan per direction.

    Shapes:
        ``x``: ``(L, N, H_in)`` for this layer. ``h0``: ``(D, N, H)``.
        Returns ``output (L, N, D*H)`` and ``h_n (D, N, H)``.
    """
    if dropout_key is not None:
        x = _dropout(dropout_key, x, dropout)
    outputs, h_n = [], []
    for direction in range(h0.shape[0]):
        name = suffix(direction)
        w_ih, w_hh = params[f"weight_ih{name}"], params[f"weight_hh{name}"]
        bias = None
        if f"bias_ih{name}" in params:
            bias = params[f"bias_ih{name}"] + params[f"bias_hh{name}"]  # (H,): one add per step
        config = dict(step_config, reverse=bool(direction))
        if checkpoint_every is None:
            # One GEMM over all L*N rows, hoisted out of the time loop.
            xp = jnp.matmul(x, w_ih.T, precision=config["precision"])  # (L, N, H)
            ys, h_last = scan_layer(xp, bias, w_hh, h0[direction], mask, **config)
        else:
            ys, h_last = scan_layer_in_segments(
                x, w_ih, bias, w_hh, h0[direction], mask, segment=checkpoint_every, **config
            )
        outputs.append(ys)
        h_n.append(h_last)
    return jnp.concatenate(outputs, axis=-1), jnp.stack(h_n)


def _dropout(key: jax.Array, x: jax.Array, rate: float) -> jax.Array:
    """Zero each element with probability ``rate`` and scale the rest by ``1/(1-rate)``."""
    keep = jax.random.bernoulli(key, 1 - rate, x.shape)  # per element and time step
    return jnp.where(keep, x / (1 - rate), 0)
