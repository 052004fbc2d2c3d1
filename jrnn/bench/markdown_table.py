"""Markdown tables and the cell formats the benchmark reports share."""

from collections.abc import Sequence


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """The lines of a markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def label(name: str, shape: dict) -> str:
    """A shape's row label, e.g. ``"S1 100, 32, 64, 128, 1"``."""
    return f"{name} {', '.join(str(v) for v in shape.values())}"


def ms(seconds: float | None) -> str:
    """Seconds as milliseconds, 3 significant digits; ``"-"`` for none."""
    return "-" if seconds is None else f"{seconds * 1e3:.3g} ms"
