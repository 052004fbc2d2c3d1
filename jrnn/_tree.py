"""A whole model's nested params as one flat state_dict with torch's dotted names.

``{"embed": {"weight": E}, "rnn": rnn_params}`` becomes ``{"embed.weight": E,
"rnn.weight_ih_l0": ..., ...}``, the names ``torch.nn.Module.state_dict()`` gives a model with
submodules ``embed`` and ``rnn``. A sub-mapping holding ``weight_ih_l0`` or ``weight_ih`` is a
recurrent network or cell: it is validated as flat params are, and written in torch's order.
"""

import sys
from collections.abc import Mapping

import jax
import numpy as np

from . import _errors_files
from ._params import FLOAT_DTYPES
from ._torch import ANCHORS, config_of, tensor_to_numpy, torch_order


def _is_network(value: object) -> bool:
    return isinstance(value, Mapping) and any(anchor in value for anchor in ANCHORS)


def is_nested(params: object) -> bool:
    """Whether ``params`` are a whole model's nested params rather than one network's flat ones.

    Flat params (with their anchor key, or with no sub-mapping at all) keep the flat path, so
    their checks and messages are those of a single network.
    """
    return (
        isinstance(params, Mapping)
        and not _is_network(params)
        and any(isinstance(value, Mapping) for value in params.values())
    )


def _leaf(fn: str, name: str, value: object) -> np.ndarray:
    """A floating JAX, NumPy or torch array (or an ``nnx.Variable`` of one) as NumPy."""
    nnx = sys.modules.get("flax.nnx")  # an nnx.State holds Variables, not arrays
    if nnx is not None and isinstance(value, nnx.Variable):
        value = value.get_value()
    torch = sys.modules.get("torch")  # a tensor can only exist once torch has been imported
    is_tensor = torch is not None and isinstance(value, torch.Tensor)
    if not (is_tensor or isinstance(value, np.ndarray | jax.Array)):
        raise _errors_files.tree_leaf_type(fn, name, value)
    if str(value.dtype).removeprefix("torch.") not in FLOAT_DTYPES:  # JAX's key<fry> too
        raise _errors_files.tree_leaf_dtype(fn, name, value.dtype)
    return np.ascontiguousarray(tensor_to_numpy(fn, name, value) if is_tensor else value)


def _network(fn: str, name: str, params: Mapping) -> tuple[str, dict[str, np.ndarray]]:
    """One recurrent network's params, validated, in torch's order, and its torch module name."""
    arrays = {}
    for key, value in params.items():
        if not isinstance(key, str):
            raise _errors_files.tree_key(fn, name, key)
        arrays[key] = _leaf(fn, f"{name}.{key}", value)
    try:
        kind, config = config_of(fn, arrays)
    except (TypeError, ValueError) as err:
        raise _errors_files.tree_network(name, err) from err
    return kind, {key: arrays[key] for key in torch_order(kind, config)}


def _walk(fn, tree, parent, arrays, kinds) -> None:
    if not tree:
        raise _errors_files.tree_empty(fn, parent)
    for key, value in tree.items():
        if not (isinstance(key, str) and key and "." not in key):
            raise _errors_files.tree_key(fn, parent, key)
        name = f"{parent}.{key}" if parent else key
        if _is_network(value):
            kinds[name], network = _network(fn, name, value)
            arrays.update((f"{name}.{k}", array) for k, array in network.items())
        elif isinstance(value, Mapping):
            _walk(fn, value, name, arrays, kinds)
        else:
            arrays[name] = _leaf(fn, name, value)


def flatten(fn: str, tree: Mapping) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Join nested params' keys with ``"."``, as torch names a model's state_dict entries.

    Args:
        fn: the public function asking, for error messages.
        tree: nested mappings (dicts, flax ``FrozenDict``, ``nnx.State``) whose leaves are
            floating JAX, NumPy or torch arrays (or ``nnx.Variable`` s of them).

    Returns:
        ``(arrays, kinds)``: NumPy arrays under dotted names, in the tree's order with each
        recurrent network's entries in torch's order; and each recurrent network's torch module
        name (``"LSTM"``, ``"GRUCell"``, ...) under its dotted name (``"rnn"``, ``"encoder.rnn"``).

    Raises:
        TypeError: a key that is not a str; a leaf that is not an array, or not floating.
        ValueError: a key that is empty or holds a ``"."``; an empty mapping; no recurrent
            network; a recurrent network's keys missing, unexpected or mis-shaped.

    Example:
        >>> import numpy as np, jax, jrnn
        >>> rnn = jrnn.init_rnn(jax.random.key(0), input_size=2, hidden_size=3)
        >>> arrays, kinds = flatten("f", {"rnn": rnn, "head": {"weight": np.ones((1, 3))}})
        >>> list(arrays)  # doctest: +NORMALIZE_WHITESPACE
        ['rnn.weight_ih_l0', 'rnn.weight_hh_l0', 'rnn.bias_ih_l0', 'rnn.bias_hh_l0',
         'head.weight']
        >>> kinds
        {'rnn': 'RNN'}

    """
    arrays: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    _walk(fn, tree, "", arrays, kinds)
    if not kinds:
        raise _errors_files.tree_no_network(fn, list(arrays))
    return arrays, kinds
