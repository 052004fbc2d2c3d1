"""Do XLA CPU flags speed jrnn up? Paired child processes, flagged against baseline.

``XLA_FLAGS`` is read once per process, so every flag setting runs in its own child
(:mod:`jrnn.bench.xla_child`): jrnn's fwd and train step (``jrnn.rnn`` / ``lstm`` / ``gru``,
unidirectional) at each shape. Each round starts one child per setting, the baseline (no extra
flags) and an A/A control (no extra flags either, to show the noise) included, in an order that
rotates from round to round. A setting's ratio is the median over rounds of its time over the
baseline's time in the same round; its parity is the largest difference of any result (output,
final states, loss, gradients) to that round's baseline. A child that fails or times out is
reported as such and the run goes on. Nothing here sets a flag for anyone else.

Usage::

    python scripts/bench_xla_flags.py --out docs/xla_flags_cpu.md
    python scripts/bench_xla_flags.py --flag onednn=--xla_cpu_use_onednn=true --rounds 5
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .cases import SHAPES
from .xla_report import BASELINE, markdown

CONTROL = "A/A control"
FLAGS = {
    "onednn": "--xla_cpu_use_onednn=true",
    "xnnpack": "--xla_cpu_use_xnnpack=true",
    "xnn_fusion": "--xla_cpu_experimental_xnn_fusion_type=dot,eltwise",
    "xnn_graph": "--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY",
    "fast_math": "--xla_cpu_enable_fast_math=true",
    "eigen_1_thread": "--xla_cpu_multi_thread_eigen=false",
    "ynn_no_dot": "--xla_cpu_experimental_ynn_fusion_type=-individual_dot",
}
REPO = Path(__file__).resolve().parents[2]


class ChildError(RuntimeError):
    """A child process failed, timed out or printed no result."""


def run_child(extra_flags: str, spec_path: Path, npz_path: Path, timeout_s: float) -> dict:
    """One :mod:`jrnn.bench.xla_child` with ``extra_flags`` appended to ``XLA_FLAGS``."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {extra_flags}".strip()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "jrnn.bench.xla_child", str(spec_path), str(npz_path)]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as error:
        raise ChildError(f"timed out after {timeout_s:.0f} s") from error
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        last = (done.stderr.strip().splitlines() or [""])[-1]
        raise ChildError(f"exit {done.returncode}: {last.split('] ', 1)[-1]}")
    return json.loads(lines[-1])


def differences(flagged: Mapping, baseline: Mapping) -> dict[str, dict]:
    """Per ``"kind shape"``: the largest ``|flagged - baseline|``, and over ``max|baseline|``."""
    worst: dict[str, dict] = {}
    for key, expected in baseline.items():
        case = key.rsplit(" ", 1)[0]
        expected = np.asarray(expected, np.float64)
        diff = float(np.max(np.abs(np.asarray(flagged[key], np.float64) - expected)))
        rel = diff / max(float(np.max(np.abs(expected))), np.finfo(np.float32).tiny)
        entry = worst.setdefault(case, {"abs": 0.0, "rel": 0.0})
        entry["abs"], entry["rel"] = max(entry["abs"], diff), max(entry["rel"], rel)
    return worst


def _round(settings: dict, r: int, spec_path: Path, folder: Path, timeout_s: float) -> dict:
    """One child per setting, starting one setting later each round; parity to its baseline.

    Returns ``{name: {"times", "parity"} or {"error"}}``.
    """
    names = list(settings)
    start = r % len(names)
    results, files = {}, {}
    for name in names[start:] + names[:start]:
        files[name] = folder / f"r{r}_{len(files)}.npz"
        print(f"round {r + 1}: {name} {settings[name]}".rstrip(), flush=True)
        try:
            results[name] = {"times": run_child(settings[name], spec_path, files[name], timeout_s)}
        except ChildError as error:
            results[name] = {"error": str(error)}
            print(f"  {name}: {error}", flush=True)
    if "error" in results[BASELINE]:
        raise ChildError(f"the baseline failed in round {r + 1}: {results[BASELINE]['error']}")
    with np.load(files[BASELINE]) as baseline:
        for name, result in results.items():
            if "times" in result:
                with np.load(files[name]) as flagged:
                    result["parity"] = differences(flagged, baseline)
    for path in files.values():
        path.unlink(missing_ok=True)
    return results


def _worst(parities: Sequence[dict]) -> dict:
    """The largest ``abs`` and ``rel`` differences per case over rounds."""
    cases = parities[0] if parities else {}
    return {case: {m: max(p[case][m] for p in parities) for m in ("abs", "rel")} for case in cases}


