"""Parameter layout in torch's state_dict form: building it, initialising it, reading it back.

The params dict *is* torch's ``state_dict()``: the same keys, in the same order, with the same
shapes. Everything a network's configuration says (input size, hidden size, number of layers,
directions, bias) is read back from the keys and shapes by :func:`rnn_config`.
"""

import math
from collections.abc import Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _errors

_KIND_BY_GATES = {1: "RNN", 3: "GRU", 4: "LSTM"}


class RNNConfig(NamedTuple):
    """What a params dict says about its network."""

    input_size: int
    hidden_size: int
    num_layers: int
    bidirectional: bool
    bias: bool
    dtype: np.dtype

    @property
    def num_directions(self) -> int:
        """``D``: 2 when bidirectional, else 1."""
        return 2 if self.bidirectional else 1


def suffix(direction: int) -> str:
    """The key suffix torch uses for a direction: ``""`` forward, ``"_reverse"`` reverse."""
    return "_reverse" if direction else ""


def rnn_layout(
    input_size: int,
    hidden_size: int,
    num_layers: int,
    bias: bool,
    bidirectional: bool,
    gates: int = 1,
) -> dict[str, tuple[int, ...]]:
    """Keys and shapes of ``torch.nn.RNN(...).state_dict()``, in torch's order.

    ``gates`` is the number of stacked gate blocks in the weights (1 for a plain RNN), so the
    layout serves LSTM (4) and GRU (3) unchanged.
    """
    num_directions = 2 if bidirectional else 1
    layout = {}
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else num_directions * hidden_size
        for direction in range(num_directions):
            name = f"l{layer}{suffix(direction)}"
            layout[f"weight_ih_{name}"] = (gates * hidden_size, layer_input)
            layout[f"weight_hh_{name}"] = (gates * hidden_size, hidden_size)
            if bias:
                layout[f"bias_ih_{name}"] = (gates * hidden_size,)
                layout[f"bias_hh_{name}"] = (gates * hidden_size,)
    return layout


def cell_layout(
    input_size: int, hidden_size: int, bias: bool, gates: int = 1
) -> dict[str, tuple[int, ...]]:
    """Keys and shapes of ``torch.nn.RNNCell(...).state_dict()``, in torch's order."""
    layout = {
        "weight_ih": (gates * hidden_size, input_size),
        "weight_hh": (gates * hidden_size, hidden_size),
    }
    if bias:
        layout["bias_ih"] = (gates * hidden_size,)
        layout["bias_hh"] = (gates * hidden_size,)
    return layout


def is_positive_int(value: object) -> bool:
    """Whether ``value`` is an integer >= 1 (``bool`` is not accepted as an integer)."""
    return not isinstance(value, bool) and isinstance(value, int | np.integer) and value >= 1


def check_init_args(fn: str, sizes: Mapping[str, object], dtype: object) -> None:
    """Raise unless every size is an integer >= 1 and ``dtype`` is floating."""
    for arg, value in sizes.items():
        if not is_positive_int(value):
            raise _errors.init_size(fn, arg, value, 1)
    if not jnp.issubdtype(jnp.dtype(dtype), jnp.floating):
        raise _errors.init_dtype(fn, dtype)


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


def init_rnn(
    key: jax.Array,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    *,
    bias: bool = True,
    bidirectional: bool = False,
    dtype=jnp.float32,
) -> dict[str, jax.Array]:
    """Initialise params exactly shaped as ``torch.nn.RNN(...).state_dict()``.

    Every tensor is drawn from U(-1/sqrt(H), 1/sqrt(H)) with its own random stream, as torch does.

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
        dtype: a floating dtype for every tensor.

    Returns:
        A dict from torch's parameter names to arrays, in torch's order.

    Raises:
        ValueError: a size is not an integer >= 1.
        TypeError: ``dtype`` is not floating.

    Example:
        >>> import jax, jrnn
        >>> params = jrnn.init_rnn(jax.random.key(0), input_size=100, hidden_size=10, num_layers=2)
        >>> {k: v.shape for k, v in params.items()}  # doctest: +NORMALIZE_WHITESPACE
        {'weight_ih_l0': (10, 100), 'weight_hh_l0': (10, 10), 'bias_ih_l0': (10,),
         'bias_hh_l0': (10,), 'weight_ih_l1': (10, 10), 'weight_hh_l1': (10, 10),
         'bias_ih_l1': (10,), 'bias_hh_l1': (10,)}
    """
    sizes = {"input_size": input_size, "hidden_size": hidden_size, "num_layers": num_layers}
    check_init_args("jrnn.init_rnn", sizes, dtype)
    layout = rnn_layout(input_size, hidden_size, num_layers, bias, bidirectional)
    return uniform_params(key, layout, hidden_size, dtype)


