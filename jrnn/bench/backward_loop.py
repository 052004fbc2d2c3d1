"""The textbook backward loop of each kind: saved gate values in, pre-activation gradients out.

Every train step's backward scan does at least this, from ``t = L-1`` down to ``0``: read what
the forward saved and the output's gradient ``d y_t``, run the derivative of the gate math,
write the gradients of the pre-activations (the weight-gradient GEMMs read them afterwards),
and pass ``d h`` back through ``W_hh`` (and ``W_hr``). The roofline (:mod:`.roofline`) times
this loop alone; beyond its recurrent GEMMs, that is the backward's share of the gate math and
loop, as XLA compiles it on the machine, in the bound the targets table sets.

Weights are in torch's layout: ``w_hh (G*H, P)``, and ``w_hr (P, H)`` for a projected LSTM.
What each kind saved, per step, each ``(N, H)`` (activations, not pre-activations):

- Elman: ``h_t``.
- LSTM: the gates ``i, f, g, o``, ``tanh(c_t)`` and ``c_{t-1}``.
- GRU: the gates ``r, z, n``, ``h_{t-1} W_hn^T + b_hn`` and ``h_{t-1}``.

Each value is a sequence of its own: XLA:CPU (2-core Intel Xeon with AMX) ran the LSTM loop
at S1 in 13.7 ms with the gates saved side by side as one ``(L, N, 4H)`` sequence and split in
the step, against 9.2 ms with one sequence per gate (its recurrent GEMMs alone: 5.5 ms).
"""

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
from jax import lax


def _rnn_step(w, carry, saved_t, d_y_t):
    """Writes ``d pre (N, H)``."""
    (d_h,) = carry
    (h,) = saved_t
    d_pre = (d_y_t + d_h) * (1 - h * h)
    return (d_pre @ w["w_hh"],), d_pre


def _lstm_step(w, carry, saved_t, d_y_t):
    """Writes ``d pre (N, 4H)``, the gates in torch's order."""
    d_h, d_c = carry
    i, f, g, o, tanh_c, c_prev = saved_t
    d_m = d_y_t + d_h  # (N, P)
    if "w_hr" in w:
        d_m = d_m @ w["w_hr"]  # (N, H)
    d_c = d_c + d_m * o * (1 - tanh_c * tanh_c)
    d_pre = jnp.concatenate(
        [d_c * g * i * (1 - i), d_c * c_prev * f * (1 - f), d_c * i * (1 - g * g)]
        + [d_m * tanh_c * o * (1 - o)],
        axis=-1,
    )
    return (d_pre @ w["w_hh"], d_c * f), d_pre


def _gru_step(w, carry, saved_t, d_y_t):
    """Writes ``d pre (N, 3H)`` of ``x W_ih^T + b_ih`` and ``d (h W_hn^T + b_hn) (N, H)``."""
    (d_h,) = carry
    r, z, n, hn, h_prev = saved_t
    d_h = d_y_t + d_h
    d_n = d_h * (1 - z) * (1 - n * n)
    d_r = d_n * hn * r * (1 - r)
    d_z = d_h * (h_prev - n) * z * (1 - z)
    d_hn = d_n * r
    d_hp = jnp.concatenate([d_r, d_z, d_hn], axis=-1)  # (N, 3H)
    return (d_h * z + d_hp @ w["w_hh"],), (jnp.concatenate([d_r, d_z, d_n], axis=-1), d_hn)


STEPS: dict[str, Callable] = {"rnn": _rnn_step, "lstm": _lstm_step, "gru": _gru_step}
SAVED = {"rnn": 1, "lstm": 6, "gru": 5}
"""How many ``(N, H)`` values each kind saved per step."""


def backward_loop(w: dict, saved: tuple, d_ys, *, cell: str):
    """Run the loop from ``t = L-1`` down to ``0``, starting from a zero ``d h`` (and ``d c``).

    Shapes:
        ``saved``: as the module says, each ``(L, N, H)``; ``d_ys (L, N, P)``. Returns
        ``(carry, written)``: ``d h_0 (N, P)`` (and ``d c_0 (N, H)``), and what each step
        wrote, stacked over ``L``.
    """
    batch, P = d_ys.shape[1:]
    carry = (jnp.zeros((batch, P), d_ys.dtype),)
    if cell == "lstm":
        carry += (jnp.zeros_like(saved[0][0]),)

    def step(carry, inputs):
        return STEPS[cell](w, carry, *inputs)

    return lax.scan(step, carry, (saved, d_ys), reverse=True)


def random_inputs(rng: np.random.Generator, cell: str, shape, P: int, gates: int):
    """Weights, saved values and ``d_ys`` of the kind at ``shape`` (``L, N, H`` used).

    Saved values are uniform in ``(0, 1)``, a range every activation takes; the timing does
    not depend on them.
    """
    L, N, H = shape.L, shape.N, shape.H

    def uniform(*dims):
        return jnp.asarray(rng.uniform(size=dims), jnp.float32)

    w = {"w_hh": jnp.asarray(rng.standard_normal((gates * H, P)) / np.sqrt(gates * H), jnp.float32)}
    if cell == "lstm" and P != H:
        w["w_hr"] = jnp.asarray(rng.standard_normal((P, H)) / np.sqrt(P), jnp.float32)
    saved = tuple(uniform(L, N, H) for _ in range(SAVED[cell]))
    return w, saved, uniform(L, N, P)
