"""Initialising params exactly as torch does: every kind's ``state_dict`` keys, shapes, order.

Every tensor (weights, biases, LSTM's ``weight_hr``) is drawn from U(-1/sqrt(H), 1/sqrt(H)) with
its own random stream, as torch's ``reset_parameters`` does.
"""

import math
import os
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from . import _errors, _errors_modules
from ._params import GATES, cell_layout, is_float_dtype, rnn_layout


def is_positive_int(value: object) -> bool:
    """Whether ``value`` is an integer >= 1 (``bool`` is not accepted as an integer)."""
    return not isinstance(value, bool) and isinstance(value, int | np.integer) and value >= 1


def is_random_key(value: object) -> bool:
    """Whether ``value`` is one ``jax.random`` key: typed (shape ``()``) or raw ``uint32 (2,)``."""
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return False
    if jnp.issubdtype(dtype, jax.dtypes.prng_key):
        return tuple(value.shape) == ()
    return dtype == jnp.uint32 and tuple(value.shape) == (2,)


def check_init_args(
    fn: str, sizes: Mapping[str, object], dtype: object, dtype_arg: str = "dtype"
) -> None:
    """Raise unless every size is an integer >= 1 and ``dtype`` (named ``dtype_arg``) floats.

    The dtype must be one of jrnn's float dtypes, and one JAX can hold: float64 needs x64 mode.
    """
    for arg, value in sizes.items():
        if not is_positive_int(value):
            raise _errors_modules.init_size(fn, arg, value, 1)
    if not is_float_dtype(dtype):
        raise _errors_modules.init_dtype(fn, dtype, dtype_arg)
    if jax.dtypes.canonicalize_dtype(dtype) != jnp.dtype(dtype):
        raise _errors_modules.init_dtype_x64(fn, dtype_arg)


def check_key(fn: str, key: object) -> None:
    """Refuse anything but one ``jax.random`` key (an int seed, a batch of keys)."""
    if not is_random_key(key):
        raise _errors_modules.random_key(fn, key)


def check_param_bytes(fn: str, layout: Mapping[str, tuple], dtype: object) -> None:
    """Refuse sizes whose params cannot fit in memory, before JAX tries to allocate them.

    The bound is the first device's memory limit where JAX reports one (GPU, TPU), else the
    machine's physical memory. Without it, a size such as ``2**62`` aborts the process.
    """
    count = sum(math.prod(shape) for shape in layout.values())
    needed = count * jnp.dtype(dtype).itemsize
    available = _memory_bytes()
    if needed > available:
        raise _errors_modules.params_too_large(fn, needed, available)


def _memory_bytes() -> int:
    stats = jax.local_devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"])
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_flags(fn: str, flags: Mapping[str, object]) -> None:
    """Raise unless every flag (``bias``, ``batch_first``, ...) is a bool, as torch's RNNs ask.

    (torch's cells take ``bias`` as any value and read it as a flag; so do jrnn's.)
    """
    for arg, value in flags.items():
        if not isinstance(value, bool | np.bool_):
            raise _errors_modules.flag_type(fn, arg, value)


def check_proj_size(fn: str, kind: str, proj_size: object, hidden_size: int) -> int:
    """Return ``proj_size`` if torch would accept it for ``kind``, else raise torch's error.

    As ``torch.nn.RNN/GRU`` refuse any ``proj_size`` (with a ValueError, whatever its value or
    type), anything but the default 0 is refused for those kinds before its type is looked at.
    """
    is_int = not isinstance(proj_size, bool) and isinstance(proj_size, int | np.integer)
    if kind != "LSTM" and not (is_int and proj_size == 0):
        raise _errors.proj_size_not_lstm(fn, kind)
    if not is_int:
        raise _errors.proj_size_type(fn, proj_size)
    if proj_size < 0:
        raise _errors.proj_size_negative(fn, proj_size)
    if proj_size and proj_size >= hidden_size:
        raise _errors.proj_size_too_large(fn, int(proj_size), hidden_size, "proj_size")
    return int(proj_size)