def init_rnn_cell(
    key: jax.Array,
    input_size: int,
    hidden_size: int,
    *,
    bias: bool = True,
    dtype=jnp.float32,
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
    sizes = {"input_size": input_size, "hidden_size": hidden_size}
    check_init_args("jrnn.init_rnn_cell", sizes, dtype)
    return uniform_params(key, cell_layout(input_size, hidden_size, bias), hidden_size, dtype)


def _shapes(fn: str, params: object) -> dict[str, tuple[int, ...]]:
    if not isinstance(params, Mapping):
        raise _errors.not_a_mapping(fn, "params", params)
    shapes = {}
    for name, value in params.items():
        if not (hasattr(value, "shape") and hasattr(value, "dtype")):
            raise _errors.not_an_array(fn, name, value)
        shapes[name] = tuple(value.shape)
    return shapes


def _common_dtype(fn: str, params: Mapping[str, jax.Array]) -> np.dtype:
    dtypes = {name: jnp.dtype(value.dtype) for name, value in params.items()}
    kinds = set(dtypes.values())
    if len(kinds) != 1 or not jnp.issubdtype(next(iter(kinds)), jnp.floating):
        raise _errors.params_dtype(fn, dtypes)
    return kinds.pop()


def _compare(fn, kind, layout, shapes, hint_key, hidden_size, gates):
    missing = {k: s for k, s in layout.items() if k not in shapes}
    unexpected = {k: s for k, s in shapes.items() if k not in layout}
    misshaped = {k: (layout[k], s) for k, s in shapes.items() if k in layout and s != layout[k]}
    if missing or unexpected or misshaped:
        rows = (shapes.get(hint_key) or (0,))[0]
        hint = _errors.gate_hint(hint_key, rows, hidden_size) if gates == 1 else ""
        raise _errors.params_mismatch(fn, kind, missing, unexpected, misshaped, hint)


def _input_weight_shape(fn, kind, shapes, key, gates) -> tuple[int, int]:
    """The shape of the first input weight, the anchor every other shape is read from."""
    shape = shapes.get(key)
    if shape is not None and len(shape) == 2:
        return shape
    want = (f"{gates}*H" if gates > 1 else "H", "H_in")
    if shape is None:
        raise _errors.params_mismatch(fn, kind, {key: want}, {}, {})
    raise _errors.params_mismatch(fn, kind, {}, {}, {key: (want, shape)})


def rnn_config(fn: str, params: object, gates: int = 1) -> RNNConfig:
    """Read and validate the configuration of a ``torch.nn.RNN``-style params dict.

    Args:
        fn: the public function asking, for error messages.
        params: the params dict.
        gates: gate blocks per weight (1 for a plain RNN).

    Returns:
        The :class:`RNNConfig` the keys and shapes describe.

    Raises:
        TypeError: params is not a mapping of arrays, or dtypes are mixed or not floating.
        ValueError: keys are missing, unexpected or mis-shaped.
    """
    kind = _KIND_BY_GATES[gates]
    shapes = _shapes(fn, params)
    if "weight_ih" in shapes and "weight_ih_l0" not in shapes:
        raise _errors.cell_params_passed_to_rnn(fn)
    first = _input_weight_shape(fn, kind, shapes, "weight_ih_l0", gates)
    recurrent = shapes.get("weight_hh_l0", ())
    hidden_size = recurrent[1] if len(recurrent) == 2 else first[0] // gates
    num_layers = 1
    while f"weight_ih_l{num_layers}" in shapes or f"weight_hh_l{num_layers}" in shapes:
        num_layers += 1
    config = RNNConfig(
        input_size=first[1],
        hidden_size=hidden_size,
        num_layers=num_layers,
        bidirectional=any(k.endswith("_reverse") for k in shapes),
        bias=any(k.startswith("bias_") for k in shapes),
        dtype=None,
    )
    layout = rnn_layout(*config[:2], num_layers, config.bias, config.bidirectional, gates)
    _compare(fn, kind, layout, shapes, "weight_hh_l0", hidden_size, gates)
    return config._replace(dtype=_common_dtype(fn, params))


def cell_config(fn: str, params: object, gates: int = 1) -> RNNConfig:
    """Read and validate a ``torch.nn.RNNCell``-style params dict (see :func:`rnn_config`)."""
    kind = _KIND_BY_GATES[gates] + "Cell"
    shapes = _shapes(fn, params)
    if "weight_ih_l0" in shapes and "weight_ih" not in shapes:
        raise _errors.rnn_params_passed_to_cell(fn)
    first = _input_weight_shape(fn, kind, shapes, "weight_ih", gates)
    recurrent = shapes.get("weight_hh", ())
    hidden_size = recurrent[1] if len(recurrent) == 2 else first[0] // gates
    bias = any(k.startswith("bias_") for k in shapes)
    layout = cell_layout(first[1], hidden_size, bias, gates)
    _compare(fn, kind, layout, shapes, "weight_hh", hidden_size, gates)
    return RNNConfig(first[1], hidden_size, 1, False, bias, _common_dtype(fn, params))
