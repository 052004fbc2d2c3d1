"""One step of ``torch.nn.RNNCell``, ``LSTMCell`` and ``GRUCell``: the scan body, called once."""

import functools

import jax
import jax.numpy as jnp

from . import _cells, _errors_modules, _inputs, _nonlinearity
from ._params import cell_config, check_jax_holds


def checked_step(fn, cell, params, x_t, carry, precision):
    """Check ``x_t`` and the carry against the params, then run :func:`jrnn._cells.step`."""
    config = cell_config(fn, params, cell.kind)
    check_jax_holds(fn, params, config)
    precision = _inputs.precision(fn, precision)
    x_t = _inputs.array(fn, "x_t", x_t, config.dtype)
    if x_t.ndim not in (1, 2) or x_t.shape[-1] != config.input_size:
        raise _errors_modules.cell_x_shape(fn, cell.kind, tuple(x_t.shape), config.input_size)
    state_shape = (*x_t.shape[:-1], config.hidden_size)
    names = ("h", "c") if cell.paired else ("h",)
    if carry is None:
        carry = (None,) * len(names)
    elif cell.paired and (not isinstance(carry, tuple | list) or len(carry) != 2):
        raise _errors_modules.lstm_cell_state(fn, carry, state_shape)
    elif not cell.paired:
        carry = (carry,)
    shape_error = functools.partial(_errors_modules.cell_h_shape, kind=cell.kind)
    checked = [
        _inputs.state_array(fn, value, name, state_shape, config, shape_error)
        for name, value in zip(names, carry, strict=True)
    ]
    x_t = _inputs.as_array(fn, "x_t", x_t, config.dtype)  # after the shapes, as torch checks
    xp = jnp.matmul(x_t, params["weight_ih"].T, precision=precision)  # (N, gates*H)
    if config.bias:
        xp = _cells.add_bias(xp, params["bias_ih"])
    weights = _cells.Recurrent(params["weight_hh"].T, params.get("bias_hh"), None)
    new, _ = _cells.step(
        cell, weights, xp, tuple(checked) if cell.paired else checked[0], precision
    )
    return new


def cell_step(
    params: dict[str, jax.Array],
    x_t: jax.Array,
    h: jax.Array | None = None,
    *,
    nonlinearity: str = "tanh",
    precision=None,
) -> jax.Array:
    """One step of an Elman cell, exactly ``torch.nn.RNNCell.forward``.

    ::

        h_next = f(x_t @ W_ih.T + b_ih + h @ W_hh.T + b_hh),   f = tanh or relu

    Shapes:
        ``x_t``: ``(N, H_in)`` or unbatched ``(H_in,)``.
        ``h`` and ``h_next``: ``(N, H)`` or ``(H,)``.

    Args:
        params: ``weight_ih (H, H_in)``, ``weight_hh (H, H)`` and, with bias,
            ``bias_ih (H,)``, ``bias_hh (H,)``, as ``torch.nn.RNNCell(...).state_dict()``.
        x_t: the input at one time step, in the params' dtype.
        h: the previous hidden state; ``None`` means zeros.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        precision: passed to every matmul (``jax.lax.Precision``), e.g. ``"highest"``.

    Returns:
        The next hidden state, shaped like ``h``.

    Raises:
        ValueError: bad params, x_t or h shapes, an unknown nonlinearity or precision.
        TypeError: x_t or h not an array of the params' dtype; a traced precision.

    Example:
        >>> import jax, jax.numpy as jnp, jrnn
        >>> cell = jrnn.init_rnn_cell(jax.random.key(0), input_size=100, hidden_size=10)
        >>> x = jnp.ones((10, 5, 100), jnp.float32)
        >>> h1 = jnp.zeros((5, 10), jnp.float32)
        >>> for x_t in x:
        ...     h1 = jrnn.cell_step(cell, x_t, h1)
        >>> h1.shape
        (5, 10)
    """
    fn = "jrnn.cell_step"
    _nonlinearity.check(fn, nonlinearity, cell=True)
    return checked_step(fn, _cells.ELMAN[nonlinearity], params, x_t, h, precision)


