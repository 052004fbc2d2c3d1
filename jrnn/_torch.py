"""Moving params between torch and jrnn: :func:`from_torch` and :func:`to_torch`.

Also the steps every importer shares (``jrnn.load`` uses them too): pick one network's entries
out of a bigger state_dict, refuse tensors that are not floating, tell the kind (RNN, LSTM, GRU
or their cells) from the keys and shapes, validate, and order the keys as torch's
``state_dict()`` does. torch is imported only inside the functions that need it.
"""

import sys
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from . import _errors_files, _errors_modules
from ._optional import require
from ._params import (
    FLOAT_DTYPES,
    GATES,
    RNNConfig,
    cell_config,
    cell_layout,
    guess_kind,
    rnn_config,
    rnn_layout,
)

# The first key of every kind's state_dict: torch.nn.RNN/LSTM/GRU's, and their cells'.
ANCHORS = ("weight_ih_l0", "weight_ih")


def config_of(fn: str, params: object) -> tuple[str, RNNConfig]:
    """Tell the kind of a state_dict from its keys and shapes, and validate it as that kind.

    A cell has ``weight_ih``, a network ``weight_ih_l0``. ``weight_hr_l0`` means an LSTM with a
    projection; otherwise ``weight_hh``'s rows over its columns (1, 3, 4) tell RNN, GRU, LSTM.
    Params whose kind cannot be told are validated (and refused) as an Elman RNN's.

    Returns:
        ``(name, config)``: the torch module's name (``"RNN"``, ``"LSTMCell"``, ...) and what the
        params describe (``config.kind`` is ``"RNN"``, ``"LSTM"`` or ``"GRU"``).
    """
    if not isinstance(params, Mapping):
        return "RNN", rnn_config(fn, params)  # raises: params must be a mapping
    cell = "weight_ih" in params and "weight_ih_l0" not in params
    shapes = {key: tuple(getattr(value, "shape", ())) for key, value in params.items()}
    kind = guess_kind(shapes, cell) or "RNN"
    if cell:
        return kind + "Cell", cell_config(fn, params, kind)
    return kind, rnn_config(fn, params, kind)


def torch_order(kind: str, config: RNNConfig) -> list[str]:
    """List the keys of ``torch.nn.{kind}(...).state_dict()`` for ``config``, in torch's order."""
    gates = GATES[config.kind]
    if kind.endswith("Cell"):
        return list(cell_layout(config.input_size, config.hidden_size, config.bias, gates))
    layout = rnn_layout(
        config.input_size,
        config.hidden_size,
        config.num_layers,
        config.bias,
        config.bidirectional,
        gates,
        config.proj_size,
    )
    return list(layout)


def check_prefix(fn: str, prefix: object) -> str:
    """``prefix`` as a str ending in ``"."`` (the dot is optional for callers), or ``""``."""
    if not isinstance(prefix, str):
        raise _errors_files.prefix_type(fn, prefix)
    return prefix if not prefix or prefix.endswith(".") else prefix + "."


def network_prefixes(keys: list[str]) -> list[str]:
    """Find the prefix of every recurrent network or cell in a state_dict, in state_dict order."""
    found = (key[: -len(a)] for key in keys for a in ANCHORS if key.endswith(a))
    return list(dict.fromkeys(p for p in found if p == "" or p.endswith(".")))


def _select(fn: str, entries: Mapping, prefix: str) -> dict[str, object]:
    """Pick one network's entries, ``prefix`` stripped; the only network when no prefix is given."""
    keys = list(entries)
    for key in keys:
        if not isinstance(key, str):
            raise _errors_files.state_dict_key(fn, key)
    if not prefix and not any(anchor in entries for anchor in ANCHORS):
        candidates = network_prefixes(keys)
        if not candidates:
            raise _errors_files.no_network(fn, keys)
        if len(candidates) > 1:
            raise _errors_files.several_networks(fn, candidates)
        prefix = candidates[0]
    selected = {key[len(prefix) :]: entries[key] for key in keys if key.startswith(prefix)}
    if not selected:
        raise _errors_files.prefix_not_found(fn, prefix, network_prefixes(keys))
    return selected


