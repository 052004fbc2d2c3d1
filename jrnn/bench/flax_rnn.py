"""The flax contender: ``flax.linen.RNN`` of flax's own cells, stacked per layer, time-major.

Its parameters are torch's, mapped exactly, and its gradients are mapped back to torch's names
for the parity check. flax's ``Dense`` kernels are ``(in, out)``, so every kernel is a gate
block of a torch weight, transposed. Where flax has one bias for two of torch's (flax sums the
input and hidden projections before the bias), that bias is their sum, and its gradient is the
gradient of each. The cells (flax/linen/recurrent.py)::

    SimpleCell         h' = tanh(x @ K_i + b_i + h @ K_h)
    OptimizedLSTMCell  gate_j = x @ K_ij + h @ K_hj + b_hj,   j in i f g o; carry (c, h)
    GRUCell            r = sigma(x @ K_ir + b_ir + h @ K_hr)
                       z = sigma(x @ K_iz + b_iz + h @ K_hz)
                       n = tanh(x @ K_in + b_in + r * (h @ K_hn + b_hn))   (torch's n gate)

flax has no ``proj_size``: there is no flax contender for an LSTM with a projection.
Bidirectional layers are ``nn.Bidirectional`` (forward, then reverse with ``keep_order``,
features concatenated: torch's order).
"""

from collections.abc import Callable
from typing import NamedTuple

import flax.linen as nn
import jax.numpy as jnp

from .layout import layer_suffixes, stacked_state, suffix


class Dense(NamedTuple):
    """Where one flax ``Dense`` of a cell comes from in torch's state_dict.

    ``weight`` (``"weight_ih"`` or ``"weight_hh"``) gate block ``gate`` is its kernel, transposed;
    the sum of the same gate block of each of ``biases`` is its bias (none when empty).
    """

    weight: str
    gate: int
    biases: tuple[str, ...]


class FlaxCell(NamedTuple):
    """A flax cell, its ``Dense``s by name, and its carry as torch's ``(h,)`` or ``(h, c)``."""

    module: type[nn.RNNCellBase]
    gates: int
    denses: dict[str, Dense]
    torch_state: Callable


BOTH = ("bias_ih", "bias_hh")
SIMPLE = FlaxCell(
    nn.SimpleCell,
    1,
    {"i": Dense("weight_ih", 0, BOTH), "h": Dense("weight_hh", 0, ())},
    lambda h: (h,),
)
LSTM = FlaxCell(
    nn.OptimizedLSTMCell,
    4,
    {
        **{f"i{gate}": Dense("weight_ih", j, ()) for j, gate in enumerate("ifgo")},
        **{f"h{gate}": Dense("weight_hh", j, BOTH) for j, gate in enumerate("ifgo")},
    },
    lambda carry: (carry[1], carry[0]),  # flax carries (c, h)
)
GRU = FlaxCell(
    nn.GRUCell,
    3,
    {
        "ir": Dense("weight_ih", 0, BOTH),
        "iz": Dense("weight_ih", 1, BOTH),
        "in": Dense("weight_ih", 2, ("bias_ih",)),
        "hr": Dense("weight_hh", 0, ()),
        "hz": Dense("weight_hh", 1, ()),
        "hn": Dense("weight_hh", 2, ("bias_hh",)),
    },
    lambda h: (h,),
)
CELLS = {"rnn": SIMPLE, "lstm": LSTM, "gru": GRU}


def cell_params(cell: FlaxCell, params, key_suffix: str) -> dict:
    """The weights of one layer and direction in torch's state_dict -> the cell's params."""

    def block(key, gate):
        return jnp.split(params[key + key_suffix], cell.gates)[gate]  # (H, in) or (H,)

    flax_params = {}
    for name, dense in cell.denses.items():
        flax_params[name] = {"kernel": block(dense.weight, dense.gate).T}  # (in, H)
        if dense.biases:
            flax_params[name]["bias"] = sum(block(b, dense.gate) for b in dense.biases)  # (H,)
    return flax_params


def cell_grads(cell: FlaxCell, grads, key_suffix: str) -> dict:
    """The flax cell's gradients -> torch's names, each gate block from its one ``Dense``."""
    blocks = {}
    for name, dense in cell.denses.items():
        blocks[dense.weight, dense.gate] = grads[name]["kernel"].T  # (H, in)
        for bias in dense.biases:
            blocks[bias, dense.gate] = grads[name]["bias"]  # (H,)
    keys = sorted({key for key, _ in blocks})
    return {
        key + key_suffix: jnp.concatenate([blocks[key, gate] for gate in range(cell.gates)])
        for key in keys
    }


def _directions(layer_params: dict) -> list[dict]:
    """One layer's params -> its cells' params, forward first."""
    if "cell" in layer_params:
        return [layer_params["cell"]]
    return [layer_params["forward_rnn"]["cell"], layer_params["backward_rnn"]["cell"]]


def from_torch(params, *, cell: FlaxCell) -> list[dict]:
    """A torch state_dict -> one variable dict per layer (``nn.RNN`` or ``nn.Bidirectional``)."""
    layers = []
    for suffixes in layer_suffixes(params):
        cells = [{"cell": cell_params(cell, params, s)} for s in suffixes]
        if len(cells) == 2:
            layers.append({"params": {"forward_rnn": cells[0], "backward_rnn": cells[1]}})
        else:
            layers.append({"params": cells[0]})
    return layers


def grads_to_torch(grads: list[dict], *, cell: FlaxCell) -> dict:
    """Gradients of the per-layer variables -> one dict under torch's names."""
    torch_grads = {}
    for layer, variables in enumerate(grads):
        for direction, cell_grad in enumerate(_directions(variables["params"])):
            torch_grads.update(cell_grads(cell, cell_grad, suffix(layer, direction)))
    return torch_grads


def forward(variables: list[dict], x, *, cell: FlaxCell):
    """``x`` ``(L, N, H_in)`` -> ``(output (L, N, D*H), h_n (S, N, H))``, or with ``(h_n, c_n)``.

    Zero initial carry, as torch's default.
    """
    finals = []
    for layer in variables:
        cells = _directions(layer["params"])
        features = next(iter(cells[0].values()))["kernel"].shape[1]  # H

        def rnn(features=features):
            return nn.RNN(cell.module(features=features), time_major=True, return_carry=True)

        if len(cells) == 2:
            module = nn.Bidirectional(rnn(), rnn(), time_major=True, return_carry=True)
            carries, x = module.apply(layer, x)  # x: (L, N, 2H)
        else:
            carry, x = rnn().apply(layer, x)  # x: (L, N, H)
            carries = (carry,)
        finals += [cell.torch_state(carry) for carry in carries]
    return x, stacked_state(finals)