def lstm_cell_step(
    params: dict[str, jax.Array],
    x_t: jax.Array,
    state: tuple[jax.Array, jax.Array] | None = None,
    *,
    precision=None,
) -> tuple[jax.Array, jax.Array]:
    """One step of an LSTM cell, exactly ``torch.nn.LSTMCell.forward``.

    ::

        i, f, g, o = split(x_t @ W_ih.T + b_ih + h @ W_hh.T + b_hh)     (4 blocks of H)
        c_next = sigmoid(f) * c + sigmoid(i) * tanh(g)
        h_next = sigmoid(o) * tanh(c_next)

    Shapes:
        ``x_t``: ``(N, H_in)`` or unbatched ``(H_in,)``. ``h``, ``c``: ``(N, H)`` or ``(H,)``.

    Args:
        params: ``torch.nn.LSTMCell(...).state_dict()``: ``weight_ih (4H, H_in)``,
            ``weight_hh (4H, H)``, with bias ``bias_ih (4H,)``, ``bias_hh (4H,)``.
        x_t: the input at one time step, in the params' dtype.
        state: ``(h, c)``; ``None`` means zeros.
        precision: passed to every matmul.

    Returns:
        ``(h_next, c_next)``.

    Raises:
        ValueError: bad params, x_t, h or c shapes, an unknown precision.
        TypeError: state not a ``(h, c)`` pair; x_t, h or c not an array of the params' dtype;
            a traced precision.

    Example:
        >>> import jax, jax.numpy as jnp, jrnn
        >>> cell = jrnn.init_lstm_cell(jax.random.key(0), input_size=10, hidden_size=20)
        >>> h, c = jrnn.lstm_cell_step(cell, jnp.ones((3, 10), jnp.float32))
        >>> h.shape, c.shape
        ((3, 20), (3, 20))
    """
    return checked_step("jrnn.lstm_cell_step", _cells.LSTM, params, x_t, state, precision)


def gru_cell_step(
    params: dict[str, jax.Array],
    x_t: jax.Array,
    h: jax.Array | None = None,
    *,
    precision=None,
) -> jax.Array:
    """One step of a GRU cell, exactly ``torch.nn.GRUCell.forward``.

    ::

        r = sigmoid(W_ir x_t + b_ir + W_hr h + b_hr)
        z = sigmoid(W_iz x_t + b_iz + W_hz h + b_hz)
        n = tanh(W_in x_t + b_in + r * (W_hn h + b_hn))
        h_next = (1 - z) * n + z * h

    Shapes:
        ``x_t``: ``(N, H_in)`` or unbatched ``(H_in,)``. ``h``: ``(N, H)`` or ``(H,)``.

    Args:
        params: ``torch.nn.GRUCell(...).state_dict()``: ``weight_ih (3H, H_in)``,
            ``weight_hh (3H, H)``, with bias ``bias_ih (3H,)``, ``bias_hh (3H,)``.
        x_t: the input at one time step, in the params' dtype.
        h: the previous hidden state; ``None`` means zeros.
        precision: passed to every matmul.

    Returns:
        The next hidden state.

    Raises:
        ValueError: bad params, x_t or h shapes, an unknown precision.
        TypeError: x_t or h not an array of the params' dtype (a ``(h, c)`` pair included);
            a traced precision.

    Example:
        >>> import jax, jax.numpy as jnp, jrnn
        >>> cell = jrnn.init_gru_cell(jax.random.key(0), input_size=10, hidden_size=20)
        >>> jrnn.gru_cell_step(cell, jnp.ones((3, 10), jnp.float32)).shape
        (3, 20)
    """
    return checked_step("jrnn.gru_cell_step", _cells.GRU, params, x_t, h, precision)
