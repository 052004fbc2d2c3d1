"""jrnn: torch.nn.RNN semantics as pure, jittable JAX functions, params in torch's layout."""

from ._cell import cell_step as cell_step
from ._params import init_rnn as init_rnn
from ._params import init_rnn_cell as init_rnn_cell
from ._rnn import rnn as rnn

__version__ = "0.1.0"
