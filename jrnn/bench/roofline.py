"""The "XLA floor" of a case: its GEMMs alone, timed in JAX.

Per layer ``k`` (and each of its ``D`` directions, which have the same GEMMs), with ``G`` gate
blocks, ``P`` the size of ``h``, ``in_k = H_in`` (``k = 0``) or ``D*P`` and ``R = L*N`` rows:

- the forward's hoisted input GEMM ``(R, in_k) x (in_k, G*H)``;
- ``L`` sequential ``(N, P) x (P, G*H)`` GEMMs, a ``lax.scan`` of just the matmul;
- the backward's GEMMs over the whole sequence, in the forms they take: ``d x``,
  ``(R, G*H) x (G*H, in_k)``, and the weight gradients ``d W_ih`` and ``d W_hh``, ``(G*H, R) x
  (R, in_k)`` and ``(G*H, R) x (R, P)``, their left operand already transposed (the cheapest
  layout: with a ``(R, G*H)`` operand contracted over its rows, XLA:CPU took 1.45x as long for
  ``d W_hh`` and 2.0x for ``d W_ih`` at S1's LSTM sizes, 2-core Intel Xeon).

Forward floor: input GEMMs + sequential chains. Train floor (an estimate): input GEMMs +
backward GEMMs + 2 x the sequential chain (forward, ``d h``). Both summed over layers and
times ``D``. Not counted: the element-wise gate math and, for a projected LSTM, the per-step
``(N, H) x (H, P)`` projection.

Also timed: the kind's textbook backward loop (:mod:`.backward_loop`), one layer and
direction. Its time beyond the sequential chains, over every layer and direction, is
``bwd_steps_s``: the backward's gate math and loop. And the copy of the ``(R, G*H)`` gradient
sequence transposed, ``transpose_s`` over every layer and direction: the layout the weight
gradients' GEMMs above take as given. JAX transposes a ``dot_general`` with the cotangent as its
left operand, and XLA:CPU's GEMM wants the contracted dimension minor on the left, so every
train step pays for that copy (a 2-core Intel Xeon's profile of the LSTM at S1 shows it as one
``f32[512, 3200]`` copy fusion before the weight GEMMs).
"""

import functools
import statistics

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import backward_loop
from .cases import Case
from .timing import calibrate, jax_call, paired_rounds


def _matmul_chain(h0, w, *, length):
    """``length`` sequential ``h @ w``, ``(N, P) x (P, G*H)``, ``h`` the first ``P`` columns.

    XLA keeps the whole dot and slices its result (checked on the CPU backend's HLO).
    """
    P = h0.shape[1]
    return lax.scan(lambda h, _: ((h @ w)[:, :P], None), h0, None, length=length)[0]


def _recurrent_weight(rng, P: int, gates_H: int):
    """``(P, G*H)`` with an orthogonal first ``(P, P)`` block, so ``h`` keeps its norm."""
    w = rng.standard_normal((P, gates_H)) / np.sqrt(P)
    w[:, :P], _ = np.linalg.qr(rng.standard_normal((P, P)))
    return jnp.asarray(w, jnp.float32)


BACKWARD_GEMMS = ("d_x", "d_w_ih", "d_w_hh")
"""The backward's GEMMs over the whole sequence, by their names in the report."""


def _total(report: dict, gemm: str, layers: int) -> float:
    return sum(report[f"{gemm}_l{k}"]["median_s"] for k in range(layers))


def bench_roofline(case: Case, *, rounds, min_sample_s, seed) -> dict:
    """Median seconds and GFLOP/s of each GEMM per layer (one direction), and the floors."""
    shape, P, D = case.shape, case.out_size, case.directions
    gates_H = case.kind.gates * shape.H
    rng = np.random.default_rng(seed)
    rows = shape.L * shape.N
    calls, flops = {}, {}
    for k in range(shape.layers):
        fan_in = shape.H_in if k == 0 else D * P
        inputs = jnp.asarray(rng.standard_normal((rows, fan_in), np.float32))  # (R, in_k)
        w_ih = jnp.asarray(rng.standard_normal((fan_in, gates_H), np.float32))  # (in_k, G*H)
        d_pre = jnp.asarray(rng.standard_normal((rows, gates_H), np.float32))  # (R, G*H)
        hs = jnp.asarray(rng.standard_normal((rows, P), np.float32))  # (R, P)
        w_hh = _recurrent_weight(rng, P, gates_H)  # (P, G*H)
        h0 = jnp.asarray(rng.standard_normal((shape.N, P), np.float32))  # (N, P)
        matmul = jax.jit(jnp.matmul)
        calls[f"input_gemm_l{k}"] = jax_call(matmul, inputs, w_ih)
        calls[f"d_x_l{k}"] = jax_call(matmul, d_pre, w_ih.T)
        calls[f"d_w_ih_l{k}"] = jax_call(matmul, d_pre.T, inputs)
        calls[f"d_w_hh_l{k}"] = jax_call(matmul, d_pre.T, hs)
        calls[f"transpose_l{k}"] = jax_call(jax.jit(jnp.transpose), d_pre)
        chain = jax.jit(functools.partial(_matmul_chain, length=shape.L))
        calls[f"recurrent_l{k}"] = jax_call(chain, h0, w_hh)
        for name in ("input_gemm", "d_x", "d_w_ih"):
            flops[f"{name}_l{k}"] = 2 * rows * fan_in * gates_H
        flops[f"d_w_hh_l{k}"] = flops[f"recurrent_l{k}"] = 2 * rows * P * gates_H
    loop = jax.jit(functools.partial(backward_loop.backward_loop, cell=case.kind.cell))
    loop_inputs = backward_loop.random_inputs(rng, case.kind.cell, shape, P, case.kind.gates)
    calls["backward_loop"] = jax_call(loop, *loop_inputs)
    flops["backward_loop"] = 2 * rows * P * gates_H
    times = paired_rounds(calls, rounds, calibrate(calls, min_sample_s))
    report = {name: {"median_s": statistics.median(t)} for name, t in times.items()}
    for name, count in flops.items():
        report[name]["gflops"] = count / report[name]["median_s"] / 1e9
    inputs, recurrent = (_total(report, g, shape.layers) for g in ("input_gemm", "recurrent"))
    backward = sum(_total(report, g, shape.layers) for g in BACKWARD_GEMMS)
    report["directions"] = D
    report["fwd_floor_s"] = D * (inputs + recurrent)
    report["train_floor_estimate_s"] = D * (inputs + backward + 2 * recurrent)
    loops = shape.layers * report["backward_loop"]["median_s"]
    report["bwd_steps_s"] = D * max(0.0, loops - recurrent)
    report["transpose_s"] = D * _total(report, "transpose", shape.layers)
    return report
