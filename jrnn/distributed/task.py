"""The task every run trains: the adding problem, drawn on the host, and a recurrent net + head.

The adding problem (as in :mod:`jrnn.demo`): each step carries a value from U(0, 1) and a
marker; two steps are marked, one in each half of the row's valid part, and the target is the
sum of the two marked values. Batches come from NumPy, seeded by ``(seed, step)``, so every
process draws the same global batch for a step without talking to the others, and a run on one
device trains on exactly the data a run on many does.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import jrnn
from jrnn._params import GATES, rnn_layout

CELLS = {"rnn": jrnn.rnn, "lstm": jrnn.lstm, "gru": jrnn.gru}
INPUT_SIZE = 2  # the value and the marker


@dataclasses.dataclass(frozen=True)
class Config:
    """What decides a training run, the same in every process (hashable: fit for a jit closure).

    Attributes:
        cell: ``"rnn"`` (tanh), ``"lstm"`` or ``"gru"``.
        steps: optimiser steps, each on a fresh global batch.
        batch_size: global batch ``N``, split over the devices of the ``data`` axis.
        seq_len: time steps ``L``.
        hidden_size: ``H``.
        num_layers: stacked layers.
        bidirectional: run each layer both ways.
        variable_lengths: draw each row's length from ``[2, L]`` (PackedSequence semantics).
        dropout: dropout between layers while training (needs ``num_layers >= 2``).
        lr: SGD learning rate.
        seed: decides the initial model, every batch and every dropout key.
    """

    cell: str = "rnn"
    steps: int = 20
    batch_size: int = 64
    seq_len: int = 20
    hidden_size: int = 16
    num_layers: int = 1
    bidirectional: bool = False
    variable_lengths: bool = False
    dropout: float = 0.0
    lr: float = 0.1
    seed: int = 0


def adding_batch(config: Config, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw the global batch of ``step``, the same in every process.

    Shapes:
        ``x``: ``(L, N, 2)`` float32 (value, marker), zero past each row's length.
        ``y``: ``(N,)`` float32. ``lengths``: ``(N,)`` int32.

    Args:
        config: the run's settings (``seed``, ``batch_size``, ``seq_len``, ``variable_lengths``).
        step: the step index; with ``config.seed`` it seeds the batch.

    Returns:
        ``(x, y, lengths)`` as NumPy arrays.

    Example:
        >>> x, y, lengths = adding_batch(Config(batch_size=3, seq_len=6), step=0)
        >>> x.shape, y.shape, x[:, :, 1].sum(axis=0).tolist(), lengths.tolist()
        ((6, 3, 2), (3,), [2.0, 2.0, 2.0], [6, 6, 6])
    """
    rng = np.random.default_rng([config.seed, step])
    n, seq_len = config.batch_size, config.seq_len
    lengths = np.full(n, seq_len)
    if config.variable_lengths:
        lengths = rng.integers(2, seq_len + 1, n)  # (N,)
    half = lengths // 2
    first, second = rng.integers(0, half), rng.integers(half, lengths)  # (N,) each
    steps = np.arange(seq_len)[:, None]  # (L, 1)
    values = rng.uniform(size=(seq_len, n)) * (steps < lengths)  # (L, N)
    markers = (steps == first) | (steps == second)  # (L, N)
    x = np.stack([values, markers], axis=-1).astype(np.float32)  # (L, N, 2)
    y = (values * markers).sum(axis=0).astype(np.float32)  # (N,)
    return x, y, lengths.astype(np.int32)


def init_model(seed: int, config: Config) -> dict:
    """Initialise ``{"rnn": torch-layout params, "head": torch.nn.Linear(D*H, 1) params}``.

    Drawn on the host with NumPy, as torch initialises: every tensor of torch's layout
    (:func:`jrnn._params.rnn_layout`, in torch's order) from U(-1/sqrt(H), 1/sqrt(H)); the
    head's weight from its own fan-in, its bias zero. Drawing with ``jax.random`` instead would
    compile a threefry kernel per tensor shape: seconds on a small CPU, for each run.

    Args:
        seed: decides every parameter; the same in every process gives the same model.
        config: the run's settings (``cell``, sizes, ``num_layers``, ``bidirectional``).

    Returns:
        The model as float32 NumPy arrays.

    Example:
        >>> model = init_model(0, Config(cell="gru", hidden_size=3))
        >>> model["rnn"]["weight_hh_l0"].shape, model["head"]["weight"].shape
        ((9, 3), (1, 3))
    """
    gates = GATES[config.cell.upper()]
    layout = rnn_layout(
        INPUT_SIZE, config.hidden_size, config.num_layers, True, config.bidirectional, gates
    )
    rng = np.random.default_rng(seed)
    features = (2 if config.bidirectional else 1) * config.hidden_size

    def uniform(shape, fan_in):
        bound = 1.0 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    rnn_params = {name: uniform(shape, config.hidden_size) for name, shape in layout.items()}
    head = {"weight": uniform((1, features), features), "bias": np.zeros(1, np.float32)}
    return {"rnn": rnn_params, "head": head}


def loss(model: dict, x, y, lengths, key: jax.Array | None, config: Config) -> jax.Array:
    """Mean squared error of the head on the last layer's final states, against ``y``.

    Shapes:
        ``x``: ``(L, N, 2)``; ``y``, ``lengths``: ``(N,)``.

    Args:
        model: from :func:`init_model`.
        x: the inputs.
        y: the targets.
        lengths: each row's valid steps.
        key: dropout key, or ``None`` for no dropout.
        config: the run's settings (``cell``, ``dropout``, ``bidirectional``).

    Returns:
        The scalar loss.
    """
    forward = CELLS[config.cell]
    dropout = config.dropout if key is not None else 0.0
    _, state = forward(model["rnn"], x, lengths=lengths, dropout=dropout, key=key)
    h_n = state[0] if config.cell == "lstm" else state  # (S, N, H)
    directions = 2 if config.bidirectional else 1
    last = jnp.concatenate(list(h_n[-directions:]), axis=-1)  # (N, D*H)
    prediction = last @ model["head"]["weight"][0] + model["head"]["bias"][0]  # (N,)
    return jnp.mean((prediction - y) ** 2)
