"""Parameter layout in torch's state_dict form, for every cell kind, and reading it back.

The params dict *is* torch's ``state_dict()``: the same keys, in the same order, with the same
shapes. Everything a network's configuration says (input size, hidden size, number of layers,
directions, bias, LSTM projection) is read back from the keys and shapes by :func:`rnn_config`;
only the kind (``"RNN"``, ``"LSTM"``, ``"GRU"``) is given, because it is the function called.
"""

from collections.abc import Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _errors, _errors_files

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
"""Stacked gate blocks in every weight, per kind: ``weight_ih`` is ``(gates * H, H_in)``."""

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
"""The dtypes jrnn computes in (torch's floating dtypes); init, call, torch and file all use it."""


def is_float_dtype(dtype: object) -> bool:
    """Whether ``dtype`` names one of :data:`FLOAT_DTYPES` (float8 and the like are not)."""
    try:
        return jnp.dtype(dtype).name in FLOAT_DTYPES
    except TypeError:  # not a dtype at all, e.g. "foo"
        return False


class RNNConfig(NamedTuple):
    """What a params dict says about its network."""

    input_size: int
    hidden_size: int
    num_layers: int
    bidirectional: bool
    bias: bool
    dtype: np.dtype
    kind: str = "RNN"
    proj_size: int = 0

    @property
    def num_directions(self) -> int:
        """``D``: 2 when bidirectional, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """Features of ``h`` and of each direction's output: ``proj_size`` if set, else ``H``."""
        return self.proj_size or self.hidden_size


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
    proj_size: int = 0,
) -> dict[str, tuple[int, ...]]:
    """Keys and shapes of ``torch.nn.RNN/GRU/LSTM(...).state_dict()``, in torch's order.

    ``gates`` is the number of stacked gate blocks (1 RNN, 3 GRU, 4 LSTM); ``proj_size`` P > 0
    adds LSTM's ``weight_hr (P, H)`` and makes ``h`` (and layer ``k > 0``'s input) P-wide.
    """
    num_directions = 2 if bidirectional else 1
    h_size = proj_size or hidden_size
    layout = {}
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else num_directions * h_size
        for direction in range(num_directions):
            name = f"l{layer}{suffix(direction)}"
            layout[f"weight_ih_{name}"] = (gates * hidden_size, layer_input)
            layout[f"weight_hh_{name}"] = (gates * hidden_size, h_size)
            if bias:
                layout[f"bias_ih_{name}"] = (gates * hidden_size,)
                layout[f"bias_hh_{name}"] = (gates * hidden_size,)
            if proj_size:
                layout[f"weight_hr_{name}"] = (proj_size, hidden_size)
    return layout


def cell_layout(
    input_size: int, hidden_size: int, bias: bool, gates: int = 1
) -> dict[str, tuple[int, ...]]:
    """Keys and shapes of ``torch.nn.RNNCell/GRUCell/LSTMCell(...).state_dict()``."""
    layout = {
        "weight_ih": (gates * hidden_size, input_size),
        "weight_hh": (gates * hidden_size, hidden_size),
    }
    if bias:
        layout["bias_ih"] = (gates * hidden_size,)
        layout["bias_hh"] = (gates * hidden_size,)
    return layout


def _shapes(fn: str, params: object) -> dict[str, tuple[int, ...]]:
    if not isinstance(params, Mapping):
        raise _errors.not_a_mapping(fn, "params", params)
    shapes = {}
    for name, value in params.items():
        if not isinstance(name, str):
            raise _errors.params_key_type(fn, name)
        if not (hasattr(value, "shape") and hasattr(value, "dtype")):
            raise _errors.not_an_array(fn, name, value)
        shapes[name] = tuple(value.shape)
    return shapes


def _common_dtype(fn: str, params: Mapping[str, jax.Array]) -> np.dtype:
    dtypes = {name: jnp.dtype(value.dtype) for name, value in params.items()}
    kinds = set(dtypes.values())
    if len(kinds) != 1 or not is_float_dtype(next(iter(kinds))):
        raise _errors.params_dtype(fn, dtypes)
    return kinds.pop()


def check_jax_holds(fn: str, params: Mapping[str, jax.Array], config: "RNNConfig") -> None:
    """Refuse NumPy float64 params while JAX's x64 mode is off: JAX would compute in float32."""
    if jax.dtypes.canonicalize_dtype(config.dtype) != config.dtype:
        raise _errors_files.x64_disabled(fn, next(iter(params)), "params")


