"""Side-by-side benchmark: jrnn against torch, flax.linen and a plain lax.scan, per kind.

For every selected kind (``rnn`` tanh, ``lstm``, ``lstm_proj`` with ``proj_size = H // 2``,
``gru``), unidirectional and, with ``--bidirectional``, also bidirectional, every contender runs
the same float32 network with torch's weights and a zero initial state. Before any timing, each
JAX contender's output, final states and gradients are checked against torch. Contenders are
then timed interleaved in one process: each round times every contender once, in an order that
rotates from round to round, and the report gives medians over rounds, with each contender's
time divided by torch's (and jrnn's by flax's) in the same round.

- "fwd": ``output, state = f(x)`` (torch under ``no_grad``).
- "train": one ``value_and_grad`` of ``output.sum()`` plus the sum of every final state w.r.t.
  the params and ``x`` (torch: forward and backward with fresh ``.grad`` each time).
- first call: trace + compile + run of a freshly jitted function (JAX only).
- train memory: XLA's memory analysis of the compiled train step, beside the size of the h
  sequence, ``L*N*H*4`` bytes per layer and direction; also for a long sequence (L=20000, N=16,
  H=128) that is compiled, not run (``--no-memory`` skips that one). torch's is not measured.
- roofline (``--roofline``): the hoisted input GEMM alone, ``L`` sequential GEMMs alone (a
  ``lax.scan`` of just the matmul) and the backward's whole-sequence GEMMs alone, per layer and
  direction: the XLA floor of each shape; and the textbook backward loop (``backward_loop``).

On ``--device cpu`` (the default) torch and JAX run on the CPU. On ``--device gpu`` torch runs
its cuDNN RNN/LSTM/GRU on ``cuda`` and JAX on its GPU backend, with ``--tf32 off`` (float32
matmuls, the default) or ``on`` (TF32 matmuls in both, a looser parity tolerance): see
``device``. ``scripts/bench_gpu.sh`` is the prepared GPU run.

Writes ``bench.md``, ``bench.json`` and ``bench.png`` under ``--out``.

Usage::

    python scripts/bench.py --quick                        # tiny shapes, every kind
    python scripts/bench.py                                # S1..S5, 7 rounds, every kind
    python scripts/bench.py --kinds lstm,gru --bidirectional --shapes S1,S3 --roofline
    python scripts/bench.py --kinds rnn --jrnn-variant checkpoint_every=100 --jrnn-variant unroll=2
    python scripts/bench.py --device gpu --tf32 on --bidirectional --no-memory --rounds 3
"""

import argparse
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from .cases import (
    KINDS,
    MEMORY_SHAPE,
    QUICK_MEMORY_SHAPE,
    QUICK_SHAPES,
    SHAPES,
    Case,
    Shape,
    direction_label,
    torch_name,
)
from .contenders import CONTENDERS, for_kind, jrnn_variant
from .device import DEVICES, TF32, check, describe, placed, torch_device
from .device import tolerance as default_tolerance
from .measure import bench_case, bench_memory
from .report import cores, cpu_times, machine, steal_share, write
from .roofline import bench_roofline


def _resolve_shapes(shapes, quick) -> dict[str, Shape]:
    known = {**SHAPES, **QUICK_SHAPES}
    if shapes is None:
        return dict(QUICK_SHAPES if quick else SHAPES)
    if isinstance(shapes, Mapping):
        return {name: Shape(*dims) for name, dims in shapes.items()}
    unknown = [s for s in shapes if s not in known]
    if unknown:
        raise ValueError(f"bench: unknown shapes {unknown}; known: {sorted(known)}")
    return {name: known[name] for name in shapes}


def _check_names(what: str, names: Sequence[str], known: Sequence[str]) -> None:
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"bench: unknown {what} {unknown}; known: {list(known)}")


