"""``python -m jrnn.fuzz``: random calls and damaged files, counted per outcome.

The calls run in child processes, a chunk each, so a call that kills its process (or hangs past
``--timeout``) is counted as a crash and the run goes on with the next chunk. Each child prints
one JSON line per finished call, so the parent knows which call was in flight when it died.
"""

import argparse
import collections
import json
import subprocess
import sys
import tempfile

import numpy as np

from .calls import draw_call, random_draw
from .oracle import OUTCOMES


def worker(what: str, seed: int, count: int) -> None:
    """Run ``count`` calls (or damaged files) drawn from ``seed``; one JSON line each."""
    from . import files, oracle

    rng = np.random.default_rng(seed)
    draw = random_draw(rng)
    with tempfile.TemporaryDirectory() as directory:
        for _ in range(count):
            if what == "calls":
                call = draw_call(draw)
                result, detail = oracle.outcome(call)
                detail = f"{call.describe()} -> {detail}" if result != "correct" else ""
            else:
                result, detail = files.outcome(directory, draw)
            print(json.dumps([result, detail]), flush=True)


def _chunk(what: str, seed: int, count: int, timeout: float) -> list[tuple[str, str]]:
    command = [sys.executable, "-m", "jrnn.fuzz", "--worker", what, "--seed", str(seed)]
    command += ["--count", str(count)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        stdout, code, tail = done.stdout, done.returncode, done.stderr[-300:]
    except subprocess.TimeoutExpired as err:
        stdout, code, tail = (err.stdout or b"").decode(), "timeout", "hung"
    results = [tuple(json.loads(line)) for line in stdout.splitlines() if line.startswith("[")]
    if len(results) < count and code != 0:  # the call in flight crashed its process
        results.append(("crash", f"{what} seed {seed} item {len(results)}: exit {code}: {tail}"))
    return results


def run(what: str, total: int, *, seed: int, chunk: int, timeout: float) -> dict:
    """Counts per outcome over ``total`` items, and up to 5 examples of each bad outcome."""
    counts = collections.Counter({outcome: 0 for outcome in OUTCOMES})
    examples = collections.defaultdict(list)
    done, index = 0, 0
    while done < total:
        results = _chunk(what, seed * 1_000_003 + index, min(chunk, total - done), timeout)
        index += 1
        done += max(len(results), 1)
        for result, detail in results:
            counts[result] += 1
            if result not in ("correct", "clean error") and len(examples[result]) < 5:
                examples[result].append(detail)
        print(f"{what}: {done}/{total} {dict(counts)}", file=sys.stderr, flush=True)
    return {"counts": dict(counts), "examples": dict(examples)}


def main(argv=None) -> dict:
    """Parse the command line; run a worker's chunk, or the whole fuzz run and its report."""
    parser = argparse.ArgumentParser(prog="python -m jrnn.fuzz", description=__doc__)
    parser.add_argument("--calls", type=int, default=2000, help="random public calls")
    parser.add_argument("--files", type=int, default=1000, help="damaged checkpoint files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk", type=int, default=250, help="items per child process")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per chunk")
    parser.add_argument("--worker", choices=("calls", "files"), help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.seed, args.count)
        return {}
    options = dict(seed=args.seed, chunk=args.chunk, timeout=args.timeout)
    report = {
        "calls": run("calls", args.calls, **options),
        "files": run("files", args.files, **options),
    }
    print(json.dumps(report, indent=1))
    return report