def torch_uniform(hidden_size: int):
    """Torch's initialiser for RNN tensors (and ``nn.Linear``'s): U(-1/sqrt(H), 1/sqrt(H)).

    Returns ``init(key, shape, dtype) -> array``, the signature flax's initialisers have.
    """
    bound = 1.0 / math.sqrt(hidden_size)

    def init(key: jax.Array, shape: tuple[int, ...], dtype) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, minval=-bound, maxval=bound)

    return init


def uniform_params(key: jax.Array, layout: Mapping[str, tuple], hidden_size: int, dtype):
    """Draw every tensor of ``layout`` with :func:`torch_uniform`, each from its own stream."""
    init = torch_uniform(hidden_size)
    keys = jax.random.split(key, len(layout))
    return {
        name: init(k, shape, dtype) for k, (name, shape) in zip(keys, layout.items(), strict=True)
    }


def _init_network(
    fn, kind, key, input_size, hidden_size, num_layers, bias, bidirectional, proj_size, dtype
):
    sizes = {"input_size": input_size, "hidden_size": hidden_size, "num_layers": num_layers}
    check_init_args(fn, sizes, dtype)
    check_flags(fn, {"bias": bias, "bidirectional": bidirectional})
    proj_size = check_proj_size(fn, kind, proj_size, hidden_size)
    layout = rnn_layout(
        input_size, hidden_size, num_layers, bias, bidirectional, GATES[kind], proj_size
    )
    check_param_bytes(fn, layout, dtype)
    check_key(fn, key)
    return uniform_params(key, layout, hidden_size, dtype)


def _init_cell(fn, kind, key, input_size, hidden_size, bias, dtype):
    check_init_args(fn, {"input_size": input_size, "hidden_size": hidden_size}, dtype)
    layout = cell_layout(input_size, hidden_size, bias, GATES[kind])
    check_param_bytes(fn, layout, dtype)
    check_key(fn, key)
    return uniform_params(key, layout, hidden_size, dtype)


def init_rnn(
    key: jax.Array,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    *,
    bias: bool = True,
    bidirectional: bool = False,
    proj_size: int = 0,
    dtype=jnp.float32,
) -> dict[str, jax.Array]:
    """Initialise params exactly shaped as ``torch.nn.RNN(...).state_dict()``.

    Shapes:
        ``weight_ih_l0 (H, H_in)``, ``weight_ih_l{k>0} (H, D*H)``, ``weight_hh_l{k} (H, H)``,
        ``bias_ih_l{k}``/``bias_hh_l{k}`` ``(H,)``; ``..._reverse`` twins when bidirectional.

    Args:
        key: a ``jax.random`` key.
        input_size: ``H_in``, features per time step.
        hidden_size: ``H``, features of the hidden state.
        num_layers: stacked layers.
        bias: whether the layers have ``bias_ih``/``bias_hh``.
        bidirectional: add a reverse direction to every layer.
        proj_size: must be 0: as in torch, only LSTM has projections.
        dtype: a floating dtype for every tensor.

    Returns:
        A dict from torch's parameter names to arrays, in torch's order.

    Raises:
        ValueError: a size is not an integer >= 1; ``proj_size`` is not 0.
        TypeError: ``dtype`` is not floating.

    Example:
        >>> import jax, jrnn
        >>> params = jrnn.init_rnn(jax.random.key(0), input_size=100, hidden_size=10, num_layers=2)
        >>> {k: v.shape for k, v in params.items()}  # doctest: +NORMALIZE_WHITESPACE
        {'weight_ih_l0': (10, 100), 'weight_hh_l0': (10, 10), 'bias_ih_l0': (10,),
         'bias_hh_l0': (10,), 'weight_ih_l1': (10, 10), 'weight_hh_l1': (10, 10),
         'bias_ih_l1': (10,), 'bias_hh_l1': (10,)}
    """
    return _init_network(
        "jrnn.init_rnn",
        "RNN",
        key,
        input_size,
        hidden_size,
        num_layers,
        bias,
        bidirectional,
        proj_size,
        dtype,
    )