def tensor_to_numpy(fn: str, name: str, tensor) -> np.ndarray:
    """View a torch tensor's values as a NumPy array, bit for bit (bfloat16 included).

    A tensor without values of its own (on the meta device) or not dense (sparse) is refused,
    naming ``fn`` and the tensor's ``name``.
    """
    import torch

    if tensor.is_meta or tensor.layout != torch.strided:
        raise _errors_modules.tensor_without_data(fn, name, tensor)
    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:  # NumPy has no bfloat16 of its own: move the raw bits
        return tensor.view(torch.int16).numpy().view(jnp.bfloat16)
    return tensor.numpy()


def _floating_numpy(fn: str, key: str, value: object) -> np.ndarray:
    torch = sys.modules.get("torch")  # a tensor can only exist once torch has been imported
    is_tensor = torch is not None and isinstance(value, torch.Tensor)
    if not (is_tensor or isinstance(value, np.ndarray | jax.Array)):
        raise _errors_files.state_dict_value(fn, key, value)
    name = str(value.dtype).removeprefix("torch.") if is_tensor else np.dtype(value.dtype).name
    if name not in FLOAT_DTYPES:
        raise _errors_files.tensor_dtype(fn, key, value.dtype)
    return tensor_to_numpy(fn, key, value) if is_tensor else np.asarray(value)


def checked_arrays(
    fn: str, entries: Mapping, prefix: str
) -> tuple[str, RNNConfig, dict[str, np.ndarray]]:
    """Select, convert to NumPy, validate and order one network's entries of a state_dict.

    Args:
        fn: the public function asking, for error messages.
        entries: a state_dict (names to torch tensors, NumPy or JAX arrays).
        prefix: from :func:`check_prefix`.

    Returns:
        ``(kind, config, arrays)``: the torch module's name (``"RNN"``, ``"LSTM"``, ``"GRU"``,
        ``"RNNCell"``, ``"LSTMCell"`` or ``"GRUCell"``), what the params describe, and the arrays
        under torch's names in torch's order.

    """
    selected = _select(fn, entries, prefix)
    arrays = {key: _floating_numpy(fn, key, value) for key, value in selected.items()}
    kind, config = config_of(fn, arrays)
    return kind, config, {key: arrays[key] for key in torch_order(kind, config)}


def to_jax(fn: str, arrays: Mapping[str, np.ndarray]) -> dict[str, jax.Array]:
    """Copy NumPy arrays into JAX arrays of the same dtype, refusing a silent float64 downcast."""
    for key, array in arrays.items():
        if jax.dtypes.canonicalize_dtype(array.dtype) != array.dtype:
            raise _errors_files.x64_disabled(fn, key)
    return {key: jnp.array(array) for key, array in arrays.items()}


