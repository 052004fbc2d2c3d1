"""One step of ``torch.nn.RNNCell``."""

import jax
import jax.numpy as jnp

from . import _errors, _nonlinearity
from ._inputs import as_array
from ._params import cell_config


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
        ValueError: bad params, x_t or h shapes, or an unknown nonlinearity.
        TypeError: x_t or h not in the params' dtype.

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
    config = cell_config(fn, params)
    _nonlinearity.check(fn, nonlinearity)
    x_t = x_t if hasattr(x_t, "shape") else jnp.asarray(x_t)
    if x_t.ndim not in (1, 2) or x_t.shape[-1] != config.input_size:
        raise _errors.cell_x_shape(fn, tuple(x_t.shape), config.input_size)
    x_t = as_array(fn, "x_t", x_t, config.dtype)
    state_shape = (*x_t.shape[:-1], config.hidden_size)
    if h is None:
        h = jnp.zeros(state_shape, config.dtype)
    h = h if hasattr(h, "shape") else jnp.asarray(h)
    if tuple(h.shape) != state_shape:
        raise _errors.cell_h_shape(fn, state_shape, tuple(h.shape))
    h = as_array(fn, "h", h, config.dtype)
    pre = jnp.matmul(x_t, params["weight_ih"].T, precision=precision)  # (N, H)
    pre = pre + jnp.matmul(h, params["weight_hh"].T, precision=precision)  # (N, H)
    if config.bias:
        pre = pre + (params["bias_ih"] + params["bias_hh"])[(None,) * (pre.ndim - 1)]
    return _nonlinearity.apply(nonlinearity, pre)
