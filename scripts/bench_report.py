"""The report half of ``scripts/bench.py``: the machine, the markdown tables and the plot."""

import datetime
import os
import platform
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import flax
import jax
import numpy as np
import torch

MODES = ("fwd", "train")
PARITY_FIELDS = ("output", "h_n", "loss", "grads", "dx")
MEMORY_HEADER = ["shape", "contender", "temporaries", "arguments", "outputs", "h seq (all layers)"]
MEMORY_HEADER += ["temp / h seq"]
ROOFLINE_HEADER = ["shape", "input GEMMs", "sequential GEMMs", "fwd floor", "jrnn fwd"]
ROOFLINE_HEADER += ["train floor (est.)", "jrnn train"]


def cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": cores(),
        "torch_threads": torch.get_num_threads(),
        "jax_backend": jax.default_backend(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "torch": torch.__version__,
        "flax": flax.__version__,
        "numpy": np.__version__,
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _label(name: str, shape: Mapping[str, int]) -> str:
    return f"{name} {', '.join(str(v) for v in shape.values())}"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:.3g} ms"


def _by_shape(results: dict, names: Sequence[str], value: Callable) -> list[str]:
    """A table with one row per shape and a ``value(shape_result, name, mode)`` column each."""
    header = ["shape", *(f"{n} {mode}" for n in names for mode in MODES)]
    rows = [
        [_label(s, r["shape"]), *(value(r, n, mode) for n in names for mode in MODES)]
        for s, r in results["shapes"].items()
    ]
    return _table(header, rows)


def _parity_rows(results: dict) -> list[list[str]]:
    return [
        [s, n, *(f"{e[k]:.1e}" for k in PARITY_FIELDS)]
        for s, r in results["shapes"].items()
        for n, e in r["parity"].items()
    ]


def _memory_rows(results: dict) -> list[list[str]]:
    cases = [
        (name, r["shape"], r["h_sequence_bytes"], r["train_memory"])
        for name, r in results["shapes"].items()
    ]
    if results.get("memory_case"):
        case = results["memory_case"]
        stats = {n: case[n] for n in results["contenders"]}
        cases.append(("long", case["shape"], case["h_sequence_bytes"], stats))
    return [
        [
            _label(name, shape),
            n,
            *(f"{m[k] / 1e6:.3g}" for k in ("temp", "argument", "output")),
            f"{h_seq / 1e6:.3g}",
            f"{m['temp'] / h_seq:.2f}",
        ]
        for name, shape, h_seq, stats in cases
        for n, m in stats.items()
    ]


def _roofline_rows(results: dict) -> list[list[str]]:
    rows = []
    for name, roof in results["roofline"].items():
        timed = results["shapes"][name]
        layers = range(timed["shape"]["layers"])

        def gemms(kind, roof=roof, layers=layers):
            parts = [roof[f"{kind}_l{k}"] for k in layers]
            gflops = ", ".join(f"{p['gflops']:.3g}" for p in parts)
            return f"{_ms(sum(p['median_s'] for p in parts))} ({gflops})"

        jrnn_s = {mode: timed[mode].get("jrnn", {}).get("median_s") for mode in MODES}
        rows.append(
            [
                _label(name, timed["shape"]),
                gemms("input_gemm"),
                gemms("recurrent"),
                _ms(roof["fwd_floor_s"]),
                _ms(jrnn_s["fwd"]),
                _ms(roof["train_floor_estimate_s"]),
                _ms(jrnn_s["train"]),
            ]
        )
    return rows


def markdown(results: dict) -> str:
    """The report: machine, ratios to torch, times, first calls, parity, memory, roofline."""
    m, names = results["machine"], results["contenders"]
    lines = [
        "# jrnn benchmark",
        "",
        f"{m['cpu']}, {m['cores']} cores (torch threads {m['torch_threads']}), "
        f"JAX {m['jax']} ({m['jax_backend']}), torch {m['torch']}, flax {m['flax']}, "
        f"Python {m['python']}; {m['date']}.",
        f"float32, tanh, zero h0; {results['rounds']} paired rounds per shape and mode, in "
        "rotating order; shape = L, N, H_in, H, layers.",
        "",
        "## Time relative to torch.nn.RNN (median of per-round ratios; lower is faster)",
        "",
        *_by_shape(results, names, lambda r, n, mode: f"{r[mode][n]['ratio_to_torch']:.2f}"),
        "",
        "## Median time per call",
        "",
        *_by_shape(results, ["torch", *names], lambda r, n, mode: _ms(r[mode][n]["median_s"])),
        "",
        "## First call of a fresh jit: trace + compile + run (s)",
        "",
        *_by_shape(results, names, lambda r, n, mode: f"{r['first_call_s'][n][mode]['total']:.2f}"),
        "",
        "## Parity with torch (max |error| / max |torch value|)",
        "",
        *_table(["shape", "contender", *PARITY_FIELDS], _parity_rows(results)),
        "",
        "## Train step memory (XLA memory analysis of the compiled step, MB; torch not measured)",
        "",
        *_table(MEMORY_HEADER, _memory_rows(results)),
    ]
    if results.get("roofline"):
        lines += [
            "",
            "## GEMM roofline (JAX; per-layer GFLOP/s in brackets)",
            "",
            "Per layer: input GEMM (L*N, in) x (in, H), and L sequential (N, H) x (H, H) in a "
            "lax.scan. Train floor (estimate): 3 x the input GEMMs (forward, d W_ih, d x) + one "
            "(L*N, H) x (H, H) (d W_hh) + 2 x the sequential chain (forward, d h).",
            "",
            *_table(ROOFLINE_HEADER, _roofline_rows(results)),
        ]
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> None:
    from matplotlib.figure import Figure  # no pyplot: no global backend state

    shapes, names = results["shapes"], results["contenders"]
    fig = Figure(figsize=(12, 4.5))
    axes = fig.subplots(1, 2, sharey=True)
    width = 0.8 / max(len(names), 1)
    for ax, mode in zip(axes, MODES, strict=True):
        for i, n in enumerate(names):
            ratios = [r[mode][n]["ratio_to_torch"] for r in shapes.values()]
            offsets = np.arange(len(shapes)) + (i - (len(names) - 1) / 2) * width
            ax.bar_label(ax.bar(offsets, ratios, width, label=n), fmt="%.2f", fontsize=7)
        ax.axhline(1.0, color="black", linewidth=1, label="torch")
        ax.set_xticks(np.arange(len(shapes)), list(shapes))
        ax.set_title(f"{mode}: time relative to torch.nn.RNN (lower is faster)")
    axes[0].set_ylabel("time / torch time")
    axes[0].legend()
    m = results["machine"]
    fig.suptitle(
        f"{m['cpu']}, {m['cores']} cores; JAX {m['jax']}, torch {m['torch']}, flax {m['flax']}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
