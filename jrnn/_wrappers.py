"""What the Flax wrappers share: one declaration per torch module, flax's dtype policy, one call.

``jrnn.linen`` and ``jrnn.nnx`` only hold params and options. Which torch module a wrapper
mirrors is one :class:`TorchModule` line; checking its options, casting to the compute dtype and
calling the core (naming the wrapper in every error) is written here once, for every kind.
flax is not imported here.
"""

from collections.abc import Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _cells, _driver, _errors_modules, _inputs, _nonlinearity
from ._cell import checked_step
from ._init import check_flags, check_init_args, check_proj_size
from ._params import GATES, cell_layout, rnn_config, rnn_layout


class TorchModule(NamedTuple):
    """The torch module a wrapper mirrors.

    Attributes:
        name: torch's class name, e.g. ``"LSTM"`` or ``"GRUCell"``.
        family: ``"RNN"``, ``"LSTM"`` or ``"GRU"``: the cell equation and the gate layout.
        cell: one step (``torch.nn.*Cell``) rather than a whole network.
    """

    name: str
    family: str
    cell: bool

    def spec(self, nonlinearity: str) -> _cells.CellSpec:
        """The cell kind; ``nonlinearity`` matters only for the Elman family."""
        if self.family == "RNN":
            return _cells.ELMAN[nonlinearity]
        return _cells.LSTM if self.family == "LSTM" else _cells.GRU

    def layout(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        num_layers: int = 1,
        bidirectional: bool = False,
        proj_size: int = 0,
    ) -> dict[str, tuple[int, ...]]:
        """Torch's ``state_dict()`` keys and shapes for this module, in torch's order."""
        gates = GATES[self.family]
        if self.cell:
            return cell_layout(input_size, hidden_size, bias, gates)
        return rnn_layout(
            input_size, hidden_size, num_layers, bias, bidirectional, gates, proj_size
        )


RNN = TorchModule("RNN", "RNN", cell=False)
LSTM = TorchModule("LSTM", "LSTM", cell=False)
GRU = TorchModule("GRU", "GRU", cell=False)
RNN_CELL = TorchModule("RNNCell", "RNN", cell=True)
LSTM_CELL = TorchModule("LSTMCell", "LSTM", cell=True)
GRU_CELL = TorchModule("GRUCell", "GRU", cell=True)


def check_options(
    fn: str,
    module: TorchModule,
    sizes: Mapping[str, object],
    flags: Mapping[str, object],
    *,
    dtype: object,
    param_dtype: object,
    nonlinearity: object = "tanh",
    proj_size: object = 0,
    dropout: object = 0.0,
) -> tuple[int, float]:
    """Refuse a wrapper's options as torch's constructor would; return ``(proj_size, dropout)``.

    ``sizes`` maps ``hidden_size``, ``num_layers`` (and ``input_size`` for NNX) to their values,
    ``flags`` ``bias``, ``batch_first``, ``bidirectional`` (those the module has) to theirs.
    """
    check_init_args(fn, sizes, param_dtype, "param_dtype")
    check_flags(fn, flags)
    if dtype is not None:
        check_init_args(fn, {}, dtype, "dtype")
    _nonlinearity.check(fn, nonlinearity, module.cell)
    if module.cell:
        return 0, 0.0
    proj_size = check_proj_size(fn, module.name, proj_size, sizes["hidden_size"])
    return proj_size, _inputs.dropout_rate(fn, dropout)


def compute_dtype(fn: str, dtype: object, arrays: list) -> np.dtype:
    """The dtype a call computes in: ``dtype``, or (``None``) what ``arrays`` promote to.

    As flax's ``promote_dtype``: integer inputs promote to the params' floating dtype, bfloat16
    inputs with float32 params compute in float32, float64 inputs (x64 on) in float64.
    """
    if dtype is not None:
        return jnp.dtype(dtype)
    promoted = jnp.result_type(*arrays)
    if not jnp.issubdtype(promoted, jnp.floating):
        raise _errors_modules.wrapper_dtype(fn, promoted)
    return promoted


def _cast(value: object, dtype: np.dtype) -> object:
    """``value`` in ``dtype`` if it is an array; anything else is left for the core to name."""
    return value.astype(dtype) if hasattr(value, "dtype") and hasattr(value, "astype") else value


def run(
    fn: str,
    module: TorchModule,
    params: Mapping[str, jax.Array],
    x: object,
    state: object,
    *,
    dtype: object,
    nonlinearity: str = "tanh",
    precision: object = None,
    **options,
):
    """Run ``module`` on ``x`` with ``params``, everything cast to the compute dtype first.

    Shapes:
        As :func:`jrnn.rnn` (networks) or :func:`jrnn.cell_step` (cells); ``state`` is ``h0``
        (``h``) or LSTM's ``(h0, c0)`` (``(h, c)``).

    Args:
        fn: the wrapper's public name (``"jrnn.linen.LSTM"``), named by every error.
        module: which torch module.
        params: the wrapper's params, in its ``param_dtype``.
        x: the input sequence (a network) or step (a cell).
        state: the initial state, or ``None`` for zeros.
        dtype: the compute dtype, or ``None`` to promote ``x``, ``state`` and ``params``.
        nonlinearity: the Elman family's ``"tanh"`` or ``"relu"``.
        precision: passed to every matmul.
        **options: a network's ``batch_first``, ``lengths``, ``dropout``, ``key``, ``unroll``,
            ``checkpoint_every``.

    Returns:
        What the core returns: ``(output, final_state)`` for a network, the next state for a
        cell; in the compute dtype.
    """
    x = _inputs.array(fn, "x_t" if module.cell else "x", x)
    pair = isinstance(state, tuple | list) and module.family == "LSTM"
    leaves = list(state) if pair else [state]
    arrays = [x, *params.values(), *(leaf for leaf in leaves if hasattr(leaf, "dtype"))]
    dtype = compute_dtype(fn, dtype, arrays)
    params = {name: value.astype(dtype) for name, value in params.items()}
    x = x.astype(dtype)
    state = tuple(_cast(leaf, dtype) for leaf in leaves) if pair else _cast(state, dtype)
    cell = module.spec(nonlinearity)
    if module.cell:
        return checked_step(fn, cell, params, x, state, precision)
    config = rnn_config(fn, params, module.family)
    return _driver.run(fn, cell, config, params, x, state, precision=precision, **options)
