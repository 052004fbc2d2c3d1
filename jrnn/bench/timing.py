"""Timing: first calls of a fresh jit, calibration, paired rotating rounds, medians and ratios."""

import math
import statistics
import time
from collections.abc import Callable, Mapping

import jax

REFERENCES = ("torch", "flax", "scan")


def jax_call(fn: Callable, *args) -> Callable[[], object]:
    """A no-argument call of ``fn(*args)`` that waits for the result."""
    return lambda: jax.block_until_ready(fn(*args))


def first_call(fn: Callable, *args):
    """Jit a fresh wrapper of ``fn`` (no trace or compile cache can answer) and time its first call.

    Returns ``(compiled, seconds, result)``; seconds is ``{"total", "trace_lower", "compile"}``.
    """
    start = time.perf_counter()
    lowered = jax.jit(lambda *a: fn(*a)).lower(*args)
    traced = time.perf_counter()
    compiled = lowered.compile()
    built = time.perf_counter()
    result = jax.block_until_ready(compiled(*args))
    seconds = {
        "total": time.perf_counter() - start,
        "trace_lower": traced - start,
        "compile": built - traced,
    }
    return compiled, seconds, result


def time_call(call: Callable[[], object], inner: int) -> float:
    """Mean seconds per call over ``inner`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(inner):
        call()
    return (time.perf_counter() - start) / inner


def calibrate(calls: Mapping[str, Callable[[], object]], min_sample_s: float) -> int:
    """Warm every call; return calls per sample so that the fastest lasts ``min_sample_s``."""
    fastest = min(min(time_call(call, 1) for _ in range(2)) for call in calls.values())
    return max(1, min(1000, math.ceil(min_sample_s / max(fastest, 1e-7))))


def paired_rounds(calls: Mapping[str, Callable[[], object]], rounds: int, inner: int):
    """Each round times every call once, starting one name later each round.

    Every sample starts warm: one untimed call, then ``inner`` timed ones. Without it a sample
    pays for the call before it, whoever ran that: torch's OpenMP threads still spin after its
    call ends, on the cores the next call needs. Measured on 2 cores (AMD EPYC), four jrnn
    Elman S1 train steps right after a torch step took 6.44 ms each, against 5.12 ms after a
    small JAX call and 5.55 ms with one untimed call first. With the rotation below, the name
    after torch would pay that in most rounds.

    Returns ``{name: [seconds per call, one per round]}``.
    """
    names = list(calls)
    times = {name: [] for name in names}
    for r in range(rounds):
        start = r % len(names)
        for name in names[start:] + names[:start]:
            calls[name]()
            times[name].append(time_call(calls[name], inner))
    return times


def summarize(times: Mapping[str, list[float]]) -> dict[str, dict]:
    """Median seconds per name and its median ratios to the references.

    ``ratio_to_torch`` (and ``ratio_to_flax``, ``ratio_to_scan`` when flax or the plain scan
    ran): the median over rounds of each round's time over the reference's time in that round.
    """
    summary = {}
    for name, samples in times.items():
        summary[name] = {"median_s": statistics.median(samples), "min_s": min(samples)}
        for reference in REFERENCES:
            if reference in times:
                ratios = [t / r for t, r in zip(samples, times[reference], strict=True)]
                summary[name][f"ratio_to_{reference}"] = statistics.median(ratios)
        summary[name]["samples_s"] = samples
    return summary