def _run(
    kind, bidirectional, factories, shapes, long, *, roofline, tolerance, device, **timing
) -> dict:
    """Every shape of one kind and direction setting: timings, memory case, roofline."""
    contenders = for_kind(kind, factories)
    note = " ".join(filter(None, [kind.note, kind.cpu_note if device == "cpu" else ""]))
    run = {"title": kind.title, "torch": torch_name(kind, bidirectional), "note": note}
    run.update(contenders=list(contenders), shapes={})
    for name, shape in shapes.items():
        print(f"{kind.name} {direction_label(bidirectional)} {name} {tuple(shape)} ...", flush=True)
        case = Case(kind, shape, bidirectional)
        run["shapes"][name] = bench_case(
            case, contenders, tolerance=tolerance, torch_device=torch_device(device), **timing
        )
    if long is not None:
        print(f"{kind.name} memory {tuple(long)} ...", flush=True)
        run["memory_case"] = bench_memory(Case(kind, long, bidirectional), contenders)
    if roofline:
        run["roofline"] = {
            name: bench_roofline(Case(kind, shape, bidirectional), **timing)
            for name, shape in shapes.items()
        }
    return run


def main(
    *,
    quick: bool = False,
    kinds: Sequence[str] | None = None,
    bidirectional: bool = False,
    rounds: int | None = None,
    shapes: Sequence[str] | Mapping[str, Sequence[int]] | None = None,
    out: str | os.PathLike = "results/bench",
    memory: bool = True,
    memory_shape: Sequence[int] | None = None,
    roofline: bool = False,
    contenders: Sequence[str] | None = None,
    jrnn_variants: Sequence[str] = (),
    min_sample_s: float | None = None,
    tolerance: float | None = None,
    seed: int = 0,
    device: str = "cpu",
    tf32: str = "off",
) -> dict:
    """Run the benchmark, write bench.md, bench.json, bench.png under ``out``; return the results.

    Args:
        quick: QUICK_SHAPES, 3 rounds, one call per sample, a short long-sequence memory case.
        kinds: names from KINDS (``rnn``, ``lstm``, ``lstm_proj``, ``gru``), default all.
        bidirectional: also run every kind bidirectional.
        rounds: paired rounds per shape and mode (default 7; 3 when quick).
        shapes: names from SHAPES / QUICK_SHAPES, or ``{name: (L, N, H_in, H, layers)}``.
        out: folder for the report.
        memory: compile (not run) the train step at the long ``memory_shape`` for its memory.
        memory_shape: ``(L, N, H_in, H, layers)``, default MEMORY_SHAPE (QUICK_MEMORY_SHAPE).
        roofline: also time the GEMMs alone for every shape.
        contenders: names from CONTENDERS, default all; torch is always the reference, and a
            contender a kind lacks (flax for ``lstm_proj``) is left out of that kind.
        jrnn_variants: extra jrnn contenders by keyword options, e.g. ``"unroll=2"``.
        min_sample_s: repeat calls within a sample up to this long (default 0.02; 0 when quick).
        tolerance: largest relative error to torch accepted before timing; default 1e-4, or
            1e-2 with ``tf32="on"`` (``device.TOLERANCE``).
        seed: for torch's weights and the input.
        device: ``"cpu"``, or ``"gpu"``: torch's cuDNN modules on ``cuda``, JAX on its GPU.
        tf32: ``"off"`` (float32 matmuls) or ``"on"`` (TF32 matmuls, torch and JAX); on GPU only.

    Returns:
        ``{"machine", "rounds", "kinds": {kind: {"unidirectional" | "bidirectional": run}}}``.

    Raises:
        ValueError: unknown shape, kind, contender, device or tf32 names; no contender has any
            of the kinds; TF32 on a CPU run.
        RuntimeError: ``device="gpu"`` where torch or JAX has no GPU.
        measure.ParityError: a contender's output or gradients differ from torch's.
    """
    check(device, tf32)
    selected = _resolve_shapes(shapes, quick)
    kinds = list(KINDS) if kinds is None else list(kinds)
    _check_names("kinds", kinds, list(KINDS))
    names = list(CONTENDERS) if contenders is None else list(contenders)
    _check_names("contenders", names, list(CONTENDERS))
    factories = {name: CONTENDERS[name] for name in names}
    factories.update(jrnn_variant(options) for options in jrnn_variants)
    runnable = [kind for kind in kinds if for_kind(KINDS[kind], factories)]
    if not runnable:
        raise ValueError(f"bench: none of the contenders {list(factories)} has kinds {kinds}")
    long = None
    if memory:
        long = (
            Shape(*memory_shape) if memory_shape else QUICK_MEMORY_SHAPE if quick else MEMORY_SHAPE
        )
    timing = {
        "rounds": rounds if rounds is not None else (3 if quick else 7),
        "min_sample_s": min_sample_s if min_sample_s is not None else (0.0 if quick else 0.02),
        "tolerance": default_tolerance(tf32) if tolerance is None else tolerance,
        "seed": seed,
    }
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    options = {"roofline": roofline, "device": device, **timing}
    threads = torch.get_num_threads()
    torch.set_num_threads(cores())
    try:
        with placed(device, tf32):
            described = {**machine(), **describe(device, tf32)}
            results = {"machine": described, "rounds": timing["rounds"], "kinds": {}}
            start_times = cpu_times()
            for kind in kinds:
                if kind not in runnable:
                    print(f"{kind}: none of {list(factories)} has this kind; skipped", flush=True)
                    continue
                results["kinds"][kind] = {
                    direction_label(b): _run(KINDS[kind], b, factories, selected, long, **options)
                    for b in ([False, True] if bidirectional else [False])
                }
            described["cpu_steal"] = steal_share(start_times, cpu_times())
    finally:
        torch.set_num_threads(threads)

    table = write(results, out)
    print(table)
    print(f"wrote {out / 'bench.md'}, {out / 'bench.json'}, {out / 'bench.png'}")
    return results


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [s.strip() for s in text.split(",") if s.strip()]


