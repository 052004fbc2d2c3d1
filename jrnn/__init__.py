"""jrnn: torch.nn.RNN semantics as pure, jittable JAX functions, params in torch's layout."""

from ._cell import cell_step as cell_step
from ._io import CheckpointError as CheckpointError
from ._io import load as load
from ._io import load_metadata as load_metadata
from ._io import save as save
from ._params import init_rnn as init_rnn
from ._params import init_rnn_cell as init_rnn_cell
from ._rnn import rnn as rnn
from ._torch import from_torch as from_torch
from ._torch import to_torch as to_torch

__version__ = "0.1.0"