def init_lstm(
    key: jax.Array,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    *,
    bias: bool = True,
    bidirectional: bool = False,
    proj_size: int = 0,
    dtype=jnp.float32,
) -> dict[str, jax.Array]:
    """Initialise params exactly shaped as ``torch.nn.LSTM(...).state_dict()``.

    Gate blocks are stacked in torch's order ``i, f, g, o``.

    Shapes:
        ``P = proj_size or H``. ``weight_ih_l0 (4H, H_in)``, ``weight_ih_l{k>0} (4H, D*P)``,
        ``weight_hh_l{k} (4H, P)``, ``bias_ih_l{k}``/``bias_hh_l{k}`` ``(4H,)``, and with
        ``proj_size > 0`` ``weight_hr_l{k} (P, H)``; ``..._reverse`` twins when bidirectional.

    Args:
        key: a ``jax.random`` key.
        input_size: ``H_in``.
        hidden_size: ``H``, features of the cell state ``c``.
        num_layers: stacked layers.
        bias: whether the layers have ``bias_ih``/``bias_hh``.
        bidirectional: add a reverse direction to every layer.
        proj_size: ``P``; if > 0, ``h = W_hr (o * tanh(c))`` is P-wide (``0 <= P < H``).
        dtype: a floating dtype for every tensor.

    Returns:
        A dict from torch's parameter names to arrays, in torch's order.

    Raises:
        ValueError: a size is not an integer >= 1; ``proj_size`` negative or not below ``H``.
        TypeError: ``dtype`` is not floating; ``proj_size`` not an integer.

    Example:
        >>> import jax, jrnn
        >>> params = jrnn.init_lstm(jax.random.key(0), 10, 20, proj_size=5)
        >>> {k: v.shape for k, v in params.items()}  # doctest: +NORMALIZE_WHITESPACE
        {'weight_ih_l0': (80, 10), 'weight_hh_l0': (80, 5), 'bias_ih_l0': (80,),
         'bias_hh_l0': (80,), 'weight_hr_l0': (5, 20)}
    """
    return _init_network(
        "jrnn.init_lstm",
        "LSTM",
        key,
        input_size,
        hidden_size,
        num_layers,
        bias,
        bidirectional,
        proj_size,
        dtype,
    )


def init_gru(
    key: jax.Array,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    *,
    bias: bool = True,
    bidirectional: bool = False,
    proj_size: int = 0,
    dtype=jnp.float32,
) -> dict[str, jax.Array]:
    """Initialise params exactly shaped as ``torch.nn.GRU(...).state_dict()``.

    Gate blocks are stacked in torch's order ``r, z, n``.

    Shapes:
        ``weight_ih_l0 (3H, H_in)``, ``weight_ih_l{k>0} (3H, D*H)``, ``weight_hh_l{k} (3H, H)``,
        ``bias_ih_l{k}``/``bias_hh_l{k}`` ``(3H,)``; ``..._reverse`` twins when bidirectional.

    Args:
        key: a ``jax.random`` key.
        input_size: ``H_in``.
        hidden_size: ``H``.
        num_layers: stacked layers.
        bias: whether the layers have ``bias_ih``/``bias_hh``.
        bidirectional: add a reverse direction to every layer.
        proj_size: must be 0: as in torch, only LSTM has projections.
        dtype: a floating dtype for every tensor.

    Returns:
        A dict from torch's parameter names to arrays, in torch's order.

    Raises:
        ValueError: a size is not an integer >= 1; ``proj_size`` is not 0.
        TypeError: ``dtype`` is not floating.

    Example:
        >>> import jax, jrnn
        >>> params = jrnn.init_gru(jax.random.key(0), 10, 20)
        >>> {k: v.shape for k, v in params.items()}  # doctest: +NORMALIZE_WHITESPACE
        {'weight_ih_l0': (60, 10), 'weight_hh_l0': (60, 20), 'bias_ih_l0': (60,),
         'bias_hh_l0': (60,)}
    """
    return _init_network(
        "jrnn.init_gru",
        "GRU",
        key,
        input_size,
        hidden_size,
        num_layers,
        bias,
        bidirectional,
        proj_size,
        dtype,
    )


