"""jrnn: torch's RNN, LSTM and GRU as pure, jittable JAX functions, params in torch's layout."""

from ._cell import cell_step as cell_step
from ._cell import gru_cell_step as gru_cell_step
from ._cell import lstm_cell_step as lstm_cell_step
from ._errors import TypeAndValueError as TypeAndValueError
from ._errors import ValueAndRuntimeError as ValueAndRuntimeError
from ._init import init_gru as init_gru
from ._init import init_gru_cell as init_gru_cell
from ._init import init_lstm as init_lstm
from ._init import init_lstm_cell as init_lstm_cell
from ._init import init_rnn as init_rnn
from ._init import init_rnn_cell as init_rnn_cell
from ._io import CheckpointError as CheckpointError
from ._io import load as load
from ._io import load_metadata as load_metadata
from ._io import save as save
from ._rnn import gru as gru
from ._rnn import lstm as lstm
from ._rnn import rnn as rnn
from ._torch import from_torch as from_torch
from ._torch import to_torch as to_torch

__version__ = "0.1.0"