def guess_kind(shapes: Mapping[str, tuple], cell: bool) -> str | None:
    """The kind whose gate count the first recurrent weight shows, or ``None``.

    ``weight_hh`` is ``(gates * H, H)`` (``(4H, P)`` with an LSTM projection, which has
    ``weight_hr``): its rows over ``H`` tell the kind.
    """
    suffix_ = "" if cell else "_l0"
    if f"weight_hr{suffix_}" in shapes:
        return "LSTM"
    recurrent, first = shapes.get(f"weight_hh{suffix_}", ()), shapes.get(f"weight_ih{suffix_}", ())
    if len(recurrent) != 2 or len(first) != 2 or recurrent[0] != first[0] or not recurrent[1]:
        return None
    by_gates = {gates: kind for kind, gates in GATES.items()}
    rows, hidden = recurrent
    return by_gates.get(rows // hidden) if rows % hidden == 0 else None


def _compare(fn, kind, layout, shapes, cell):
    """Raise one ValueError listing every missing, unexpected and mis-shaped key."""
    missing = {k: s for k, s in layout.items() if k not in shapes}
    unexpected = {k: s for k, s in shapes.items() if k not in layout}
    misshaped = {k: (layout[k], s) for k, s in shapes.items() if k in layout and s != layout[k]}
    if missing or unexpected or misshaped:
        guess = guess_kind(shapes, cell)
        hint = _errors.kind_hint(guess, cell) if guess not in (None, kind) else ""
        name = kind + ("Cell" if cell else "")
        raise _errors.params_mismatch(fn, name, missing, unexpected, misshaped, hint)


def _anchor(fn, kind, shapes, cell) -> tuple[int, int]:
    """The shape of the first input weight, the anchor every other shape is read from."""
    key, gates = ("weight_ih" if cell else "weight_ih_l0"), GATES[kind]
    name = kind + ("Cell" if cell else "")
    shape = shapes.get(key)
    want = (f"{gates}*H" if gates > 1 else "H", "H_in")
    if shape is None:  # nothing to read the sizes from: every other key is unexpected
        prefixes = sorted({k[: -len(key)] for k in shapes if k.endswith("." + key)})
        hint = _errors.prefix_hint(prefixes[0]) if prefixes else ""
        raise _errors.params_mismatch(fn, name, {key: want}, shapes, {}, hint)
    if len(shape) != 2 or shape[0] % gates or not shape[0] or not shape[1]:
        guess = guess_kind(shapes, cell)
        hint = _errors.kind_hint(guess, cell) if guess not in (None, kind) else ""
        raise _errors.params_mismatch(fn, name, {}, {}, {key: (want, shape)}, hint)
    return shape


def rnn_config(fn: str, params: object, kind: str = "RNN") -> RNNConfig:
    """Read and validate the configuration of a ``torch.nn.RNN/GRU/LSTM`` params dict.

    Args:
        fn: the public function asking, for error messages.
        params: the params dict.
        kind: ``"RNN"``, ``"GRU"`` or ``"LSTM"``.

    Returns:
        The :class:`RNNConfig` the keys and shapes describe.

    Raises:
        TypeError: params is not a mapping of arrays, or dtypes are mixed or not floating.
        ValueError: keys are missing, unexpected or mis-shaped; a projection that is not
            smaller than the hidden size.
    """
    gates = GATES[kind]
    shapes = _shapes(fn, params)
    if "weight_ih" in shapes and "weight_ih_l0" not in shapes:
        raise _errors.cell_params_passed_to_rnn(fn, kind, guess_kind(shapes, cell=True))
    first = _anchor(fn, kind, shapes, cell=False)
    hidden_size = first[0] // gates
    projection = shapes.get("weight_hr_l0", ())
    proj_size = projection[0] if kind == "LSTM" and len(projection) == 2 else 0
    if proj_size >= hidden_size:
        raise _errors.proj_size_too_large(fn, proj_size, hidden_size, "params['weight_hr_l0']")
    num_layers = 1
    while any(f"weight_{w}_l{num_layers}" in shapes for w in ("ih", "hh")):
        num_layers += 1
    config = RNNConfig(
        input_size=first[1],
        hidden_size=hidden_size,
        num_layers=num_layers,
        bidirectional=any(k.endswith("_reverse") for k in shapes),
        bias=any(k.startswith("bias_") for k in shapes),
        dtype=None,
        kind=kind,
        proj_size=proj_size,
    )
    layout = rnn_layout(
        config.input_size,
        hidden_size,
        num_layers,
        config.bias,
        config.bidirectional,
        gates,
        proj_size,
    )
    _compare(fn, kind, layout, shapes, cell=False)
    return config._replace(dtype=_common_dtype(fn, params))


def cell_config(fn: str, params: object, kind: str = "RNN") -> RNNConfig:
    """Read and validate a ``torch.nn.RNNCell/GRUCell/LSTMCell`` params dict (as `rnn_config`)."""
    gates = GATES[kind]
    shapes = _shapes(fn, params)
    if "weight_ih_l0" in shapes and "weight_ih" not in shapes:
        raise _errors.rnn_params_passed_to_cell(fn, kind, guess_kind(shapes, cell=False))
    first = _anchor(fn, kind, shapes, cell=True)
    hidden_size = first[0] // gates
    bias = any(k.startswith("bias_") for k in shapes)
    layout = cell_layout(first[1], hidden_size, bias, gates)
    _compare(fn, kind, layout, shapes, cell=True)
    return RNNConfig(first[1], hidden_size, 1, False, bias, _common_dtype(fn, params), kind=kind)
