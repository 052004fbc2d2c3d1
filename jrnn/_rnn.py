"""``torch.nn.RNN``, ``LSTM`` and ``GRU`` forward as pure functions: one per kind, one driver.

Shared options (every function): ``batch_first``, ``lengths`` (PackedSequence semantics),
``dropout``/``key``, and the engine knobs ``unroll``, ``precision``, ``checkpoint_every``; see
:func:`rnn` for their meaning.
"""

import jax

from . import _cells, _driver, _nonlinearity
from ._params import check_jax_holds, rnn_config


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
            per time step, kept values scaled by ``1/(1-p)``; ``p = 1`` zeroes them all, as in
            torch. Applied only when ``key`` is given. Must be static under ``jit``.
        key: a ``jax.random`` key for dropout; ``None`` is deterministic (torch's eval mode).
        unroll: time steps per scan iteration.
        precision: passed to every matmul (``jax.lax.Precision``), e.g. ``"highest"``.
        checkpoint_every: for very long sequences, keep only every ``checkpoint_every``-th state
            for the backward pass and recompute the rest, segment by segment: training memory
            inside each layer drops from ``O(L)`` to ``O(L/k + k)`` states for about one extra
            forward pass. ``None`` (default) keeps the whole state sequence.

    Returns:
        ``(output, h_n)``.

    Raises:
        ValueError: params that are not an RNN state_dict; x, h0 or lengths of the wrong shape;
            lengths out of range; unknown nonlinearity; dropout outside ``[0, 1]``.
        TypeError: x or h0 not an array, or not in the params' dtype; lengths not integer; a
            traced option.

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
    config = rnn_config(fn, params, "RNN")
    check_jax_holds(fn, params, config)
    _nonlinearity.check(fn, nonlinearity)
    return _driver.run(
        fn,
        _cells.ELMAN[nonlinearity],
        config,
        params,
        x,
        h0,
        batch_first=batch_first,
        lengths=lengths,
        dropout=dropout,
        key=key,
        unroll=unroll,
        precision=precision,
        checkpoint_every=checkpoint_every,
    )


def lstm(
    params: dict[str, jax.Array],
    x: jax.Array,
    state: tuple[jax.Array, jax.Array] | None = None,
    *,
    batch_first: bool = False,
    lengths: jax.Array | None = None,
    dropout: float = 0.0,
    key: jax.Array | None = None,
    unroll: int = 1,
    precision=None,
    checkpoint_every: int | None = None,
) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    """A multi-layer LSTM, exactly ``torch.nn.LSTM.forward`` (``proj_size`` included).

    Every layer and direction computes, with gates stacked ``i, f, g, o`` in the weights::

        i, f, o = sigmoid(...), g = tanh(...)    of x_t @ W_ih.T + b_ih + h_{t-1} @ W_hh.T + b_hh
        c_t = f * c_{t-1} + i * g
        h_t = o * tanh(c_t)                      (times W_hr.T when proj_size P > 0)

    Shapes:
        As :func:`rnn`, with ``P = proj_size or H``: ``h0``/``h_n`` ``(S, N, P)``,
        ``c0``/``c_n`` ``(S, N, H)`` (``(S, ...)`` unbatched); ``output (L, N, D*P)``.

    Args:
        params: ``torch.nn.LSTM(...).state_dict()`` as arrays, e.g. from :func:`jrnn.init_lstm`.
        x: the input sequence, in the params' dtype.
        state: ``(h0, c0)``; ``None`` (or ``None`` for one of the two) means zeros.
        batch_first: ``x`` and ``output`` are ``(N, L, ...)``.
        lengths: as :func:`rnn`: ``h_n`` and ``c_n`` hold each row's last valid step.
        dropout: as :func:`rnn`.
        key: as :func:`rnn`.
        unroll: as :func:`rnn`.
        precision: as :func:`rnn`.
        checkpoint_every: as :func:`rnn`.

    Returns:
        ``(output, (h_n, c_n))``.

    Raises:
        ValueError: params that are not an LSTM state_dict (another kind's get a hint); x,
            state or lengths of the wrong shape; lengths out of range; dropout outside [0, 1].
        TypeError: ``state`` not a ``(h0, c0)`` pair; x or a state not an array, or not in the
            params' dtype; lengths not integer; a traced option.

    Example:
        >>> import jax, jax.numpy as jnp, jrnn
        >>> params = jrnn.init_lstm(jax.random.key(0), 10, 20, num_layers=2, proj_size=5)
        >>> x = jnp.ones((7, 3, 10), jnp.float32)
        >>> output, (h_n, c_n) = jrnn.lstm(params, x)
        >>> output.shape, h_n.shape, c_n.shape
        ((7, 3, 5), (2, 3, 5), (2, 3, 20))
    """
    fn = "jrnn.lstm"
    config = rnn_config(fn, params, "LSTM")
    check_jax_holds(fn, params, config)
    output, (h_n, c_n) = _driver.run(
        fn,
        _cells.LSTM,
        config,
        params,
        x,
        state,
        batch_first=batch_first,
        lengths=lengths,
        dropout=dropout,
        key=key,
        unroll=unroll,
        precision=precision,
        checkpoint_every=checkpoint_every,
    )
    return output, (h_n, c_n)


def gru(
    params: dict[str, jax.Array],
    x: jax.Array,
    h0: jax.Array | None = None,
    *,
    batch_first: bool = False,
    lengths: jax.Array | None = None,
    dropout: float = 0.0,
    key: jax.Array | None = None,
    unroll: int = 1,
    precision=None,
    checkpoint_every: int | None = None,
) -> tuple[jax.Array, jax.Array]:
    """A multi-layer GRU, exactly ``torch.nn.GRU.forward``.

    Every layer and direction computes, with gates stacked ``r, z, n`` in the weights::

        r = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))
        h_t = (1 - z) * n + z * h_{t-1}

    Shapes:
        As :func:`rnn`, with weights ``(3H, .)``.

    Args:
        params: ``torch.nn.GRU(...).state_dict()`` as arrays, e.g. from :func:`jrnn.init_gru`.
        x: the input sequence, in the params' dtype.
        h0: the initial state; ``None`` means zeros.
        batch_first: ``x`` and ``output`` are ``(N, L, ...)``.
        lengths: as :func:`rnn`.
        dropout: as :func:`rnn`.
        key: as :func:`rnn`.
        unroll: as :func:`rnn`.
        precision: as :func:`rnn`.
        checkpoint_every: as :func:`rnn`.

    Returns:
        ``(output, h_n)``.

    Raises:
        ValueError: params that are not a GRU state_dict (another kind's get a hint); x, h0 or
            lengths of the wrong shape; lengths out of range; dropout outside [0, 1].
        TypeError: x or h0 not an array, or not in the params' dtype; lengths not integer; a
            traced option.

    Example:
        >>> import jax, jax.numpy as jnp, jrnn
        >>> params = jrnn.init_gru(jax.random.key(0), 10, 20, num_layers=2, bidirectional=True)
        >>> output, h_n = jrnn.gru(params, jnp.ones((7, 3, 10), jnp.float32))
        >>> output.shape, h_n.shape
        ((7, 3, 40), (4, 3, 20))
    """
    fn = "jrnn.gru"
    config = rnn_config(fn, params, "GRU")
    check_jax_holds(fn, params, config)
    return _driver.run(
        fn,
        _cells.GRU,
        config,
        params,
        x,
        h0,
        batch_first=batch_first,
        lengths=lengths,
        dropout=dropout,
        key=key,
        unroll=unroll,
        precision=precision,
        checkpoint_every=checkpoint_every,
    )
