"""What is benchmarked: the network kinds, the shapes, and one (kind, shape, directions) case."""

import dataclasses
from typing import NamedTuple

FLOAT32_BYTES = 4


class Shape(NamedTuple):
    """One benchmark size: ``L`` time, ``N`` batch, ``H_in`` input, ``H`` hidden, layers."""

    L: int
    N: int
    H_in: int
    H: int
    layers: int


SHAPES = {
    "S1": Shape(100, 32, 64, 128, 1),
    "S2": Shape(512, 64, 128, 256, 2),
    "S3": Shape(1000, 1, 32, 64, 1),
    "S4": Shape(64, 256, 512, 512, 3),
    "S5": Shape(2000, 16, 16, 128, 1),
}
QUICK_SHAPES = {"Q1": Shape(16, 4, 8, 16, 1), "Q2": Shape(8, 3, 6, 8, 2)}
MEMORY_SHAPE = Shape(20000, 16, 16, 128, 1)
QUICK_MEMORY_SHAPE = Shape(400, 4, 4, 16, 1)


@dataclasses.dataclass(frozen=True)
class Kind:
    """One benchmarked network kind.

    Attributes:
        name: its ``--kinds`` name.
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``: which torch module, jrnn function, flax cell
            and textbook step it uses.
        gates: gate blocks stacked in ``weight_ih``: 1, 4 or 3.
        projected: an LSTM with ``proj_size = H // 2``.
        title: its heading in the report.
        note: what its report section must say beside the tables.
        cpu_note: what it must say after ``note`` when torch ran on the CPU.
    """

    name: str
    cell: str
    gates: int
    projected: bool
    title: str
    note: str = ""
    cpu_note: str = ""


KINDS = {
    "rnn": Kind("rnn", "rnn", 1, False, "Elman RNN (tanh)"),
    "lstm": Kind("lstm", "lstm", 4, False, "LSTM"),
    "lstm_proj": Kind(
        "lstm_proj",
        "lstm",
        4,
        True,
        "LSTM with proj_size = H // 2",
        "flax has no proj_size, so there is no flax contender.",
        "torch runs an LSTM with projections without oneDNN (its own warning says so).",
    ),
    "gru": Kind("gru", "gru", 3, False, "GRU"),
}
TORCH_NAMES = {"rnn": "torch.nn.RNN", "lstm": "torch.nn.LSTM", "gru": "torch.nn.GRU"}


@dataclasses.dataclass(frozen=True)
class Case:
    """One kind at one shape, uni- or bidirectional."""

    kind: Kind
    shape: Shape
    bidirectional: bool

    @property
    def directions(self) -> int:
        """``D``: 2 when bidirectional, else 1."""
        return 2 if self.bidirectional else 1

    @property
    def proj_size(self) -> int:
        """The ``proj_size`` torch gets: ``H // 2`` for ``lstm_proj``, else 0 (none)."""
        return self.shape.H // 2 if self.kind.projected else 0

    @property
    def out_size(self) -> int:
        """``P``, the size of ``h``: ``proj_size`` when projected, else ``H``."""
        return self.proj_size or self.shape.H

    @property
    def h_sequence_bytes(self) -> int:
        """The hidden-state sequence of every layer and direction: ``L*N*H`` float32 each."""
        shape = self.shape
        return shape.L * shape.N * shape.H * FLOAT32_BYTES * shape.layers * self.directions

    @property
    def torch_name(self) -> str:
        """The reference, e.g. ``torch.nn.LSTM(proj_size=H // 2, bidirectional=True)``."""
        return torch_name(self.kind, self.bidirectional)


def torch_name(kind: Kind, bidirectional: bool) -> str:
    """The torch module a kind is checked and timed against, with its options."""
    options = ["proj_size=H // 2"] if kind.projected else []
    options += ["bidirectional=True"] if bidirectional else []
    return f"{TORCH_NAMES[kind.cell]}({', '.join(options)})" if options else TORCH_NAMES[kind.cell]


def direction_label(bidirectional: bool) -> str:
    """The key of a direction setting in the results: ``"unidirectional"``, ``"bidirectional"``."""
    return "bidirectional" if bidirectional else "unidirectional"
