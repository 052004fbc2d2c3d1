"""bench.png: one row of panels per kind and direction setting, fwd and train side by side."""

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # no pyplot: no global backend state

MODES = ("fwd", "train")


def plot(runs: list[tuple[str, dict]], machine: dict, path: Path) -> None:
    """Bars of each contender's time relative to torch, per shape; ``runs`` as ``report.runs``.

    A contender keeps its colour in every panel, also where a kind lacks one (flax, projected).
    """
    every_name = list(dict.fromkeys(n for _, run in runs for n in run["contenders"]))
    colours = {n: f"C{i}" for i, n in enumerate(every_name)}
    fig = Figure(figsize=(12, 1 + 3.2 * len(runs)))
    axes = fig.subplots(len(runs), 2, sharey="row", squeeze=False)
    for row, (heading, run) in zip(axes, runs, strict=True):
        shapes, names = run["shapes"], run["contenders"]
        width = 0.8 / max(len(names), 1)
        for ax, mode in zip(row, MODES, strict=True):
            for i, n in enumerate(names):
                ratios = [r[mode][n]["ratio_to_torch"] for r in shapes.values()]
                offsets = np.arange(len(shapes)) + (i - (len(names) - 1) / 2) * width
                bars = ax.bar(offsets, ratios, width, label=n, color=colours[n])
                ax.bar_label(bars, fmt="%.2f", fontsize=7)
            ax.axhline(1.0, color="black", linewidth=1, label="torch")
            ax.set_xticks(np.arange(len(shapes)), list(shapes))
            ax.set_title(f"{heading}: {mode}", fontsize=10)
        row[0].set_ylabel(f"time / {run['torch']}", fontsize=8)
        row[0].legend(fontsize=7)
    where = f"{machine['cpu']}, {machine['cores']} cores"
    if "gpu" in machine:
        where = f"{machine['gpu']}, TF32 {machine['tf32']}"
    fig.suptitle(
        f"Time relative to torch (lower is faster). {where}; "
        f"JAX {machine['jax']}, torch {machine['torch']}, flax {machine['flax']}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