def from_torch(obj: object, *, prefix: str = "") -> dict[str, jax.Array]:
    """Read params from a ``torch.nn.RNN/LSTM/GRU`` or cell, a model holding one, or a state_dict.

    Keys, shapes, order and dtype are torch's; values are copied bit for bit. The kind is read
    from the keys and shapes: ``weight_ih_l0`` a network, ``weight_ih`` a cell; ``weight_hr_l0``
    an LSTM with ``proj_size``; otherwise ``weight_hh``'s rows over its columns, 1, 3 or 4 gate
    blocks, tell ``RNN``, ``GRU`` or ``LSTM``. Call :func:`jrnn.rnn`, :func:`jrnn.lstm`,
    :func:`jrnn.gru` (or the ``*_cell_step`` functions) on the result accordingly.

    Shapes:
        As ``obj.state_dict()``, with ``G`` gate blocks (1 RNN, 3 GRU, 4 LSTM) and
        ``P = proj_size or H``: ``weight_ih_l0 (G*H, H_in)``, ``weight_hh_l0 (G*H, P)``,
        ``bias_ih_l0 (G*H,)``, ..., ``weight_hr_l0 (P, H)`` (see :func:`jrnn.init_rnn`,
        :func:`jrnn.init_lstm`, :func:`jrnn.init_gru`).

    Args:
        obj: a ``torch.nn.Module`` (its ``state_dict()`` is read) or a mapping from names to torch
            tensors, NumPy or JAX arrays.
        prefix: take only the entries under this prefix and strip it, e.g. ``"encoder.lstm."``
            on a whole model (the trailing dot is optional). Without a prefix, a state_dict
            holding exactly one recurrent network or cell (of any kind) under some prefix gives
            that one.

    Returns:
        A dict from torch's parameter names to JAX arrays, in torch's ``state_dict`` order.

    Raises:
        TypeError: ``obj`` is neither a Module nor a mapping of tensors or arrays; a selected
            tensor is integer, bool or complex; float64 tensors while JAX's x64 mode is off.
        ValueError: no recurrent network in ``obj``, several and no ``prefix``, nothing under
            ``prefix``, or keys missing, unexpected or mis-shaped for the kind the params show.

    Example:
        >>> import torch, jrnn
        >>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.RNN(4, 5, num_layers=2))
        >>> params = jrnn.from_torch(model, prefix="1.")
        >>> {k: tuple(v.shape) for k, v in params.items()}  # doctest: +NORMALIZE_WHITESPACE
        {'weight_ih_l0': (5, 4), 'weight_hh_l0': (5, 5), 'bias_ih_l0': (5,), 'bias_hh_l0': (5,),
         'weight_ih_l1': (5, 5), 'weight_hh_l1': (5, 5), 'bias_ih_l1': (5,), 'bias_hh_l1': (5,)}
        >>> lstm = jrnn.from_torch(torch.nn.LSTM(4, 5, proj_size=2))  # (4H, H_in), (4H, P), ...
        >>> {k: tuple(v.shape) for k, v in lstm.items()}  # doctest: +NORMALIZE_WHITESPACE
        {'weight_ih_l0': (20, 4), 'weight_hh_l0': (20, 2), 'bias_ih_l0': (20,),
         'bias_hh_l0': (20,), 'weight_hr_l0': (2, 5)}

    """
    fn = "jrnn.from_torch"
    prefix = check_prefix(fn, prefix)
    if isinstance(obj, Mapping):
        entries = obj
    elif callable(getattr(obj, "state_dict", None)):
        entries = obj.state_dict()
    else:
        raise _errors_files.state_dict_type(fn, obj)
    _, _, arrays = checked_arrays(fn, entries, prefix)
    return to_jax(fn, arrays)


def _numpy_to_tensor(array: np.ndarray):
    torch = require("torch", extra="torch", feature="`jrnn.to_torch`")

    array = np.array(array)  # a writable copy, so the tensor owns its memory
    if array.dtype == jnp.bfloat16:
        return torch.from_numpy(array.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(array)


def to_torch(params: Mapping[str, jax.Array]) -> dict:
    """Give params as a ``torch.nn.RNN/LSTM/GRU`` or cell state_dict, fit for ``load_state_dict``.

    Values are copied bit for bit, dtype kept, keys in torch's ``state_dict`` order (LSTM's
    ``weight_hr_l{k}`` last in each layer and direction, as torch has it). The kind is read from
    the keys and shapes as in :func:`from_torch`.

    Shapes:
        Unchanged: ``weight_ih_l0 (G*H, H_in)``, ``weight_hh_l0 (G*H, P)``, ...

    Args:
        params: params of any kind, e.g. from :func:`jrnn.init_lstm` or :func:`from_torch`.

    Returns:
        A dict from torch's parameter names to CPU ``torch.Tensor`` s.

    Raises:
        TypeError: params are not a mapping of arrays, or dtypes are mixed or not floating.
        ValueError: keys are missing, unexpected or mis-shaped.

    Example:
        >>> import jax, torch, jrnn
        >>> params = jrnn.init_rnn(jax.random.key(0), input_size=3, hidden_size=4)
        >>> torch.nn.RNN(3, 4).load_state_dict(jrnn.to_torch(params), strict=True)
        <All keys matched successfully>
        >>> params = jrnn.init_lstm(jax.random.key(0), 3, 4, num_layers=2, proj_size=2)
        >>> lstm = torch.nn.LSTM(3, 4, num_layers=2, proj_size=2)
        >>> lstm.load_state_dict(jrnn.to_torch(params), strict=True)
        <All keys matched successfully>

    """
    kind, config = config_of("jrnn.to_torch", params)
    return {key: _numpy_to_tensor(np.asarray(params[key])) for key in torch_order(kind, config)}
