"""One child process of the XLA-flags benchmark: jrnn's fwd and train step under this XLA_FLAGS.

XLA reads ``XLA_FLAGS`` once per process, so :mod:`jrnn.bench.xla_flags` starts this module once per
flag setting and round (``python -m jrnn.bench.xla_child SPEC.json OUT.npz``). It imports jax,
numpy, jrnn and, through :mod:`jrnn.bench.contenders`, flax; never torch. Params and inputs come
from numpy, never from an XLA computation, so every setting gets bit-identical data whatever its
flags do to the math. It prints one JSON line ``{"kind shape mode": {"median_s", "compile_s"}}`` and
saves every result array to ``OUT.npz`` (``"kind shape name"``) for the parent's parity check.
"""

import json
import statistics
import sys
import time

import jax
import numpy as np

from .contenders import JRNN, JRNN_INIT, train_step
from .layout import named_outputs
from .timing import calibrate, jax_call, time_call


def inputs(kind: str, shape, seed: int) -> tuple[dict, np.ndarray]:
    """torch-shaped params, U(-1/sqrt(H), 1/sqrt(H)), and ``x`` ``(L, N, H_in)``, from numpy."""
    L, N, H_in, H, layers = shape
    layout = jax.eval_shape(lambda: JRNN_INIT[kind](jax.random.key(0), H_in, H, layers))
    rng = np.random.default_rng(seed)
    bound = 1 / np.sqrt(H)
    params = {
        name: rng.uniform(-bound, bound, leaf.shape).astype(np.float32)
        for name, leaf in layout.items()
    }
    return params, rng.standard_normal((L, N, H_in), np.float32)


def measure(kind: str, shape, *, seed: int, samples: int, min_sample_s: float):
    """Median seconds per call (over ``samples`` samples) and compile seconds, fwd and train.

    Returns ``(timings, arrays)``: ``{mode: {"median_s", "compile_s"}}`` and the results by name.
    """
    params, x = inputs(kind, shape, seed)
    forward = JRNN[kind]
    timings, arrays = {}, {}
    for mode, fn in (("fwd", forward), ("train", train_step(forward))):
        start = time.perf_counter()
        compiled = jax.jit(fn).lower(params, x).compile()
        compile_s = time.perf_counter() - start
        result = jax.block_until_ready(compiled(params, x))
        call = jax_call(compiled, params, x)
        inner = calibrate({mode: call}, min_sample_s)
        median_s = statistics.median(time_call(call, inner) for _ in range(samples))
        timings[mode] = {"median_s": median_s, "compile_s": compile_s}
        if mode == "fwd":
            arrays.update(named_outputs(*result))
        else:
            loss, (grads, dx) = result
            arrays.update(loss=loss, dx=dx, **{f"d_{k}": g for k, g in grads.items()})
    return timings, arrays


def run(spec: dict, npz_path: str) -> dict:
    """Every ``spec["cases"]`` entry ``[kind, shape name, (L, N, H_in, H, layers)]``, measured."""
    timings, arrays = {}, {}
    for kind, name, shape in spec["cases"]:
        by_mode, results = measure(
            kind,
            shape,
            seed=spec["seed"],
            samples=spec["samples"],
            min_sample_s=spec["min_sample_s"],
        )
        for mode, timing in by_mode.items():
            timings[f"{kind} {name} {mode}"] = timing
        arrays.update({f"{kind} {name} {k}": np.asarray(v) for k, v in results.items()})
    np.savez(npz_path, **arrays)
    return timings


if __name__ == "__main__":
    spec_path, out_path = sys.argv[1:]
    with open(spec_path) as f:
        print(json.dumps(run(json.load(f), out_path)), flush=True)
