"""The time loop: one layer, one direction, over a whole sequence, with a hand-written backward.

This is the only place jrnn runs over time. The input projection ``x_t @ W_ih.T`` for every step
is computed by the caller as one large GEMM; the scan carries only ``h @ W_hh.T``. The backward
scan carries only ``dh``; the weight, bias and input gradients are then single large GEMMs and
reductions over all steps, and the only thing saved from the forward pass is the output sequence.
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax

from . import _nonlinearity


def scan_layer(
    xp: jax.Array,
    bias: jax.Array | None,
    w_hh: jax.Array,
    h0: jax.Array,
    mask: jax.Array | None,
    *,
    nonlinearity: str,
    reverse: bool,
    unroll: int,
    precision,
) -> tuple[jax.Array, jax.Array]:
    """Run one direction of one layer over time.

    ::

        h_t = f(xp_t + bias + h_{t-1} @ W_hh.T)    where mask[t], else h_t = h_{t-1}
        y_t = h_t                                  where mask[t], else 0

    Shapes:
        ``xp``: ``(L, N, H)``, the input projections ``x_t @ W_ih.T``. ``bias``: ``(H,)``, the
        folded ``b_ih + b_hh``, or ``None``. ``w_hh``: ``(H, H)``. ``h0``: ``(N, H)``.
        ``mask``: ``(L, N)`` bool, or ``None`` for all steps valid.

    Args:
        xp: input projections.
        bias: folded bias or ``None``.
        w_hh: recurrent weight in torch's layout.
        h0: initial state.
        mask: which steps are valid. The valid steps of each row must form a prefix: the
            reverse direction then starts at each row's last valid step by holding ``h0``
            through the padding, which it meets first.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        reverse: run from ``t = L-1`` down to ``0``.
        unroll: steps per scan iteration.
        precision: for every matmul.

    Returns:
        ``(ys, h_last)``: ``ys (L, N, H)`` and the state after the last valid step ``(N, H)``.
    """
    return _layer(xp, bias, w_hh, h0, mask, nonlinearity, reverse, unroll, precision)


def _forward(xp, bias, w_hh, h0, mask, nonlinearity, reverse, unroll, precision):
    w_hh_t = w_hh.T  # (H, H), transposed once: XLA would redo it every step inside the loop

    def step(h, inputs):
        xp_t, valid_t = inputs  # (N, H), (N,) or None
        pre = xp_t + jnp.matmul(h, w_hh_t, precision=precision)  # (N, H)
        if bias is not None:
            pre = pre + bias[None]  # (1, H)
        h_new = _nonlinearity.apply(nonlinearity, pre)
        if valid_t is None:
            return h_new, h_new
        valid_t = valid_t[:, None]  # (N, 1)
        return jnp.where(valid_t, h_new, h), jnp.where(valid_t, h_new, 0)

    h_last, ys = lax.scan(step, h0, (xp, mask), reverse=reverse, unroll=unroll)
    return ys, h_last


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6, 7, 8))
def _layer(xp, bias, w_hh, h0, mask, nonlinearity, reverse, unroll, precision):
    return _forward(xp, bias, w_hh, h0, mask, nonlinearity, reverse, unroll, precision)


def _layer_fwd(xp, bias, w_hh, h0, mask, nonlinearity, reverse, unroll, precision):
    ys, h_last = _forward(xp, bias, w_hh, h0, mask, nonlinearity, reverse, unroll, precision)
    return (ys, h_last), (ys, bias, w_hh, h0, mask)


def _previous_states(ys, h0, mask, reverse):
    """``h_{t-1}`` as seen by step ``t`` (``h_{t+1}`` in reverse), from outputs: ``(L, N, H)``."""
    if not reverse:
        # Valid steps are a prefix, so a valid step's predecessor is valid or is h0.
        return jnp.concatenate([h0[None], ys[:-1]])
    h_prev = jnp.concatenate([ys[1:], h0[None]])  # (L, N, H)
    if mask is None:
        return h_prev
    # A row's last valid step is the first one the reverse direction takes: it sees h0.
    prev_valid = jnp.concatenate([mask[1:], jnp.zeros_like(mask[:1])])  # (L, N)
    return jnp.where(prev_valid[..., None], h_prev, h0)


def _layer_bwd(nonlinearity, reverse, unroll, precision, residuals, cotangents):
    ys, bias, w_hh, h0, mask = residuals
    d_ys, d_h_last = cotangents  # (L, N, H), (N, H)

    def step(d_h, inputs):
        d_y_t, y_t, valid_t = inputs  # (N, H), (N, H), (N,) or None
        d_new = d_y_t + d_h  # reaches the new state through the output and the carry
        if valid_t is not None:
            valid_t = valid_t[:, None]  # (N, 1)
            d_new = jnp.where(valid_t, d_new, 0)
        d_pre = d_new * _nonlinearity.derivative_from_output(nonlinearity, y_t)  # (N, H)
        d_h_prev = jnp.matmul(d_pre, w_hh, precision=precision)  # (N, H)
        if valid_t is not None:
            d_h_prev = d_h_prev + jnp.where(valid_t, 0, d_h)  # padding passed the state through
        return d_h_prev, d_pre

    d_h0, d_pre = lax.scan(
        step, d_h_last, (d_ys, ys, mask), reverse=not reverse, unroll=unroll
    )  # (N, H), (L, N, H)
    h_prev = _previous_states(ys, h0, mask, reverse)  # (L, N, H)
    d_w_hh = jnp.tensordot(d_pre, h_prev, axes=((0, 1), (0, 1)), precision=precision)  # (H, H)
    d_bias = None if bias is None else d_pre.sum(axis=(0, 1))  # (H,)
    return d_pre, d_bias, d_w_hh, d_h0, None


_layer.defvjp(_layer_fwd, _layer_bwd)


def scan_layer_in_segments(
    x: jax.Array,
    w_ih: jax.Array,
    bias: jax.Array | None,
    w_hh: jax.Array,
    h0: jax.Array,
    mask: jax.Array | None,
    *,
    segment: int,
    nonlinearity: str,
    reverse: bool,
    unroll: int,
    precision,
) -> tuple[jax.Array, jax.Array]:
    """:func:`scan_layer` with the input projection, rematerialised ``segment`` steps at a time.

    For very long sequences: the forward keeps only the state at every segment boundary; the
    backward recomputes one segment at a time (its projection GEMM and its steps), so training
    memory inside the layer is ``O(L/segment + segment)`` states instead of ``O(L)``, for about
    one more forward pass of compute. When ``segment`` does not divide ``L``, the last
    ``L % segment`` steps run as one more, shorter segment.

    Shapes:
        ``x``: ``(L, N, H_in)``. ``w_ih``: ``(H, H_in)``. The rest as :func:`scan_layer`.

    Returns:
        ``(ys, h_last)``: ``(L, N, H)`` and ``(N, H)``.
    """
    seq_len, batch_size = x.shape[:2]
    num_segments, tail = divmod(seq_len, segment)
    if mask is None:
        mask = jnp.ones((seq_len, batch_size), bool)  # (L, N)

    @jax.checkpoint
    def run_segment(h, inputs):
        x_seg, mask_seg = inputs  # (segment, N, H_in), (segment, N)
        xp = jnp.matmul(x_seg, w_ih.T, precision=precision)  # (segment, N, H)
        ys, h = _layer(xp, bias, w_hh, h, mask_seg, nonlinearity, reverse, unroll, precision)
        return h, ys

    def run_segments(h, x, mask):
        count = x.shape[0] // segment
        inputs = (
            x.reshape(count, segment, *x.shape[1:]),
            mask.reshape(count, segment, batch_size),
        )
        h, ys = lax.scan(run_segment, h, inputs, reverse=reverse)  # ys: (count, segment, N, H)
        return h, ys.reshape(count * segment, *ys.shape[2:])

    if tail == 0:
        h_last, ys = run_segments(h0, x, mask)
        return ys, h_last
    split = num_segments * segment
    head, rest = (x[:split], mask[:split]), (x[split:], mask[split:])
    if not reverse:
        h, ys_head = run_segments(h0, *head)
        h_last, ys_rest = run_segment(h, rest)
    else:  # the reverse direction meets the tail first
        h, ys_rest = run_segment(h0, rest)
        h_last, ys_head = run_segments(h, *head)
    return jnp.concatenate([ys_head, ys_rest]), h_last
