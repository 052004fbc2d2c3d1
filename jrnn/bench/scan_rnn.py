"""The plain-JAX contender: torch's equations as a textbook ``lax.scan``.

Each step computes both matmuls (``x_t @ W_ih.T`` and ``h @ W_hh.T``) and adds both biases,
as the equations read; only the transposes are hoisted out of the step. No custom derivative:
plain autodiff of the scan. Bidirectional layers scan the reverse direction with
``reverse=True`` and concatenate forward then reverse features, as torch does.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from .layout import layer_suffixes, stacked_state


def _rnn_step(w, carry, x_t):
    """``h' = tanh(x_t W_ih^T + b_ih + h W_hh^T + b_hh)``."""
    (h,) = carry
    return (jnp.tanh(x_t @ w["w_ih_t"] + w["b_ih"] + h @ w["w_hh_t"] + w["b_hh"]),)  # (N, H)


def _lstm_step(w, carry, x_t):
    """An LSTM step as torch's: ``c' = f c + i g``, ``h' = o tanh(c')`` (times ``W_hr^T``)."""
    h, c = carry
    gates = x_t @ w["w_ih_t"] + w["b_ih"] + h @ w["w_hh_t"] + w["b_hh"]  # (N, 4H)
    i, f, g, o = jnp.split(gates, 4, axis=-1)  # (N, H) each
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)  # (N, H)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)  # (N, H)
    if "w_hr_t" in w:
        h = h @ w["w_hr_t"]  # (N, P)
    return h, c


def _gru_step(w, carry, x_t):
    """A GRU step as torch's: ``n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn))``."""
    (h,) = carry
    r_x, z_x, n_x = jnp.split(x_t @ w["w_ih_t"] + w["b_ih"], 3, axis=-1)  # (N, H) each
    r_h, z_h, n_h = jnp.split(h @ w["w_hh_t"] + w["b_hh"], 3, axis=-1)  # (N, H) each
    r = jax.nn.sigmoid(r_x + r_h)
    z = jax.nn.sigmoid(z_x + z_h)
    n = jnp.tanh(n_x + r * n_h)
    return ((1 - z) * n + z * h,)  # (N, H)


class Textbook(NamedTuple):
    """One kind's step ``(weights, carry, x_t (N, in)) -> carry`` and its gate count.

    The carry is ``(h,)``, or ``(h, c)`` when ``cell_state``; ``h`` is ``(N, P)``.
    """

    step: Callable
    gates: int
    cell_state: bool


TEXTBOOK = {
    "rnn": Textbook(_rnn_step, 1, False),
    "lstm": Textbook(_lstm_step, 4, True),
    "gru": Textbook(_gru_step, 3, False),
}


def _weights(params, key_suffix: str) -> dict:
    """One layer and direction's weights, transposed once and biases as rows."""
    weights = {
        "w_ih_t": params[f"weight_ih{key_suffix}"].T,  # (in, G*H)
        "w_hh_t": params[f"weight_hh{key_suffix}"].T,  # (P, G*H)
        "b_ih": params[f"bias_ih{key_suffix}"][None],  # (1, G*H)
        "b_hh": params[f"bias_hh{key_suffix}"][None],  # (1, G*H)
    }
    if f"weight_hr{key_suffix}" in params:
        weights["w_hr_t"] = params[f"weight_hr{key_suffix}"].T  # (H, P)
    return weights


def _direction(textbook: Textbook, w: dict, x, *, reverse: bool):
    """One layer, one direction: ``x (L, N, in)`` -> ``(hs (L, N, P), final carry)``."""
    P, gates_H = w["w_hh_t"].shape
    h0 = jnp.zeros((x.shape[1], P), x.dtype)  # (N, P)
    c0 = jnp.zeros((x.shape[1], gates_H // textbook.gates), x.dtype)  # (N, H)
    carry = (h0, c0) if textbook.cell_state else (h0,)

    def step(carry, x_t):
        carry = textbook.step(w, carry, x_t)
        return carry, carry[0]

    final, hs = lax.scan(step, carry, x, reverse=reverse)
    return hs, final


def forward(params, x, *, cell: str):
    """``x`` ``(L, N, H_in)`` -> ``(output (L, N, D*P), h_n (S, N, P))`` or with ``(h_n, c_n)``."""
    textbook = TEXTBOOK[cell]
    finals = []
    for suffixes in layer_suffixes(params):
        outputs = []
        for direction, key_suffix in enumerate(suffixes):
            w = _weights(params, key_suffix)
            hs, final = _direction(textbook, w, x, reverse=direction == 1)
            outputs.append(hs)
            finals.append(final)
        x = jnp.concatenate(outputs, axis=-1)  # (L, N, D*P)
    return x, stacked_state(finals)
