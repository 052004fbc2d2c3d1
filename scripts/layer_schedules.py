"""Measure two ways to run a stack of layers, to decide jrnn's default.

* ``loop``: jrnn's schedule, a Python loop over layers, each layer one hoisted GEMM plus one scan
  with the engine's derivative rule.
* ``wavefront``: all layers advance together along the diagonal, layer ``l`` at time ``s - l`` on
  step ``s``, vmapped over layers: ``L + n - 1`` sequential steps instead of ``L * n``, but layers
  1..n-1 can no longer hoist their input GEMM, and plain autodiff runs the backward. Written here
  only, as an experiment (unidirectional, no lengths, tanh).

A third schedule, a ``lax.scan`` over the stacked params of layers 1..n-1, was an option of
``jrnn.rnn`` (``scan_layers``) until it was measured slower in steady state on every shape here
and no faster to compile, and removed.

Prints first-call (compile + run) time and paired medians of the steady forward and train step.

    python scripts/layer_schedules.py [--rounds 7] [--quick]
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
from jax import lax

import jrnn

SHAPES = {  # name: (L, N, H_in, H, layers)
    "S2": (512, 64, 128, 256, 2),
    "S4": (64, 256, 512, 512, 3),
    "deep-narrow": (1000, 1, 32, 64, 8),
    "deep-32": (100, 16, 64, 64, 32),
}
QUICK_SHAPES = {"tiny": (20, 2, 3, 4, 3)}


def wavefront_rnn(params, x):
    """A unidirectional tanh RNN with every layer stepping at once along the diagonal.

    Shapes:
        ``x``: ``(L, N, H_in)``. Returns ``output (L, N, H)`` and ``h_n (layers, N, H)``.
    """
    num_layers = sum(k.startswith("weight_ih_l") for k in params)
    seq_len, batch_size = x.shape[:2]
    hidden_size = params["weight_hh_l0"].shape[0]

    def stack(name, first):
        return jnp.stack([params[f"{name}_l{k}"] for k in range(first, num_layers)])

    w_ih_rest_t = jnp.swapaxes(stack("weight_ih", 1), 1, 2)  # (n-1, H, H)
    w_hh_t = jnp.swapaxes(stack("weight_hh", 0), 1, 2)  # (n, H, H)
    bias = (stack("bias_ih", 0) + stack("bias_hh", 0))[:, None]  # (n, 1, H)
    xp0 = x @ params["weight_ih_l0"].T  # (L, N, H), layer 0's GEMM stays hoisted
    steps = seq_len + num_layers - 1
    xp0 = jnp.pad(xp0, ((0, num_layers - 1), (0, 0), (0, 0)))  # (steps, N, H)
    layer_ids = jnp.arange(num_layers)

    def step(h, inputs):
        s, xp0_s = inputs
        upper = jnp.einsum("lnh,lhk->lnk", h[:-1], w_ih_rest_t)  # (n-1, N, H)
        pre = jnp.concatenate([xp0_s[None], upper]) + bias
        pre = pre + jnp.einsum("lnh,lhk->lnk", h, w_hh_t)  # (n, N, H)
        active = ((s - layer_ids >= 0) & (s - layer_ids < seq_len))[:, None, None]
        h = jnp.where(active, jnp.tanh(pre), h)
        return h, h[-1]

    h0 = jnp.zeros((num_layers, batch_size, hidden_size), x.dtype)
    h_n, top = lax.scan(step, h0, (jnp.arange(steps), xp0))
    return top[num_layers - 1 :], h_n


def _contenders():
    return {
        "loop": lambda p, x: jrnn.rnn(p, x),
        "wavefront": wavefront_rnn,
    }


def _timed(fn, *args):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def main(rounds: int = 7, quick: bool = False) -> dict:
    """Time every schedule on every shape; return ``{shape: {contender: {metric: seconds}}}``."""
    shapes = QUICK_SHAPES if quick else SHAPES
    results = {}
    for shape_name, (seq_len, batch, input_size, hidden, layers) in shapes.items():
        key_p, key_x = jax.random.split(jax.random.key(0))
        params = jrnn.init_rnn(key_p, input_size, hidden, layers)
        x = jax.random.normal(key_x, (seq_len, batch, input_size), jnp.float32)
        fns = {}
        for name, fn in _contenders().items():

            def loss(p, x, fn=fn):
                return sum(a.sum() for a in fn(p, x))

            fns[name] = {
                "fwd": jax.jit(fn),
                "train": jax.jit(jax.value_and_grad(loss, argnums=(0, 1))),
            }
        reference = fns["loop"]["fwd"](params, x)
        row = {}
        for name, pair in fns.items():
            out = pair["fwd"](params, x)
            err = max(float(jnp.abs(a - b).max()) for a, b in zip(out, reference, strict=True))
            row[name] = {"max_abs_diff": err, "first_train": _timed(pair["train"], params, x)}
        samples = {name: {"fwd": [], "train": []} for name in fns}
        for _ in range(rounds):
            for name, pair in fns.items():
                for metric, fn in pair.items():
                    samples[name][metric].append(_timed(fn, params, x))
        for name in fns:
            for metric, values in samples[name].items():
                row[name][metric] = statistics.median(values)
        results[shape_name] = row
        print(
            f"\n{shape_name} (L, N, H_in, H, layers) = "
            f"{(seq_len, batch, input_size, hidden, layers)}"
        )
        print("| schedule | first train call s | fwd ms | train ms | train / loop | max |diff| |")
        print("|---|---|---|---|---|---|")
        for name, r in row.items():
            ratio = r["train"] / row["loop"]["train"]
            print(
                f"| {name} | {r['first_train']:.2f} | {1e3 * r['fwd']:.2f} | "
                f"{1e3 * r['train']:.2f} | {ratio:.2f} | {r['max_abs_diff']:.1e} |"
            )
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true")
    main(**vars(parser.parse_args()))
