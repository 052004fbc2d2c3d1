"""The cell kinds: each one's equation, written once, and the one step every kind shares.

A kind is a :class:`CellSpec`: its gate count, its carry (``h``, or ``(h, c)`` for LSTM), its
pointwise ``update`` (the equation) and that update's ``tangent`` (its derivative, written from
the values the update saved, so the engine's tangent scan is linear in its tangents). The
matmuls around the update are the same for every kind and live in :func:`step`, which both the
public cell functions and the driver's scan body call::

    hp = h @ W_hh.T + b_hh                      # the recurrent projection, (N, gates*H)
    new, saved = update(xp, hp, carry)          # xp = x @ W_ih.T + b_ih, before or in the loop
    h = m @ W_hr.T                              # LSTM with proj_size only

The gate blocks are taken apart with ``jnp.split``, never with slices: in reverse mode a slice
of a tangent transposes to a zero-padded block, and XLA:CPU fuses the sum of four padded blocks
into one branchy kernel (32 us a step for LSTM at N=32, H=128: 3/4 of the step's GEMM);
a split transposes to one concatenate. Measured side by side, the train step took 0.77-0.95x
the sliced version's time for LSTM and 0.82-0.92x for GRU (S1, S3, S5; two runs of 7 rounds),
the forward the same, and the results were bitwise equal.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from ._nonlinearity import FUNCTIONS


class CellSpec(NamedTuple):
    """One cell kind.

    Attributes:
        kind: ``"RNN"``, ``"LSTM"`` or ``"GRU"`` (torch's module name).
        gates: gate blocks stacked in the weights (1, 4, 3).
        paired: the carry is ``(h, c)`` (LSTM), else ``h``.
        summed_gates: how many leading gate blocks ``update`` reads only as ``xp + hp`` (every
            block for Elman and LSTM; ``r`` and ``z`` for GRU).
        update: ``(xp, hp, carry) -> (new, saved)``: the pointwise equation. ``new`` is the
            next carry before any projection; ``saved`` what :attr:`tangent` needs.
        tangent: ``(h_new, saved, h_prev, d_xp, d_hp, d_carry) -> d_new``, linear in the
            ``d_``; ``h_new`` and ``h_prev`` are the ``h`` after and before the step. It reads
            the summed blocks only as ``d_xp + d_hp``, so the engine may move part of one into
            the other.
        rebuild: ``(xp, hp, h_prev, edge, mask, reverse) -> (new, saved)``: ``update`` over a
            chunk of ``k`` steps at once, from each step's ``h_{t-1}`` and the carry before the
            chunk (``edge``), for a backward that kept only ``h``; ``None`` where ``update``
            saves nothing (Elman). Leaves ``(k, N, .)``; ``mask`` ``(k, N)`` or ``None``;
            ``reverse``: the chunk runs from its last step to its first.
    """

    kind: str
    gates: int
    paired: bool
    summed_gates: int
    update: Callable
    tangent: Callable
    rebuild: Callable | None = None

    @property
    def folds_bias(self) -> bool:
        """``update`` reads only ``xp + hp``, so ``b_ih`` and ``b_hh`` may be summed."""
        return self.summed_gates == self.gates


class Recurrent(NamedTuple):
    """One direction's recurrent weights, transposed for row-major matmuls.

    Shapes:
        ``w_hh_t``: ``(P, gates*H)``; ``b_hh``: ``(gates*H,)`` or ``None`` (no bias); for kinds
        that fold it, the driver passes ``b_ih + b_hh`` here and leaves ``b_ih`` out of ``xp``.
        ``w_hr_t``: ``(H, P)`` for LSTM's projection, else ``None``.
        ``w_ih_t``: ``(H_in, gates*H)`` when the step projects its own input (the scan then
        reads ``x_t``, not ``xp_t``), with ``b_ih``: ``(gates*H,)`` or ``None``; else both
        ``None`` and the input projection is hoisted out of the loop.
    """

    w_hh_t: jax.Array
    b_hh: jax.Array | None
    w_hr_t: jax.Array | None
    w_ih_t: jax.Array | None = None
    b_ih: jax.Array | None = None


def project_input(weights: Recurrent, x: jax.Array, precision=None) -> jax.Array:
    """``x @ W_ih.T + b_ih``: ``(..., H_in)`` -> ``(..., gates*H)``."""
    xp = jnp.matmul(x, weights.w_ih_t, precision=precision)
    return xp if weights.b_ih is None else add_bias(xp, weights.b_ih)


def add_bias(a: jax.Array, bias: jax.Array) -> jax.Array:
    """``a + bias`` along the last axis, broadcast explicitly (rank promotion may be off)."""
    return a + bias.reshape((1,) * (a.ndim - 1) + bias.shape)


def hidden(cell: CellSpec, carry):
    """The ``h`` of a carry."""
    return carry[0] if cell.paired else carry


def step(cell: CellSpec, weights: Recurrent, xp_t: jax.Array, carry, precision=None):
    """One time step of any kind, from the input projection ``xp_t``.

    Shapes:
        ``xp_t``: ``(N, gates*H)``. ``carry``: ``h (N, P)``, or ``(h (N, P), c (N, H))``.

    Returns:
        ``(next_carry, (saved, new))``: the carry after the step, and what the engine's
        tangent needs (``new`` is the carry before LSTM's projection).
    """
    hp = jnp.matmul(hidden(cell, carry), weights.w_hh_t, precision=precision)  # (N, gates*H)
    if weights.b_hh is not None:
        hp = add_bias(hp, weights.b_hh)
    new, saved = cell.update(xp_t, hp, carry)
    if weights.w_hr_t is None:
        return new, (saved, new)
    m, c = new
    return (jnp.matmul(m, weights.w_hr_t, precision=precision), c), (saved, new)  # h: (N, P)


def _sigmoid(z):
    """``sigmoid(z)`` as ``0.5 * tanh(0.5 * z) + 0.5``: the same values, far faster on XLA:CPU."""
    return 0.5 * jnp.tanh(0.5 * z) + 0.5


def _d_sigmoid(s, dz):
    """Tangent of ``s = sigmoid(z)``: ``s (1 - s) dz``, written linearly in ``dz``."""
    return s * dz - s * (s * dz)


def _d_tanh(t, dz):
    """Tangent of ``t = tanh(z)``: ``(1 - t^2) dz``, written linearly in ``dz``."""
    return dz - t * (t * dz)


def _elman(nonlinearity):
    function = FUNCTIONS[nonlinearity]

    def update(xp, hp, h):
        """``h' = f(xp + hp)``."""
        return function(xp + hp), ()

    def tangent(h_new, saved, h_prev, d_xp, d_hp, d_h):
        d_pre = d_xp + d_hp
        if nonlinearity == "tanh":
            return _d_tanh(h_new, d_pre)
        return jnp.where(h_new > 0, d_pre, 0)  # relu: torch's gradient at 0 is 0

    return CellSpec("RNN", 1, False, 1, update, tangent)


def _lstm_update(xp, hp, carry):
    """``i, f, g, o`` gates; ``c' = f * c + i * g``; ``m = o * tanh(c')`` (``h`` before W_hr).

    It saves the step's ``c``, not ``c'``, so the tangent needs no shifted copy of the ``c``
    sequence.
    """
    _, c = carry
    z_i, z_f, z_g, z_o = jnp.split(xp + hp, 4, axis=-1)  # (N, H) each
    i, f, g, o = _sigmoid(z_i), _sigmoid(z_f), jnp.tanh(z_g), _sigmoid(z_o)
    c_new = f * c + i * g
    tanh_c = jnp.tanh(c_new)
    return (o * tanh_c, c_new), (i, f, g, o, tanh_c, c)


def _lstm_rebuild(xp, hp, h_prev, edge, mask, reverse):
    """The gates over the whole chunk; only ``c_t = f_t c_{t-1} + i_t g_t`` runs step by step."""
    z_i, z_f, z_g, z_o = jnp.split(xp + hp, 4, axis=-1)  # (k, N, H) each
    i, f, g, o = _sigmoid(z_i), _sigmoid(z_f), jnp.tanh(z_g), _sigmoid(z_o)

    def body(c, inputs):
        f_t, ig_t, valid_t = inputs
        c_new = f_t * c + ig_t
        if valid_t is not None:
            c_new = jnp.where(valid_t[:, None], c_new, c)  # a padded step holds its carry
        return c_new, (c, c_new)

    _, (c_prev, c_new) = lax.scan(body, edge[1], (f, i * g, mask), reverse=reverse)
    tanh_c = jnp.tanh(c_new)
    return (o * tanh_c, c_new), (i, f, g, o, tanh_c, c_prev)


def _lstm_tangent(m_new, saved, h_prev, d_xp, d_hp, d_carry):
    i, f, g, o, tanh_c, c_prev = saved
    _, d_c_prev = d_carry
    d_i, d_f, d_g, d_o = jnp.split(d_xp + d_hp, 4, axis=-1)
    d_i, d_f, d_o = _d_sigmoid(i, d_i), _d_sigmoid(f, d_f), _d_sigmoid(o, d_o)
    d_g = _d_tanh(g, d_g)
    d_c = f * d_c_prev + c_prev * d_f + i * d_g + g * d_i
    return (o * _d_tanh(tanh_c, d_c) + tanh_c * d_o, d_c)


def _gru_update(xp, hp, h):
    """``r, z = sigmoid(x_rz + h_rz)``; ``n = tanh(x_n + r * h_n)``; ``h' = (1 - z) n + z h``.

    ``hp`` includes ``b_hh``, so ``b_hn`` stays inside ``r * (...)``, as torch computes it.
    """
    x_r, x_z, x_n = jnp.split(xp, 3, axis=-1)  # (N, H) each
    h_r, h_z, h_n = jnp.split(hp, 3, axis=-1)
    r, z = _sigmoid(x_r + h_r), _sigmoid(x_z + h_z)
    n = jnp.tanh(x_n + r * h_n)
    return n + z * (h - n), (r, z, n, h_n)


def _gru_tangent(h_new, saved, h_prev, d_xp, d_hp, d_h):
    r, z, n, h_n = saved
    d_x_r, d_x_z, d_x_n = jnp.split(d_xp, 3, axis=-1)
    d_h_r, d_h_z, d_h_n = jnp.split(d_hp, 3, axis=-1)
    d_r = _d_sigmoid(r, d_x_r + d_h_r)
    d_z = _d_sigmoid(z, d_x_z + d_h_z)
    d_n = _d_tanh(n, d_x_n + d_r * h_n + r * d_h_n)
    return d_n + d_z * h_prev - d_z * n + z * d_h - z * d_n


def _gru_rebuild(xp, hp, h_prev, edge, mask, reverse):
    """GRU's update needs nothing but ``h_{t-1}``: the whole chunk at once."""
    return _gru_update(xp, hp, h_prev)


ELMAN = {"tanh": _elman("tanh"), "relu": _elman("relu")}
LSTM = CellSpec("LSTM", 4, True, 4, _lstm_update, _lstm_tangent, _lstm_rebuild)
GRU = CellSpec("GRU", 3, False, 2, _gru_update, _gru_tangent, _gru_rebuild)
