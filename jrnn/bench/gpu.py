"""The GPU benchmark in one process and a time budget: what ``scripts/bench_gpu.sh`` runs.

jrnn and flax against torch's cuDNN RNN/LSTM/GRU (the textbook scan is left out for time), every
kind uni- and bidirectional, float32 with TF32 off at S1..S5 and with TF32 on at S2 and S4 (the
GEMM-heavy shapes; at N=1 or N=16 the matmuls are too small for TF32 to matter); 3 rounds, no
long-sequence memory case, no roofline. Each (shape, TF32 setting, kind) is one call of
:func:`jrnn.bench.cli.main`, smallest shapes first, so that:

- a contender that fails parity (or any other error) costs only its case, which the report
  lists;
- once the budget is spent no case starts, and the report lists those left out;
- the report is rewritten after every case (its plots at the end), so a hard timeout leaves it.

Writes under ``out``: ``bench_gpu.md`` (fit for ``docs/bench_gpu.md``), ``bench_gpu.json`` and
``bench_gpu_tf32_off.png`` / ``bench_gpu_tf32_on.png``. ``--device cpu`` rehearses it on a CPU
(TF32 off only).
"""

import argparse
import json
import os
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from .cli import main as bench_main
from .measure import ParityError
from .plot import plot
from .report import markdown, runs

KINDS = ("lstm", "gru", "rnn", "lstm_proj")
SHAPES = {"off": ("S1", "S2", "S3", "S4", "S5"), "on": ("S2", "S4")}
OPTIONS = {"bidirectional": True, "contenders": ["jrnn", "flax"], "memory": False}


def plan(shapes: Mapping[str, Sequence[str]], kinds: Sequence[str]) -> list[tuple[str, str, str]]:
    """``[(shape, tf32, kind)]``: shapes in the order first seen, TF32 off before on."""
    ordered = list(dict.fromkeys(s for names in shapes.values() for s in names))
    return [
        (shape, tf32, kind)
        for shape in ordered
        for tf32 in ("off", "on")
        if shape in shapes.get(tf32, ())
        for kind in kinds
    ]


def merge(into: dict, one: dict) -> None:
    """Add one call's results (one kind, one shape, both directions) to ``into``."""
    for kind, by_direction in one["kinds"].items():
        for direction, run in by_direction.items():
            merged = into["kinds"].setdefault(kind, {}).setdefault(direction, run)
            merged["shapes"].update(run["shapes"])


def _demoted(text: str, heading: str) -> str:
    """bench.md under ``heading`` (level 2): its title dropped, every other heading one deeper."""
    body = text.split("\n", 1)[1]
    return f"## {heading}\n" + re.sub(r"^(#+) ", r"#\1 ", body, flags=re.MULTILINE)


def write(results: dict, failed: list[str], left_out: list[str], out: Path, *, plots=True) -> str:
    """bench_gpu.md, bench_gpu.json and (with ``plots``) one plot per TF32 setting under ``out``."""
    lines = [
        "# jrnn benchmark on GPU",
        "",
        "Made by `scripts/bench_gpu.sh` (`jrnn.bench.gpu`): jrnn and flax against torch's cuDNN "
        "modules, every kind uni- and bidirectional, each shape with TF32 off (float32 "
        "matmuls in torch and JAX) and, at the GEMM-heavy shapes, on. Parity tolerance: 1e-4 "
        "with TF32 off, 1e-2 with it on (relative to the largest torch value).",
        "",
    ]
    for title, items in (("Failed (not timed)", failed), ("Left out (budget)", left_out)):
        if items:
            lines += [f"{title}:", "", *(f"- {item}" for item in items), ""]
    for tf32, merged in results.items():
        lines.append(_demoted(markdown(merged), f"TF32 {tf32}"))
        if plots:
            plot(runs(merged), merged["machine"], out / f"bench_gpu_tf32_{tf32}.png")
    text = "\n".join(lines)
    (out / "bench_gpu.md").write_text(text)
    saved = {"tf32": results, "failed": failed, "left_out": left_out}
    (out / "bench_gpu.json").write_text(json.dumps(saved, indent=1))
    return text


def main(
    *,
    out: str | os.PathLike = "bench_gpu_out",
    budget_s: float = 330.0,
    device: str = "gpu",
    kinds: Sequence[str] = KINDS,
    shapes: Mapping[str, Sequence[str]] | None = None,
    rounds: int = 3,
    min_sample_s: float = 0.002,
) -> dict:
    """Run the plan until ``budget_s`` is spent; write the report under ``out``.

    Args:
        out: output folder.
        budget_s: no case starts after this many seconds (a started one finishes).
        device: ``"gpu"``, or ``"cpu"`` to rehearse (then TF32 off only).
        kinds: from ``jrnn.bench.cases.KINDS``, in the order they run.
        shapes: ``{"off": shape names, "on": shape names}``, default SHAPES.
        rounds: paired rounds per case and mode.
        min_sample_s: repeat calls within a sample up to this long.

    Returns:
        ``{"tf32": {setting: results as cli.main's}, "failed": [...], "left_out": [...]}``.
    """
    shapes = dict(SHAPES if shapes is None else shapes)
    if device == "cpu":
        shapes.pop("on", None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    results, failed, left_out = {}, [], []
    with tempfile.TemporaryDirectory() as scratch:
        for shape, tf32, kind in plan(shapes, kinds):
            label = f"{shape}, TF32 {tf32}, {kind}"
            if time.monotonic() - start > budget_s:
                left_out.append(label)
                continue
            print(f"=== {label} at {time.monotonic() - start:.0f} s", flush=True)
            try:
                one = bench_main(
                    kinds=[kind],
                    shapes=[shape],
                    rounds=rounds,
                    min_sample_s=min_sample_s,
                    device=device,
                    tf32=tf32,
                    out=scratch,
                    **OPTIONS,
                )
            except Exception as error:  # noqa: BLE001 - one case's failure must not end the run
                kind_of = "" if isinstance(error, ParityError) else f"{type(error).__name__}: "
                failed.append(f"{label}: {kind_of}{error}")
                print(f"=== {label}: {kind_of}{error}", flush=True)
                continue
            empty = {"machine": one["machine"], "rounds": one["rounds"], "kinds": {}}
            merge(results.setdefault(tf32, empty), one)
            write(results, failed, left_out, out, plots=False)  # what a hard timeout leaves
    write(results, failed, left_out, out)
    print(f"=== done in {time.monotonic() - start:.0f} s; wrote {out / 'bench_gpu.md'}")
    print(f"=== failed: {failed or 'none'}; left out: {left_out or 'none'}")
    return {"tf32": results, "failed": failed, "left_out": left_out}


def _names(text: str) -> list[str]:
    return [s for s in text.split(",") if s]


def cli(argv: Sequence[str] | None = None) -> dict:
    """Parse ``argv`` (default ``sys.argv[1:]``) and call :func:`main`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.environ.get("OUT", "bench_gpu_out"))
    parser.add_argument("--budget-s", type=float, default=330.0, help="no case starts after")
    parser.add_argument("--device", choices=("gpu", "cpu"), default="gpu")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--shapes-off", default=",".join(SHAPES["off"]), help="TF32 off")
    parser.add_argument("--shapes-on", default=",".join(SHAPES["on"]), help="TF32 on")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    return main(
        out=args.out,
        budget_s=args.budget_s,
        device=args.device,
        kinds=_names(args.kinds),
        shapes={"off": _names(args.shapes_off), "on": _names(args.shapes_on)},
        rounds=args.rounds,
    )