def summarize(rounds: Sequence[dict]) -> dict:
    """Per setting: median ratio to the baseline per timing, worst parity per case, failures.

    ``rounds`` as :func:`_round` returns them. Also the baseline's median seconds per timing.
    """
    keys = list(rounds[0][BASELINE]["times"])
    baseline_s = {
        k: statistics.median(r[BASELINE]["times"][k]["median_s"] for r in rounds) for k in keys
    }
    settings = {}
    for name in rounds[0]:
        ok = [r for r in rounds if "times" in r[name]]
        ratio = {
            key: statistics.median(
                r[name]["times"][key]["median_s"] / r[BASELINE]["times"][key]["median_s"]
                for r in ok
            )
            for key in (keys if ok else [])
        }
        compile_ratio = [
            sum(r[name]["times"][k]["compile_s"] for k in keys)
            / sum(r[BASELINE]["times"][k]["compile_s"] for k in keys)
            for r in ok
        ]
        settings[name] = {
            "ratio": ratio,
            "geomean": float(np.exp(np.mean(np.log(list(ratio.values()))))) if ok else None,
            "compile_ratio": statistics.median(compile_ratio) if ok else None,
            "parity": _worst([r[name]["parity"] for r in ok]),
            "errors": list(dict.fromkeys(r[name]["error"] for r in rounds if "error" in r[name])),
        }
    return {"baseline_s": baseline_s, "settings": settings}


def main(
    *,
    flags: Mapping[str, str] | None = None,
    kinds: Sequence[str] = ("rnn", "lstm", "gru"),
    shapes: Sequence[str] = ("S1", "S3", "S5"),
    rounds: int = 3,
    samples: int = 5,
    min_sample_s: float = 0.05,
    timeout_s: float = 900.0,
    seed: int = 0,
    out: str | os.PathLike | None = None,
) -> dict:
    """Measure every flag setting against the baseline; print (and write) the markdown.

    Args:
        flags: ``{name: flags appended to XLA_FLAGS}``, default FLAGS.
        kinds: from ``rnn``, ``lstm``, ``gru``.
        shapes: names from SHAPES.
        rounds: child processes per setting.
        samples: timings per child and case, of which the median is kept.
        min_sample_s: repeat calls within a sample up to this long.
        timeout_s: per child process.
        seed: for the numpy params and input.
        out: markdown file; the results go beside it as ``.json``.

    Returns:
        ``{"machine", "flags", "shapes", "rounds", "samples", "summary", "markdown"}``.

    Raises:
        ValueError: unknown kinds or shapes, a setting named like the baseline or control.
        ChildError: the baseline child failed (a flagged child's failure is only reported).
    """
    from .report import machine  # torch and flax: in the parent only, never in a child

    flags = dict(FLAGS if flags is None else flags)
    unknown = [k for k in kinds if k not in ("rnn", "lstm", "gru")]
    unknown += [s for s in shapes if s not in SHAPES]
    if unknown:
        raise ValueError(f"bench_xla_flags: unknown kinds or shapes {unknown}")
    if {BASELINE, CONTROL} & set(flags):
        raise ValueError(f"bench_xla_flags: {BASELINE!r} and {CONTROL!r} are reserved names")
    settings = {BASELINE: "", CONTROL: "", **flags}
    cases = [[kind, name, list(SHAPES[name])] for kind in kinds for name in shapes]
    spec = {"cases": cases, "seed": seed, "samples": samples, "min_sample_s": min_sample_s}
    with tempfile.TemporaryDirectory() as folder:
        spec_path = Path(folder) / "spec.json"
        spec_path.write_text(json.dumps(spec))
        runs = [_round(settings, r, spec_path, Path(folder), timeout_s) for r in range(rounds)]
    results = {
        "machine": machine(),
        "base_xla_flags": os.environ.get("XLA_FLAGS", ""),
        "flags": settings,
        "shapes": {name: list(SHAPES[name]) for name in shapes},
        "rounds": rounds,
        "samples": samples,
        "summary": summarize(runs),
    }
    results["markdown"] = markdown(results)
    print(results["markdown"])
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(results["markdown"])
        out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    return results


def cli(argv: Sequence[str] | None = None) -> dict:
    """Parse ``argv`` (default ``sys.argv[1:]``) and call :func:`main`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--flag",
        action="append",
        help="name=XLA flags to test (repeatable; default: " + ", ".join(FLAGS) + ")",
    )
    parser.add_argument("--kinds", default="rnn,lstm,gru", help="comma-separated")
    parser.add_argument("--shapes", default="S1,S3,S5", help="comma-separated, e.g. S1,S2,S3,S5")
    parser.add_argument("--rounds", type=int, default=3, help="child processes per setting")
    parser.add_argument("--samples", type=int, default=5, help="timings per child and case")
    parser.add_argument("--min-sample-ms", type=float, default=50.0)
    parser.add_argument("--timeout-s", type=float, default=900.0, help="per child process")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="markdown file (and .json beside it)")
    args = parser.parse_args(argv)
    flags = None if args.flag is None else dict(item.split("=", 1) for item in args.flag)
    return main(
        flags=flags,
        kinds=args.kinds.split(","),
        shapes=args.shapes.split(","),
        rounds=args.rounds,
        samples=args.samples,
        min_sample_s=args.min_sample_ms / 1e3,
        timeout_s=args.timeout_s,
        seed=args.seed,
        out=args.out,
    )
