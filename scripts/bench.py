"""Side-by-side CPU benchmark: jrnn against torch.nn.RNN, flax.linen.RNN(SimpleCell) and lax.scan.

Every contender runs the same float32 tanh RNN (torch's weights, zero initial state). Before any
timing, each JAX contender's output, h_n and gradients are checked against torch. Contenders are
then timed interleaved in one process: each round times every contender once, in an order that
rotates from round to round, and the report gives medians over rounds, with each contender's
time divided by torch's time in the same round.

- "fwd": ``output, h_n = rnn(x)`` (torch under ``no_grad``).
- "train": one ``value_and_grad`` of ``output.sum() + h_n.sum()`` w.r.t. the params and ``x``
  (torch: forward and backward with fresh ``.grad`` each time).
- first call: trace + compile + run of a freshly jitted function (JAX only).
- train memory: XLA's memory analysis of the compiled train step, beside the size of the h
  sequence, ``L*N*H*4`` bytes per layer; also for a long sequence (L=20000, N=16, H=128) that is
  compiled, not run (``--no-memory`` skips that one). torch's memory is not measured.
- roofline (``--roofline``): the hoisted input GEMM alone and ``L`` sequential ``(N,H)x(H,H)``
  GEMMs alone (a ``lax.scan`` of just the matmul), per layer, to show where a shape is GEMM-bound.

Writes ``bench.md``, ``bench.json`` and ``bench.png`` under ``--out``.

Usage::

    python scripts/bench.py --quick                        # tiny shapes, a few seconds
    python scripts/bench.py                                # S1..S5, 7 rounds
    python scripts/bench.py --shapes S1,S3 --rounds 11 --roofline
    python scripts/bench.py --jrnn-variant checkpoint_every=100 --jrnn-variant unroll=2
"""

import argparse
import ast
import dataclasses
import functools
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import torch
from jax import lax

import jrnn

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the report module beside this script
from bench_report import cores, machine, markdown, plot  # noqa: E402


class Shape(NamedTuple):
    L: int
    N: int
    H_in: int
    H: int
    layers: int


SHAPES = {
    "S1": Shape(100, 32, 64, 128, 1),
    "S2": Shape(512, 64, 128, 256, 2),
    "S3": Shape(1000, 1, 32, 64, 1),
    "S4": Shape(64, 256, 512, 512, 3),
    "S5": Shape(2000, 16, 16, 128, 1),
}
QUICK_SHAPES = {"Q1": Shape(16, 4, 8, 16, 1), "Q2": Shape(8, 3, 6, 8, 2)}
MEMORY_SHAPE = Shape(20000, 16, 16, 128, 1)
QUICK_MEMORY_SHAPE = Shape(400, 4, 4, 16, 1)
FLOAT32_BYTES = 4


# ---------------------------------------------------------------- contenders


def plain_scan_rnn(params, x):
    """torch's equation as a textbook ``lax.scan``: both matmuls and biases inside the step.

    Unidirectional tanh with bias only.
    ``x (L, N, H_in)`` -> ``(output (L, N, H), h_n (layers, N, H))``.
    """
    h_n = []
    for layer in range(sum(key.startswith("weight_ih_l") for key in params)):
        x, h_last = _plain_scan_layer(
            x,
            params[f"weight_ih_l{layer}"].T,  # (H_in, H): transposes outside the step
            params[f"weight_hh_l{layer}"].T,  # (H, H)
            params[f"bias_ih_l{layer}"][None],  # (1, H)
            params[f"bias_hh_l{layer}"][None],  # (1, H)
        )
        h_n.append(h_last)
    return x, jnp.stack(h_n)


def _plain_scan_layer(x, w_ih_t, w_hh_t, b_ih, b_hh):
    def step(h, x_t):
        h = jnp.tanh(x_t @ w_ih_t + b_ih + h @ w_hh_t + b_hh)  # (N, H)
        return h, h

    h0 = jnp.zeros((x.shape[1], w_hh_t.shape[0]), x.dtype)  # (N, H)
    h_last, ys = lax.scan(step, h0, x)
    return ys, h_last


def flax_rnn(layer_variables, x):
    """``flax.linen.RNN(SimpleCell)`` stacked per layer, time-major, zero initial carry."""
    h_n = []
    for variables in layer_variables:
        hidden = variables["params"]["cell"]["h"]["kernel"].shape[0]
        layer = nn.RNN(nn.SimpleCell(features=hidden), time_major=True, return_carry=True)
        h_last, x = layer.apply(variables, x)
        h_n.append(h_last)
    return x, jnp.stack(h_n)


