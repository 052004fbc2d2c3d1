"""Checking and normalising what users pass with their params: x, h0, lengths, dropout.

Every check runs in Python on static shapes and dtypes, so it fires at call (trace) time, before
XLA sees anything, also under ``jax.jit``.
"""

import functools
import sys

import jax
import jax.numpy as jnp
import numpy as np

from . import _errors, _errors_modules
from ._init import is_positive_int, is_random_key
from ._params import RNNConfig
from ._torch import tensor_to_numpy


def array(fn: str, arg: str, value: object, dtype: np.dtype | None = None) -> jax.Array:
    """``value`` as an array; what JAX cannot hold as numbers (None, str, ...) is a TypeError.

    A torch tensor is copied into a JAX array, as a NumPy array is (torch is never imported
    here: a tensor can only exist once the caller has imported it). Nested lists of numbers
    have no dtype of their own: they take ``dtype`` (the params'), as a list given to torch's
    module becomes a tensor of torch's default dtype.
    """
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return jnp.asarray(tensor_to_numpy(fn, arg, value))
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return value
    try:
        return jnp.asarray(value, dtype if isinstance(value, list | tuple) else None)
    except (TypeError, ValueError) as err:
        raise _errors.not_array_like(fn, arg, value) from err


def as_array(fn: str, arg: str, value: object, dtype: np.dtype) -> jax.Array:
    """``value`` as an array of exactly ``dtype``; a different dtype is a TypeError."""
    value = array(fn, arg, value, dtype)
    if jnp.dtype(value.dtype) != dtype:
        raise _errors.array_dtype(fn, arg, value.dtype, dtype)
    return value


def sequence(fn: str, x: object, config: RNNConfig, batch_first: bool) -> tuple[jax.Array, bool]:
    """Return ``x`` as ``(L, N, H_in)`` and whether it came unbatched."""
    x = array(fn, "x", x, config.dtype)
    shape = tuple(x.shape)
    if x.ndim not in (2, 3):
        raise _errors.x_rank(fn, config.kind, shape)
    if shape[-1] != config.input_size:
        raise _errors.x_features(fn, shape, config.input_size, "weight_ih_l0", batch_first)
    if jnp.dtype(x.dtype) != config.dtype:
        raise _errors.x_dtype(fn, x.dtype, config.dtype)
    unbatched = x.ndim == 2
    if unbatched:
        x = x[:, None]  # (L, 1, H_in); torch ignores batch_first for unbatched input
    elif batch_first:
        x = jnp.swapaxes(x, 0, 1)  # (L, N, H_in)
    if x.shape[0] == 0:
        raise _errors.empty_sequence(fn, shape)
    return x, unbatched


def initial_state(fn: str, state: object, config: RNNConfig, batch_size: int, unbatched: bool):
    """Return the initial carry: ``h0 (S, N, P)``, or for LSTM ``(h0 (S, N, P), c0 (S, N, H))``.

    ``None`` means zeros. An LSTM state must be a ``(h0, c0)`` pair.
    """
    num_states = config.num_directions * config.num_layers
    lead = (num_states,) if unbatched else (num_states, batch_size)
    h_shape, c_shape = (*lead, config.output_size), (*lead, config.hidden_size)
    if config.proj_size:
        h_source = "(proj_size, from params['weight_hr_l0'])"
    else:
        h_source = "(hidden_size, from params['weight_ih_l0'])"
    if config.kind != "LSTM":
        h0 = state_array(fn, state, "h0", h_shape, config, _shape_error(h_source, unbatched, ""))
        return h0[:, None] if unbatched else h0
    if state is None:
        state = (None, None)
    if not isinstance(state, tuple | list) or len(state) != 2:
        raise _errors.lstm_state(fn, state, h_shape, c_shape)
    shapes = tuple(tuple(getattr(s, "shape", ())) for s in state)
    hint = ""
    if h_shape != c_shape and shapes == (c_shape, h_shape):
        hint = " These look swapped: pass state=(h0, c0), h0 first."
    elif config.proj_size and shapes[0][-1:] == (config.hidden_size,):
        hint = (
            f" With proj_size={config.proj_size}, h0 (like h_n and output) has proj_size "
            f"features; only c0 has hidden_size={config.hidden_size}."
        )
    c_source = "(hidden_size, from params['weight_ih_l0'])"
    h0_error = _shape_error(h_source, unbatched, hint, lstm=True)
    c0_error = _shape_error(c_source, unbatched, hint, lstm=True)
    h0 = state_array(fn, state[0], "h0", h_shape, config, h0_error)
    c0 = state_array(fn, state[1], "c0", c_shape, config, c0_error)
    return (h0[:, None], c0[:, None]) if unbatched else (h0, c0)