def init_rnn_cell(
    key: jax.Array, input_size: int, hidden_size: int, *, bias: bool = True, dtype=jnp.float32
) -> dict[str, jax.Array]:
    """Initialise params exactly shaped as ``torch.nn.RNNCell(...).state_dict()``.

    Shapes:
        ``weight_ih (H, H_in)``, ``weight_hh (H, H)``, ``bias_ih (H,)``, ``bias_hh (H,)``.

    Args:
        key: a ``jax.random`` key.
        input_size: ``H_in``.
        hidden_size: ``H``.
        bias: whether the cell has ``bias_ih``/``bias_hh``.
        dtype: a floating dtype for every tensor.

    Returns:
        A dict from torch's parameter names to arrays, in torch's order.

    Raises:
        ValueError: a size is not an integer >= 1.
        TypeError: ``dtype`` is not floating.

    Example:
        >>> import jax, jrnn
        >>> cell = jrnn.init_rnn_cell(jax.random.key(0), input_size=100, hidden_size=10)
        >>> {k: v.shape for k, v in cell.items()}
        {'weight_ih': (10, 100), 'weight_hh': (10, 10), 'bias_ih': (10,), 'bias_hh': (10,)}
    """
    return _init_cell("jrnn.init_rnn_cell", "RNN", key, input_size, hidden_size, bias, dtype)


def init_lstm_cell(
    key: jax.Array, input_size: int, hidden_size: int, *, bias: bool = True, dtype=jnp.float32
) -> dict[str, jax.Array]:
    """Initialise params exactly shaped as ``torch.nn.LSTMCell(...).state_dict()``.

    Shapes:
        ``weight_ih (4H, H_in)``, ``weight_hh (4H, H)``, ``bias_ih (4H,)``, ``bias_hh (4H,)``.

    Args:
        key: a ``jax.random`` key.
        input_size: ``H_in``.
        hidden_size: ``H``.
        bias: whether the cell has ``bias_ih``/``bias_hh``.
        dtype: a floating dtype for every tensor.

    Returns:
        A dict from torch's parameter names to arrays, in torch's order.

    Raises:
        ValueError: a size is not an integer >= 1.
        TypeError: ``dtype`` is not floating.

    Example:
        >>> import jax, jrnn
        >>> cell = jrnn.init_lstm_cell(jax.random.key(0), input_size=3, hidden_size=2)
        >>> {k: v.shape for k, v in cell.items()}
        {'weight_ih': (8, 3), 'weight_hh': (8, 2), 'bias_ih': (8,), 'bias_hh': (8,)}
    """
    return _init_cell("jrnn.init_lstm_cell", "LSTM", key, input_size, hidden_size, bias, dtype)


def init_gru_cell(
    key: jax.Array, input_size: int, hidden_size: int, *, bias: bool = True, dtype=jnp.float32
) -> dict[str, jax.Array]:
    """Initialise params exactly shaped as ``torch.nn.GRUCell(...).state_dict()``.

    Shapes:
        ``weight_ih (3H, H_in)``, ``weight_hh (3H, H)``, ``bias_ih (3H,)``, ``bias_hh (3H,)``.

    Args:
        key: a ``jax.random`` key.
        input_size: ``H_in``.
        hidden_size: ``H``.
        bias: whether the cell has ``bias_ih``/``bias_hh``.
        dtype: a floating dtype for every tensor.

    Returns:
        A dict from torch's parameter names to arrays, in torch's order.

    Raises:
        ValueError: a size is not an integer >= 1.
        TypeError: ``dtype`` is not floating.

    Example:
        >>> import jax, jrnn
        >>> cell = jrnn.init_gru_cell(jax.random.key(0), input_size=3, hidden_size=2)
        >>> {k: v.shape for k, v in cell.items()}
        {'weight_ih': (6, 3), 'weight_hh': (6, 2), 'bias_ih': (6,), 'bias_hh': (6,)}
    """
    return _init_cell("jrnn.init_gru_cell", "GRU", key, input_size, hidden_size, bias, dtype)