def flax_params_from_torch(params):
    """torch's state_dict -> one SimpleCell variable dict per layer.

    SimpleCell computes ``tanh(x @ K_i + b_i + h @ K_h)`` (flax ``Dense`` kernels are ``(in, out)``,
    only the input Dense has a bias), so ``K_i = W_ih.T``, ``K_h = W_hh.T``, ``b_i = b_ih + b_hh``:
    the same function, up to the rounding of the folded bias.
    """
    layers = sum(key.startswith("weight_ih_l") for key in params)
    return [
        {
            "params": {
                "cell": {
                    "i": {
                        "kernel": params[f"weight_ih_l{k}"].T,
                        "bias": params[f"bias_ih_l{k}"] + params[f"bias_hh_l{k}"],
                    },
                    "h": {"kernel": params[f"weight_hh_l{k}"].T},
                }
            }
        }
        for k in range(layers)
    ]


def flax_grads_to_torch(grads):
    """Gradients of the SimpleCell variables -> torch's names (d b_ih = d b_hh = d b_i)."""
    torch_grads = {}
    for k, layer in enumerate(grads):
        cell = layer["params"]["cell"]
        torch_grads[f"weight_ih_l{k}"] = cell["i"]["kernel"].T
        torch_grads[f"weight_hh_l{k}"] = cell["h"]["kernel"].T
        torch_grads[f"bias_ih_l{k}"] = torch_grads[f"bias_hh_l{k}"] = cell["i"]["bias"]
    return torch_grads


def _same(tree):
    return tree


@dataclasses.dataclass(frozen=True)
class JaxContender:
    """``forward(params, x (L, N, H_in)) -> (output (L, N, H), h_n (layers, N, H))``.

    ``from_torch`` maps torch's state_dict (jnp arrays) to the contender's params and
    ``grads_to_torch`` maps their gradient back to torch's names, for the parity check.
    """

    forward: Callable
    from_torch: Callable = _same
    grads_to_torch: Callable = _same


# Add a contender with one line, e.g.
#   "jrnn-ckpt": JaxContender(functools.partial(jrnn.rnn, checkpoint_every=100)),
# or from the command line: --jrnn-variant checkpoint_every=100
CONTENDERS = {
    "jrnn": JaxContender(jrnn.rnn),
    "flax": JaxContender(flax_rnn, flax_params_from_torch, flax_grads_to_torch),
    "scan": JaxContender(plain_scan_rnn),
}


def jrnn_variant(options: str) -> tuple[str, JaxContender]:
    """``"checkpoint_every=100,unroll=2"`` -> ``("jrnn[checkpoint_every=100,unroll=2]", ...)``."""
    kwargs = {}
    for item in options.split(","):
        name, _, value = item.partition("=")
        kwargs[name.strip()] = ast.literal_eval(value.strip())
    return f"jrnn[{options}]", JaxContender(functools.partial(jrnn.rnn, **kwargs))


def train_step(forward):
    """``(params, x) -> (loss, (d params, d x))`` for ``loss = output.sum() + h_n.sum()``."""

    def loss(params, x):
        output, h_n = forward(params, x)
        return output.sum() + h_n.sum()

    return jax.value_and_grad(loss, argnums=(0, 1))


class TorchRNN:
    """``torch.nn.RNN`` on CPU with its input; the reference every JAX contender must match."""

    def __init__(self, shape: Shape, seed: int):
        torch.manual_seed(seed)
        self.module = torch.nn.RNN(shape.H_in, shape.H, shape.layers)
        self.x = torch.randn(shape.L, shape.N, shape.H_in)
        self.x_train = self.x.clone().requires_grad_(True)

    def forward(self):
        with torch.no_grad():
            return self.module(self.x)

    def train(self):
        for p in self.module.parameters():
            p.grad = None
        self.x_train.grad = None
        output, h_n = self.module(self.x_train)
        loss = output.sum() + h_n.sum()
        loss.backward()
        return loss

    def state_dict(self):
        return {k: jnp.asarray(v.detach().numpy()) for k, v in self.module.state_dict().items()}

    def reference(self):
        """Forward and train results as numpy: output, h_n, loss, grads by torch name, d x."""
        output, h_n = self.forward()
        loss = self.train()
        grads = {k: p.grad.numpy() for k, p in self.module.named_parameters()}
        return {
            "output": output.numpy(),
            "h_n": h_n.numpy(),
            "loss": loss.item(),
            "grads": grads,
            "dx": self.x_train.grad.numpy(),
        }