def cli(argv: Sequence[str] | None = None) -> dict:
    """Parse ``argv`` (default ``sys.argv[1:]``) and call :func:`main`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes, 3 rounds")
    parser.add_argument("--kinds", help=f"comma-separated, from {list(KINDS)} (default all)")
    parser.add_argument(
        "--bidirectional", action="store_true", help="also run every kind bidirectional"
    )
    parser.add_argument("--rounds", type=int, help="paired rounds per shape and mode (default 7)")
    parser.add_argument(
        "--shapes", help=f"comma-separated, from {sorted({**SHAPES, **QUICK_SHAPES})}"
    )
    parser.add_argument("--out", default="results/bench", help="output folder")
    parser.add_argument(
        "--no-memory", dest="memory", action="store_false", help="skip the long-sequence case"
    )
    parser.add_argument(
        "--memory-shape", help="long case L,N,H_in,H,layers (default 20000,16,16,128,1)"
    )
    parser.add_argument("--roofline", action="store_true", help="time the GEMMs alone, per shape")
    parser.add_argument("--contenders", help=f"comma-separated, from {list(CONTENDERS)}")
    parser.add_argument(
        "--jrnn-variant",
        action="append",
        default=[],
        help="jrnn options, e.g. unroll=2 (repeatable)",
    )
    parser.add_argument(
        "--min-sample-ms", type=float, help="repeat calls per sample up to this (default 20)"
    )
    parser.add_argument(
        "--tolerance", type=float, help="max relative error to torch (default 1e-4; 1e-2 with TF32)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=DEVICES, default="cpu", help="where torch and JAX run")
    parser.add_argument("--tf32", choices=TF32, default="off", help="TF32 matmuls (GPU only)")
    args = parser.parse_args(argv)
    memory_shape = _split(args.memory_shape)
    return main(
        quick=args.quick,
        kinds=_split(args.kinds),
        bidirectional=args.bidirectional,
        rounds=args.rounds,
        shapes=_split(args.shapes),
        out=args.out,
        memory=args.memory,
        memory_shape=None if memory_shape is None else [int(v) for v in memory_shape],
        roofline=args.roofline,
        contenders=_split(args.contenders),
        jrnn_variants=args.jrnn_variant,
        min_sample_s=None if args.min_sample_ms is None else args.min_sample_ms / 1e3,
        tolerance=args.tolerance,
        seed=args.seed,
        device=args.device,
        tf32=args.tf32,
    )