def state_array(fn, value, arg, expected, config, shape_error):
    """One state array (``h0``, ``c0``, a cell's ``h``) of exactly ``expected`` shape and dtype.

    ``None`` means zeros. ``shape_error(fn, expected, got, arg)`` builds the error for a wrong
    shape, in the caller's terms.
    """
    if value is None:
        value = jnp.zeros(expected, config.dtype)
    if isinstance(value, tuple | list) and any(hasattr(v, "shape") for v in value):
        raise _errors.state_not_one_array(fn, arg, value, config.kind)
    value = array(fn, arg, value, config.dtype)
    if tuple(value.shape) != expected:
        raise shape_error(fn, expected, tuple(value.shape), arg)
    return as_array(fn, arg, value, config.dtype)


def _shape_error(source, unbatched, hint, lstm=False):
    """A network's initial-state shape error: where the size came from, and the common fixes."""
    return lambda fn, expected, got, arg: _errors.h0_shape(
        fn, expected, got, unbatched, arg, source, hint, lstm
    )


def valid_steps(
    fn: str, lengths: object, seq_len: int, batch_size: int, unbatched: bool
) -> jax.Array | None:
    """Turn ``lengths`` into a ``(L, N)`` mask, ``True`` where a step is valid.

    Concrete lengths outside ``[0, L]`` are a ValueError. Traced lengths (under ``jit`` or
    ``vmap``) cannot be inspected; there a length above ``L`` acts as ``L`` and one below 0 as 0,
    whatever the integer dtype (an unsigned one included).
    """
    if lengths is None:
        return None
    lengths = array(fn, "lengths", lengths)  # a list of traced ints too
    expected = () if unbatched else (batch_size,)
    if tuple(lengths.shape) != expected:
        raise _errors.lengths_shape(fn, expected, tuple(lengths.shape))
    if not jnp.issubdtype(lengths.dtype, jnp.integer):
        raise _errors.lengths_dtype(fn, lengths.dtype)
    try:
        values = np.asarray(lengths)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        values = None
    if values is not None and values.size and (values.min() < 0 or values.max() > seq_len):
        raise _errors.lengths_range(fn, seq_len, int(values.min()), int(values.max()))
    lengths = jnp.reshape(lengths, (-1,))  # (N,)
    if jnp.issubdtype(lengths.dtype, jnp.unsignedinteger):  # clip before a signed compare
        lengths = jnp.minimum(lengths, seq_len).astype(jnp.int32)
    return jnp.arange(seq_len)[:, None] < lengths[None, :]  # (L, N)


def static(fn: str, arg: str, value: object) -> None:
    """Refuse a traced configuration argument: it shapes the program, so it must be static."""
    if isinstance(value, jax.core.Tracer):
        raise _errors.traced_config(fn, arg)


def dropout_rate(fn: str, dropout: object) -> float:
    """Return ``dropout`` if it is a number in ``[0, 1]`` (torch's range)."""
    static(fn, "dropout", dropout)
    if isinstance(dropout, bool) or not isinstance(dropout, int | float | np.integer | np.floating):
        raise _errors.dropout(fn, dropout)
    if not 0 <= dropout <= 1:
        raise _errors.dropout(fn, dropout)
    return float(dropout)


def positive_int(fn: str, arg: str, value: object) -> int:
    """Return ``value`` if it is an integer >= 1 (a knob such as ``unroll``)."""
    static(fn, arg, value)
    if not is_positive_int(value):
        raise _errors_modules.positive_int(fn, arg, value)
    return int(value)


def random_key(fn: str, key: object) -> None:
    """Check that ``key`` is ``None`` or a ``jax.random`` key (typed, or raw ``uint32 (2,)``)."""
    if key is not None and not is_random_key(key):
        raise _errors_modules.random_key(fn, key)


_PROBE = jax.ShapeDtypeStruct((1, 1), jnp.float32)


def precision(fn: str, value: object):
    """Return ``precision`` if ``jax.lax.dot`` accepts it (a list pair as a hashable tuple).

    Anything but ``None`` and the enum values is tried on an abstract 1x1 matmul (no XLA), so a
    bad value is refused naming ``fn`` before any work.
    """
    static(fn, "precision", value)
    if value is None or isinstance(value, jax.lax.Precision):
        return value
    if isinstance(value, list):
        value = tuple(value)  # the engine's static arguments must be hashable
    try:
        _lower_dot(value)
    except (TypeError, ValueError) as err:
        raise _errors.precision(fn, value, err) from err
    return value


@functools.lru_cache
def _lower_dot(precision) -> None:
    """Lower a 1x1 matmul with ``precision`` for the default backend; nothing is compiled.

    An algorithm the backend lacks (``TF32_TF32_F32`` on CPU) fails here, not at run time.
    """
    jax.jit(lambda a: jax.lax.dot(a, a, precision=precision)).lower(_PROBE)