# ---------------------------------------------------------------- measuring


def relative_error(actual, expected) -> float:
    """``max|actual - expected| / max|expected|``, in float64."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    scale = max(float(np.max(np.abs(expected))), np.finfo(np.float32).tiny)
    return float(np.max(np.abs(actual - expected))) / scale


def parity(contender: JaxContender, fwd_result, train_result, ref) -> dict[str, float]:
    """Relative errors of one JAX contender against torch's reference."""
    output, h_n = fwd_result
    loss, (grads, dx) = train_result
    grads = contender.grads_to_torch(grads)
    return {
        "output": relative_error(output, ref["output"]),
        "h_n": relative_error(h_n, ref["h_n"]),
        "loss": relative_error(loss, ref["loss"]),
        "grads": max(relative_error(grads[k], g) for k, g in ref["grads"].items()),
        "dx": relative_error(dx, ref["dx"]),
    }


def first_call(fn, *args):
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


def memory_stats(compiled) -> dict[str, int]:
    """XLA's memory analysis of a compiled function, in bytes."""
    stats = compiled.memory_analysis()
    fields = ("temp", "argument", "output", "alias", "generated_code")
    return {name: int(getattr(stats, f"{name}_size_in_bytes")) for name in fields}


def h_sequence_bytes(shape: Shape) -> int:
    """The h sequence of every layer: ``L*N*H`` float32 values per layer (one direction)."""
    return shape.L * shape.N * shape.H * FLOAT32_BYTES * shape.layers


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

    Returns ``{name: [seconds per call, one per round]}``.
    """
    names = list(calls)
    times = {name: [] for name in names}
    for r in range(rounds):
        start = r % len(names)
        for name in names[start:] + names[:start]:
            times[name].append(time_call(calls[name], inner))
    return times


def summarize(times: Mapping[str, list[float]]) -> dict[str, dict]:
    """Median seconds, and the median over rounds of each round's time over torch's."""
    summary = {}
    for name, samples in times.items():
        ratios = [t / ref for t, ref in zip(samples, times["torch"], strict=True)]
        summary[name] = {
            "median_s": statistics.median(samples),
            "min_s": min(samples),
            "ratio_to_torch": statistics.median(ratios),
            "samples_s": samples,
        }
    return summary


def jax_call(fn, *args) -> Callable[[], object]:
    return lambda: jax.block_until_ready(fn(*args))


def bench_shape(shape: Shape, contenders, *, rounds, min_sample_s, tolerance, seed):
    """Parity, first-call times, train memory and paired timings for one shape."""
    reference = TorchRNN(shape, seed)
    ref = reference.reference()
    state_dict = reference.state_dict()
    x = jnp.asarray(reference.x.numpy())  # (L, N, H_in)
    result = {"shape": shape._asdict(), "h_sequence_bytes": h_sequence_bytes(shape)}
    result.update(parity={}, first_call_s={}, train_memory={})
    fwd_calls = {"torch": reference.forward}
    train_calls = {"torch": reference.train}
    for name, contender in contenders.items():
        params = contender.from_torch(state_dict)
        fwd, fwd_compile_s, fwd_result = first_call(contender.forward, params, x)
        train, train_compile_s, train_result = first_call(train_step(contender.forward), params, x)
        errors = parity(contender, fwd_result, train_result, ref)
        worst = max(errors, key=errors.get)
        if errors[worst] > tolerance:
            raise RuntimeError(
                f"{name} differs from torch.nn.RNN at {shape}: {worst} relative error "
                f"{errors[worst]:.2e} > tolerance {tolerance:.0e} (all: {errors})"
            )
        result["parity"][name] = errors
        result["first_call_s"][name] = {"fwd": fwd_compile_s, "train": train_compile_s}
        result["train_memory"][name] = memory_stats(train)
        fwd_calls[name] = jax_call(fwd, params, x)
        train_calls[name] = jax_call(train, params, x)
    for mode, calls in (("fwd", fwd_calls), ("train", train_calls)):
        inner = calibrate(calls, min_sample_s)
        result[mode] = summarize(paired_rounds(calls, rounds, inner))
        result[mode]["calls_per_sample"] = inner
    return result


def bench_memory(shape: Shape, contenders) -> dict:
    """Train-step memory analysis at ``shape``, compiled from shapes only (nothing runs)."""
    layout = {
        f"{kind}_l{k}": size
        for k in range(shape.layers)
        for kind, size in (
            ("weight_ih", (shape.H, shape.H_in if k == 0 else shape.H)),
            ("weight_hh", (shape.H, shape.H)),
            ("bias_ih", (shape.H,)),
            ("bias_hh", (shape.H,)),
        )
    }
    state_dict = {k: jax.ShapeDtypeStruct(s, jnp.float32) for k, s in layout.items()}
    x = jax.ShapeDtypeStruct((shape.L, shape.N, shape.H_in), jnp.float32)
    report = {"shape": shape._asdict(), "h_sequence_bytes": h_sequence_bytes(shape)}
    for name, contender in contenders.items():
        params = jax.eval_shape(contender.from_torch, state_dict)
        compiled = jax.jit(train_step(contender.forward)).lower(params, x).compile()
        report[name] = memory_stats(compiled)
    return report


def bench_roofline(shape: Shape, *, rounds, min_sample_s, seed) -> dict:
    """Per layer: the input GEMM ``(L*N, in) x (in, H)``, the same size ``(L*N, H) x (H, H)`` GEMM
    (as in the backward's weight gradient) and ``L`` sequential ``(N, H) x (H, H)`` GEMMs alone."""
    rng = np.random.default_rng(seed)
    rows = shape.L * shape.N
    calls, flops = {}, {}
    for k in range(shape.layers):
        fan_in = shape.H_in if k == 0 else shape.H
        inputs = jnp.asarray(rng.standard_normal((rows, fan_in), np.float32))  # (L*N, in)
        w_ih = jnp.asarray(rng.standard_normal((shape.H, fan_in), np.float32))  # (H, in)
        hs = jnp.asarray(rng.standard_normal((rows, shape.H), np.float32))  # (L*N, H)
        q, _ = np.linalg.qr(rng.standard_normal((shape.H, shape.H)))
        w_hh = jnp.asarray(q, jnp.float32)  # (H, H), orthogonal: h keeps its norm over L steps
        h0 = jnp.asarray(rng.standard_normal((shape.N, shape.H), np.float32))  # (N, H)
        calls[f"input_gemm_l{k}"] = jax_call(jax.jit(lambda a, w: a @ w.T), inputs, w_ih)
        calls[f"hh_gemm_l{k}"] = jax_call(jax.jit(lambda a, w: a @ w.T), hs, w_hh)
        chain = jax.jit(functools.partial(_matmul_chain, length=shape.L))
        calls[f"recurrent_l{k}"] = jax_call(chain, h0, w_hh)
        flops[f"input_gemm_l{k}"] = 2 * rows * fan_in * shape.H
        flops[f"hh_gemm_l{k}"] = flops[f"recurrent_l{k}"] = 2 * rows * shape.H * shape.H
    inner = calibrate(calls, min_sample_s)
    times = paired_rounds(calls, rounds, inner)
    report = {
        name: {"median_s": statistics.median(t), "gflops": flops[name] / statistics.median(t) / 1e9}
        for name, t in times.items()
    }

    def total(kind):
        return sum(report[f"{kind}_l{k}"]["median_s"] for k in range(shape.layers))

    report["fwd_floor_s"] = total("input_gemm") + total("recurrent")
    # backward: L sequential (N,H)x(H,H) for dh, d W_ih and d x as big as the input GEMM, d W_hh
    report["train_floor_estimate_s"] = (
        3 * total("input_gemm") + total("hh_gemm") + 2 * total("recurrent")
    )
    return report


def _matmul_chain(h0, w, *, length):
    """``length`` sequential ``h @ w``: ``(N, H) x (H, H)`` each."""
    return lax.scan(lambda h, _: (h @ w, None), h0, None, length=length)[0]


# ---------------------------------------------------------------- entry point


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


def main(
    *,
    quick: bool = False,
    rounds: int | None = None,
    shapes: Sequence[str] | Mapping[str, Sequence[int]] | None = None,
    out: str | os.PathLike = "results/bench",
    memory: bool = True,
    memory_shape: Sequence[int] | None = None,
    roofline: bool = False,
    contenders: Sequence[str] | None = None,
    jrnn_variants: Sequence[str] = (),
    min_sample_s: float | None = None,
    tolerance: float = 1e-4,
    seed: int = 0,
) -> dict:
    """Run the benchmark, write bench.md, bench.json, bench.png under ``out``; return the results.

    Args:
        quick: QUICK_SHAPES, 3 rounds, one call per sample, a short long-sequence memory case.
        rounds: paired rounds per shape and mode (default 7; 3 when quick).
        shapes: names from SHAPES / QUICK_SHAPES, or ``{name: (L, N, H_in, H, layers)}``.
        out: folder for the report.
        memory: compile (not run) the train step at the long ``memory_shape`` for its memory.
        memory_shape: ``(L, N, H_in, H, layers)``, default MEMORY_SHAPE (QUICK_MEMORY_SHAPE).
        roofline: also time the GEMMs alone for every shape.
        contenders: names from CONTENDERS, default all; torch is always the reference.
        jrnn_variants: extra ``jrnn.rnn`` contenders by keyword options, e.g. ``"unroll=2"``.
        min_sample_s: repeat calls within a sample up to this long (default 0.02; 0 when quick).
        tolerance: largest relative error to torch accepted before timing.
        seed: for torch's weights and the input.

    Raises:
        ValueError: unknown shape or contender names.
        RuntimeError: a contender's output or gradients differ from torch's.
    """
    selected = _resolve_shapes(shapes, quick)
    rounds = rounds if rounds is not None else (3 if quick else 7)
    min_sample_s = min_sample_s if min_sample_s is not None else (0.0 if quick else 0.02)
    names = list(CONTENDERS) if contenders is None else list(contenders)
    unknown = [n for n in names if n not in CONTENDERS]
    if unknown:
        raise ValueError(f"bench: unknown contenders {unknown}; known: {list(CONTENDERS)}")
    chosen = {name: CONTENDERS[name] for name in names}
    chosen.update(jrnn_variant(options) for options in jrnn_variants)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    threads = torch.get_num_threads()
    torch.set_num_threads(cores())
    try:
        results = {"machine": machine(), "rounds": rounds, "contenders": list(chosen)}
        results["shapes"] = {}
        for name, shape in selected.items():
            print(f"{name} {tuple(shape)} ...", flush=True)
            results["shapes"][name] = bench_shape(
                shape,
                chosen,
                rounds=rounds,
                min_sample_s=min_sample_s,
                tolerance=tolerance,
                seed=seed,
            )
        if memory:
            long = (
                Shape(*memory_shape)
                if memory_shape
                else (QUICK_MEMORY_SHAPE if quick else MEMORY_SHAPE)
            )
            print(f"memory {tuple(long)} ...", flush=True)
            results["memory_case"] = bench_memory(long, chosen)
        if roofline:
            results["roofline"] = {}
            for name, shape in selected.items():
                print(f"roofline {name} ...", flush=True)
                results["roofline"][name] = bench_roofline(
                    shape, rounds=rounds, min_sample_s=min_sample_s, seed=seed
                )
    finally:
        torch.set_num_threads(threads)

    (out / "bench.json").write_text(json.dumps(results, indent=1))
    table = markdown(results)
    (out / "bench.md").write_text(table)
    plot(results, out / "bench.png")
    print(table)
    print(f"wrote {out / 'bench.md'}, {out / 'bench.json'}, {out / 'bench.png'}")
    return results


def _cli(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes, 3 rounds")
    parser.add_argument("--rounds", type=int, help="paired rounds per shape and mode (default 7)")
    parser.add_argument(
        "--shapes", help=f"comma-separated, from {sorted({**SHAPES, **QUICK_SHAPES})}"
    )
    parser.add_argument("--out", default="results/bench", help="output folder")
    parser.add_argument(
        "--no-memory",
        dest="memory",
        action="store_false",
        help="skip the long-sequence memory case",
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
        help="jrnn.rnn options, e.g. unroll=2 (repeatable)",
    )
    parser.add_argument(
        "--min-sample-ms", type=float, help="repeat calls per sample up to this (default 20)"
    )
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max relative error to torch")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    def split(text):
        return None if text is None else [s.strip() for s in text.split(",") if s.strip()]

    return main(
        quick=args.quick,
        rounds=args.rounds,
        shapes=split(args.shapes),
        out=args.out,
        memory=args.memory,
        memory_shape=None
        if args.memory_shape is None
        else [int(v) for v in split(args.memory_shape)],
        roofline=args.roofline,
        contenders=split(args.contenders),
        jrnn_variants=args.jrnn_variant,
        min_sample_s=None if args.min_sample_ms is None else args.min_sample_ms / 1e3,
        tolerance=args.tolerance,
        seed=args.seed,
    )


if __name__ == "__main__":
    _cli()
