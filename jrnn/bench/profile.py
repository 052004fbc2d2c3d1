"""Where a jrnn train step's time goes: XLA's own per-kernel times, from JAX's profiler.

The compiled ``value_and_grad`` of one case runs under ``jax.profiler`` for a number of calls;
every kernel XLA:CPU ran (a fusion, a GEMM, a copy, a while loop, which holds its body's
kernels) is summed over the calls' worker threads and listed with what it computes, read from
the optimized HLO's ``op_name`` (``jvp()/while`` is the forward scan,
``transpose(jvp(...))/.../while`` the backward one). Below the list, the kernels' times summed
by where they run and whether they are GEMMs: the GEMMs' sum is what only faster GEMMs could cut.

Usage: ``python scripts/profile_step.py --kind lstm --shape S1`` (``--help`` for the rest).
"""

import argparse
import collections
import re
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp

from . import contenders
from .cases import KINDS, QUICK_SHAPES, SHAPES, Case, direction_label

ALL_SHAPES = {**SHAPES, **QUICK_SHAPES}
OP_NAME = re.compile(r"^\s*(?:ROOT )?%([\w.\-]+) = (\S+) .*?op_name=\"([^\"]+)\"")


def train_step(kind: str, shape, bidirectional: bool):
    """The benchmark's train step of one case, compiled, and its arguments ``(params, x)``.

    One compiled program serves both the timing and the HLO, so the kernel names match.
    """
    case = Case(KINDS[kind], shape, bidirectional)
    proj = {"proj_size": case.proj_size} if case.proj_size else {}
    params = contenders.JRNN_INIT[case.kind.cell](
        jax.random.key(0),
        shape.H_in,
        shape.H,
        num_layers=shape.layers,
        bidirectional=bidirectional,
        **proj,
    )
    x = jax.random.normal(jax.random.key(1), (shape.L, shape.N, shape.H_in), jnp.float32)
    step = contenders.train_step(contenders.JRNN[case.kind.cell])
    return jax.jit(step).lower(params, x).compile(), (params, x)


def kernel_times(step, args, calls: int) -> dict[str, tuple[float, int]]:
    """``{kernel: (seconds per call, runs per call)}`` over ``calls`` profiled calls."""
    for _ in range(3):  # warm up outside the trace
        jax.block_until_ready(step(*args))
    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder):
            for _ in range(calls):
                jax.block_until_ready(step(*args))
        (trace,) = Path(folder).rglob("*.xplane.pb")
        data = jax.profiler.ProfileData.from_file(str(trace))
    total, count = collections.Counter(), collections.Counter()
    for plane in data.planes:
        for line in plane.lines:
            if line.name == "python":
                continue
            for event in line.events:
                if not event.name.startswith("ThunkExecutor"):
                    total[event.name] += event.duration_ns
                    count[event.name] += 1
    return {name: (total[name] / 1e9 / calls, count[name] / calls) for name in total}


def kernel_ops(step) -> dict[str, tuple[str, str]]:
    """``{kernel: (result shape, op_name)}`` from the compiled step's optimized HLO."""
    hlo = step.as_text()
    return {
        m.group(1): (m.group(2), m.group(3))
        for m in map(OP_NAME.match, hlo.splitlines())
        if m is not None
    }


PLACES = ("forward scan", "backward scan", "outside the scans", "XLA's copies and fills")


def place_and_work(op_name: str) -> tuple[str, str]:
    """Where a kernel runs (:data:`PLACES`) and what it is: ``"GEMM"`` or ``"other"``.

    Read from its ``op_name``: a scan's body is ``.../while/body/...``, the backward's under
    ``transpose(...)``. XLA's own copies and fills carry none (``""``).
    """
    if not op_name:
        return PLACES[3], "other"
    place = PLACES[2]
    if "while/body" in op_name:
        place = PLACES[1] if "transpose(" in op_name else PLACES[0]
    return place, "GEMM" if op_name.endswith("dot_general") else "other"


def totals(times, ops) -> dict[tuple[str, str], float]:
    """Seconds per call of every kernel, summed by :func:`place_and_work`.

    A while loop's own entry holds its body's kernels, so it is left out, and so are the
    profiler's events that are no kernel (``end: ...`` markers, thread-pool waits).
    """
    sums = collections.Counter()
    for name, (seconds, _) in times.items():
        result, op_name = ops.get(name, ("", ""))
        if not result.startswith("(") and not name.startswith("end: ") and "::" not in name:
            sums[place_and_work(op_name)] += seconds
    return dict(sums)


def report(kind: str, shape_name: str, bidirectional: bool, calls: int, top: int) -> str:
    """The ``top`` kernels by time per call, one line each, under a heading naming the case.

    Then the kernels' times summed by place and work (:func:`totals`): the GEMMs' share is the
    part of the step that only faster GEMMs could shorten.
    """
    shape = ALL_SHAPES[shape_name]
    step, args = train_step(kind, shape, bidirectional)
    times = kernel_times(step, args, calls)
    ops = kernel_ops(step)
    case = f"{kind} {direction_label(bidirectional)} {shape_name} {tuple(shape)}"
    lines = [
        f"{case}: train step, {calls} profiled calls",
        f"{'ms/call':>9} {'runs':>6} {'us/run':>8}  kernel: result, op_name",
    ]
    ranked = sorted(times.items(), key=lambda item: -item[1][0])[:top]
    for name, (seconds, runs) in ranked:
        result, op_name = ops.get(name, ("", ""))
        result = "loop" if result.startswith("(") else result  # a while loop's tuple
        per_run = seconds / max(runs, 1) * 1e6
        lines.append(f"{seconds * 1e3:9.3f} {runs:6.0f} {per_run:8.2f}  {name}: {result} {op_name}")
    sums = totals(times, ops)
    lines.append(f"{'ms/call':>9} {'GEMM':>8} {'other':>8}  kernels summed by place")
    for place in PLACES:
        gemm, other = sums.get((place, "GEMM"), 0.0), sums.get((place, "other"), 0.0)
        lines.append(f"{(gemm + other) * 1e3:9.3f} {gemm * 1e3:8.3f} {other * 1e3:8.3f}  {place}")
    gemm = sum(seconds for (_, work), seconds in sums.items() if work == "GEMM")
    lines.append(f"{sum(sums.values()) * 1e3:9.3f} {gemm * 1e3:8.3f} {'':8}  all kernels")
    return "\n".join(lines)


def cli(argv=None) -> None:
    """``python scripts/profile_step.py``: parse the options, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", choices=sorted(KINDS), default="lstm")
    parser.add_argument("--shape", choices=sorted(ALL_SHAPES), default="S1")
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--calls", type=int, default=10, help="profiled calls (default 10)")
    parser.add_argument("--top", type=int, default=20, help="kernels listed (default 20)")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.top < 1:
        parser.error(f"--calls and --top must be at least 1, got {args.calls} and {args.top}")
    print(report(args.kind, args.shape, args.bidirectional, args.calls, args.top))
