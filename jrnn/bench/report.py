"""The report: the machine, one markdown section per kind and direction setting, bench.json.

``results["kinds"][kind][direction]`` is one run (``direction`` is ``"unidirectional"`` or
``"bidirectional"``): its ``title``, ``torch`` reference, ``contenders``, per-shape ``shapes``
results, and optionally ``memory_case`` and ``roofline``.
"""

import datetime
import json
import os
import platform
from collections.abc import Callable, Sequence
from pathlib import Path

import flax
import jax
import numpy as np
import torch

from .floor_report import floor_tables
from .markdown_table import label, ms, table
from .plot import plot

MODES = ("fwd", "train")
MEMORY_HEADER = ["shape", "contender", "temporaries", "arguments", "outputs", "h seq"]
MEMORY_HEADER += ["temp / h seq"]
CONTENDERS_TEXT = (
    "Contenders: jrnn (`jrnn.rnn` / `lstm` / `gru`); flax (`flax.linen.RNN` of `SimpleCell` / "
    "`OptimizedLSTMCell` / `GRUCell`, stacked per layer, `nn.Bidirectional` when bidirectional, "
    "torch's weights mapped exactly); scan (a textbook `lax.scan`, both matmuls in the step)."
)
VECTOR_EXTENSIONS = [("avx512f", "AVX-512"), ("avx2", "AVX2"), ("asimd", "NEON")]
"""``/proc/cpuinfo`` flag and name, widest first."""
JAX_REFERENCES = {"flax": "flax", "scan": "the plain scan"}
"""The JAX contenders jrnn's times are also given relative to, and what the headings call them."""
TF32_TEXT = {"off": "float32 matmuls in torch and JAX", "on": "torch and JAX matmuls in TF32"}
MEMORY_TEXT = (
    "XLA memory analysis of the compiled train step, MB; torch not measured. h seq is the "
    "hidden-state sequence, L*N*H float32 per layer and direction (H the hidden size, also for "
    "an LSTM, whose c sequence is as large and not counted in it)."
)


def cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_name() -> str:
    """The CPU's model name and, on Linux, its family, model and widest vector extension.

    Two machines that both call themselves "AMD EPYC" can differ twofold in GEMM speed (an
    AVX2 part against an AVX-512 one), so the report says which one ran.
    """
    try:
        with open("/proc/cpuinfo") as f:
            fields = dict(line.split(":", 1) for line in f.read().split("\n\n")[0].splitlines())
    except (OSError, ValueError):
        return platform.processor() or platform.machine()
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    name = fields.get("model name", platform.machine())
    flags = fields.get("flags", fields.get("Features", "")).split()
    vector = next((ext for flag, ext in VECTOR_EXTENSIONS if flag in flags), "no AVX2")
    family, model = fields.get("cpu family", "?"), fields.get("model", "?")
    return f"{name} (family {family}, model {model}, {vector})"


def cpu_times() -> list[int] | None:
    """The whole machine's CPU time counters from ``/proc/stat`` (Linux), else ``None``.

    In ticks: user, nice, system, idle, iowait, irq, softirq, steal (guest time is already in
    user).
    """
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    return [int(value) for value in fields[1:9]]


def steal_share(before: list[int] | None, after: list[int] | None) -> float | None:
    """The share of CPU time between two :func:`cpu_times` that the hypervisor gave elsewhere.

    On a virtual machine whose host is busy it can reach a third: every contender then runs
    slower, by amounts that come and go within a run, so the report states it.
    """
    if before is None or after is None:
        return None
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return spent[7] / sum(spent) if sum(spent) > 0 else None


def machine() -> dict:
    """The CPU, core count, thread setting, versions and date of this run."""
    return {
        "cpu": cpu_name(),
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


def where(machine: dict) -> str:
    """``"<cpu>, <n> cores"``; on a GPU run, the GPU, cuDNN, CUDA and TF32 setting first."""
    host = f"{machine['cpu']}, {machine['cores']} cores"
    if "gpu" not in machine:
        return host
    tf32 = TF32_TEXT[machine["tf32"]]
    gpu = f"{machine['gpu']} (torch on cuda, cuDNN {machine['cudnn']}, CUDA {machine['cuda']})"
    return f"{gpu}, TF32 {machine['tf32']} ({tf32}); host {host}"


def runs(results: dict) -> list[tuple[str, dict]]:
    """``[(heading, run)]``, e.g. ``("GRU, bidirectional", {...})``, in the order they ran."""
    return [
        (f"{run['title']}, {direction}", run)
        for by_direction in results["kinds"].values()
        for direction, run in by_direction.items()
    ]


def _by_shape(run: dict, names: Sequence[str], value: Callable) -> list[str]:
    """A table with one row per shape and a ``value(shape_result, name, mode)`` column each."""
    header = ["shape", *(f"{n} {mode}" for n in names for mode in MODES)]
    rows = [
        [label(s, r["shape"]), *(value(r, n, mode) for n in names for mode in MODES)]
        for s, r in run["shapes"].items()
    ]
    return table(header, rows)


def _parity_table(run: dict) -> list[str]:
    rows = [
        [s, n, *(f"{e:.1e}" for e in errors.values())]
        for s, r in run["shapes"].items()
        for n, errors in r["parity"].items()
    ]
    fields = next(iter(next(iter(run["shapes"].values()))["parity"].values()))
    return table(["shape", "contender", *fields], rows)


def _memory_rows(run: dict) -> list[list[str]]:
    cases = [
        (s, r["shape"], r["h_sequence_bytes"], r["train_memory"]) for s, r in run["shapes"].items()
    ]
    if run.get("memory_case"):
        case = run["memory_case"]
        stats = {n: case[n] for n in run["contenders"]}
        cases.append(("long", case["shape"], case["h_sequence_bytes"], stats))
    return [
        [
            label(name, shape),
            n,
            *(f"{m[k] / 1e6:.3g}" for k in ("temp", "argument", "output")),
            f"{h_seq / 1e6:.3g}",
            f"{m['temp'] / h_seq:.2f}",
        ]
        for name, shape, h_seq, stats in cases
        for n, m in stats.items()
    ]


def _run_section(heading: str, run: dict) -> list[str]:
    """One kind and direction setting: every table, each under a heading naming the kind."""
    names, torch_name = run["contenders"], run["torch"]
    jrnn_names = [n for n in names if n.startswith("jrnn")]
    lines = [f"## {heading}", "", f"Reference: `{torch_name}`. {run['note']}".rstrip(), ""]
    lines += [f"### {heading}: time relative to {torch_name} (median of per-round ratios)", ""]
    lines += _by_shape(run, names, lambda r, n, mode: f"{r[mode][n]['ratio_to_torch']:.2f}")
    for reference, called in JAX_REFERENCES.items():
        if reference in names and jrnn_names:
            title = f"jrnn time relative to {called} (median of per-round ratios)"
            lines += ["", f"### {heading}: {title}", ""]
            key = f"ratio_to_{reference}"
            lines += _by_shape(run, jrnn_names, lambda r, n, m, key=key: f"{r[m][n][key]:.2f}")
    lines += ["", f"### {heading}: median time per call", ""]
    lines += _by_shape(run, ["torch", *names], lambda r, n, mode: ms(r[mode][n]["median_s"]))
    lines += ["", f"### {heading}: first call of a fresh jit, trace + compile + run (s)", ""]
    lines += _by_shape(run, names, lambda r, n, m: f"{r['first_call_s'][n][m]['total']:.2f}")
    lines += ["", f"### {heading}: parity with torch (max |error| / max |torch value|)", ""]
    lines += _parity_table(run)
    lines += ["", f"### {heading}: train step memory", "", MEMORY_TEXT, ""]
    lines += table(MEMORY_HEADER, _memory_rows(run))
    if run.get("roofline"):
        lines += floor_tables(heading, run)
    return [*lines, ""]


def _steal_text(share: float | None) -> str:
    if share is None:
        return ""
    return f"; {share:.0%} of the CPU time during the run was stolen by the hypervisor"


def markdown(results: dict) -> str:
    """The report: the machine, then per kind and direction setting every table."""
    m = results["machine"]
    lines = [
        "# jrnn benchmark",
        "",
        f"{where(m)} (torch threads {m['torch_threads']}), "
        f"JAX {m['jax']} ({m['jax_backend']}), torch {m['torch']}, flax {m['flax']}, "
        f"Python {m['python']}; {m['date']}{_steal_text(m.get('cpu_steal'))}.",
        f"float32, zero initial state; {results['rounds']} paired rounds per shape and mode, in "
        "rotating order, each sample after one untimed call of its own (so that no contender "
        "pays for the threads of the one before it); every ratio is the median over rounds of "
        "a time over the reference's "
        "time in the same round (lower is faster); shape = L, N, H_in, H, layers. "
        "fwd: `output, state = f(x)`; train: one `value_and_grad` of the sum of output and every "
        "final state, with respect to the params and x.",
        "",
        CONTENDERS_TEXT,
        "",
    ]
    for heading, run in runs(results):
        lines += _run_section(heading, run)
    return "\n".join(lines)


def write(results: dict, out: Path) -> str:
    """Write ``bench.json``, ``bench.md`` and ``bench.png`` under ``out``; return the markdown."""
    (out / "bench.json").write_text(json.dumps(results, indent=1))
    text = markdown(results)
    (out / "bench.md").write_text(text)
    plot(runs(results), results["machine"], out / "bench.png")
    return text
