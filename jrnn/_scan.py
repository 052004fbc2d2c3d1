"""The time loop: one layer, one direction, any cell kind, and its derivative rule.

This is the only place jrnn runs a cell's step over time (a rebuilt LSTM chunk reruns only its
pointwise ``c_t = f_t c_{t-1} + i_t g_t``, in :func:`jrnn._cells._lstm_rebuild`). The input
projection ``x_t @ W_ih.T + b_ih`` is either hoisted by the caller into one GEMM over every step
(the scan reads ``xp_t``) or done by the step itself (the weights carry ``W_ih``; the scan reads
``x_t``); the scan body is :func:`jrnn._cells.step`.

Differentiation is a ``jax.custom_jvp`` rule, so forward mode (``jvp``, ``jacfwd``,
``linearize``) and reverse mode both work. The rule runs the scan once, keeping the carry
sequence and the few values each kind's tangent needs, then a *tangent scan* that is linear in
the tangents and does only ``dh @ W_hh.T`` (and ``@ W_hr.T``) per step. The tangents coming from
the weights, ``h_{t-1} @ dW_hh.T`` and ``m_t @ dW_hr.T``, are GEMMs over many steps outside it:
over the whole sequence, or, for a long one, over each of its chunks (a scan over chunks, each
rematerialised, sized by :func:`_chunk_length`), so no whole-sequence ``h_{t-1}`` or
pre-activation tangent ever exists. Where one step's GEMM is small, a chunked rule keeps only
``h`` in the forward (and LSTM's ``c`` at each chunk's edge), and each chunk rebuilds its gate
values with GEMMs over the chunk (:func:`_recompute`).
For reverse mode JAX transposes that scan: a backward scan carrying only the state's cotangent,
and the weight and input gradients as GEMMs over the chunks, accumulated.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._cells import CellSpec, Recurrent, add_bias, hidden, project_input, step


def scan_layer(
    cell: CellSpec,
    weights: Recurrent,
    xp: jax.Array,
    carry0,
    mask: jax.Array | None,
    *,
    reverse: bool,
    unroll: int,
    precision,
):
    """Run one direction of one layer over time.

    ::

        carry_t = step(xp_t, carry_{t-1})     where mask[t], else carry_t = carry_{t-1}
        y_t = h_t                             where mask[t], else 0

    Shapes:
        ``xp``: ``(L, N, gates*H)``, the input projections, or the inputs ``(L, N, H_in)``
        when ``weights`` carry ``W_ih``. ``carry0``: ``h (N, P)`` or ``(h (N, P), c (N, H))``.
        ``mask``: ``(L, N)`` bool, or ``None`` for all steps valid.

    Args:
        cell: the kind.
        weights: this direction's recurrent weights, and ``W_ih`` if the step projects.
        xp: input projections (``b_ih`` included unless the kind folds it into ``b_hh``), or
            the inputs themselves.
        carry0: initial state.
        mask: which steps are valid. The valid steps of each row must form a prefix: the
            reverse direction then starts at each row's last valid step by holding ``carry0``
            through the padding, which it meets first.
        reverse: run from ``t = L-1`` down to ``0``.
        unroll: steps per scan iteration.
        precision: for every matmul.

    Returns:
        ``(ys, carry_last)``: ``ys (L, N, P)`` and the state after each row's last valid step.
    """
    return _layer(cell, reverse, unroll, precision, weights, xp, carry0, mask)


def _scan(cell, reverse, unroll, precision, weights, xp, carry0, mask, keep, slots=None):
    """The scan itself.

    ``keep``: what it outputs per step: ``"ys"``; ``"saved"``, ``h`` and what the tangent
    needs (the kind's saved values and LSTM's ``h`` before ``W_hr``); or ``"edges"``, ``h``
    alone, and for LSTM the ``c`` at each chunk's edge: step ``t`` writes its ``c`` into slot
    ``slots[t]`` of a buffer that starts as copies of ``c0`` (:func:`_edge_slots`). That mode
    returns ``(carry_last, (h_seq (L, N, P), edge_c (slots, N, H) or None))``.
    """

    def body(state, inputs):
        carry, edge_c = state
        xp_t, valid_t, slot_t = inputs  # (N, gates*H) or x_t (N, H_in); (N,) or None; ()
        if weights.w_ih_t is not None:
            xp_t = project_input(weights, xp_t, precision)
        new, internals = step(cell, weights, xp_t, carry, precision)
        if valid_t is not None:
            new = jax.tree.map(lambda a, b: jnp.where(valid_t[:, None], a, b), new, carry)
        if keep == "edges":
            if edge_c is not None:
                edge_c = lax.dynamic_update_index_in_dim(edge_c, new[1], slot_t, 0)
            return (new, edge_c), hidden(cell, new)
        if keep == "saved":
            saved, unprojected = internals
            m = unprojected[0] if weights.w_hr_t is not None else None  # LSTM's h before W_hr
            return (new, edge_c), (hidden(cell, new), saved, m)
        y = hidden(cell, new)
        return (new, edge_c), y if valid_t is None else jnp.where(valid_t[:, None], y, 0)

    edge_c = None
    if keep == "edges" and cell.paired:
        c0 = carry0[1]
        edge_c = jnp.broadcast_to(c0, (int(slots.max()) + 1, *c0.shape))
    inputs = (xp, mask, slots)
    (carry_last, edge_c), out = lax.scan(
        body, (carry0, edge_c), inputs, reverse=reverse, unroll=unroll
    )
    return carry_last, ((out, edge_c) if keep == "edges" else out)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2, 3))
def _layer(cell, reverse, unroll, precision, weights, xp, carry0, mask):
    carry_last, ys = _scan(cell, reverse, unroll, precision, weights, xp, carry0, mask, "ys")
    return ys, carry_last


def _times_transposed(a, w, precision):
    """``a @ w.T`` for torch-layout ``w``: its transpose in reverse mode is a plain ``@ w``."""
    return lax.dot_general(a, w, (((a.ndim - 1,), (1,)), ((), ())), precision=precision)


@_layer.defjvp
def _layer_jvp(cell, reverse, unroll, precision, primals, tangents):
    weights, xp, carry0, mask = primals
    d_weights, d_xp, d_carry0, _ = tangents
    seq_len, batch_size = xp.shape[:2]
    k = _chunk_length(seq_len, batch_size, weights)
    scan = functools.partial(_scan, cell, reverse, unroll, precision, weights, xp, carry0, mask)
    if k < seq_len and _recomputes(cell, weights, batch_size):
        # The forward keeps h (and LSTM's c at each chunk's edge); each chunk rebuilds the rest.
        carry_last, (h_seq, edge_c) = scan("edges", _edge_slots(seq_len, k, reverse))
        edges = _chunk_edges(h_seq, hidden(cell, carry0), k, reverse)
        if cell.paired:
            count = seq_len // k
            edges = ((edges[0], edge_c[:count]), (edges[1], edge_c[count]))
        sequences, first_edge = (h_seq, None, None, xp, d_xp, mask), carry0
    else:
        carry_last, (h_seq, saved, m) = scan("saved")  # (L, N, P), leaves (L, N, H)
        first_edge = hidden(cell, carry0)
        edges = _chunk_edges(h_seq, first_edge, k, reverse)
        sequences = (h_seq, saved, m, xp, d_xp, mask)
    ys = h_seq if mask is None else jnp.where(mask[..., None], h_seq, 0)
    chunk = jax.checkpoint(
        functools.partial(_tangent_chunk, cell, reverse, unroll, precision), prevent_cse=False
    )
    d_carry_last, d_ys = _over_chunks(
        lambda d_carry, inputs: chunk(weights, d_weights, d_carry, inputs),
        d_carry0,
        sequences,
        edges,
        first_edge,
        reverse,
        k,
    )
    return (ys, carry_last), (d_ys, d_carry_last)


def _tangent_chunk(cell, reverse, unroll, precision, weights, d_weights, d_carry, inputs):
    """The tangent scan over one chunk of ``k`` steps, and the weights' tangents for them.

    ``d_carry`` is linear in the tangents; the chunk's ``h_{t-1}`` sequence is rebuilt from its
    ``h`` and ``edge`` (the ``h`` before the chunk), so no shifted copy of the whole sequence
    exists. The weights' tangents (``h_{t-1} @ dW_hh.T``, ``x_t @ dW_ih.T``, ``m_t @ dW_hr.T``)
    are GEMMs over the chunk's ``k*N`` rows: in reverse mode their transposes accumulate the
    weight gradients chunk by chunk.

    When ``saved`` is ``None``, the forward kept only ``h``, and the chunk rebuilds what the
    tangent needs (:func:`_recompute`) from the whole carry before the chunk: ``edge`` is then
    that carry, not only its ``h``.

    Shapes:
        ``inputs``: ``(h_seq, saved, m, xp, d_xp, mask)`` leaves ``(k, N, .)`` (``saved``,
        ``m`` and ``mask`` may be ``None``), and ``edge``, leaves ``(N, .)``.
    """
    (h_seq, saved, m, xp, d_xp, mask), edge = inputs
    if saved is None:
        h_prev = _shifted(h_seq, hidden(cell, edge), reverse)
        saved, m = _recompute(cell, weights, xp, h_prev, edge, mask, reverse, precision)
    else:
        h_prev = _shifted(h_seq, edge, reverse)
    if weights.w_ih_t is not None:  # the step projected x_t: its tangent, over the chunk
        d_xp = _times_transposed(d_xp, weights.w_ih_t.T, precision)  # (k, N, gates*H)
        d_xp = d_xp + _times_transposed(xp, d_weights.w_ih_t.T, precision)
        if weights.b_ih is not None:
            d_xp = add_bias(d_xp, d_weights.b_ih)
    d_b_step = d_weights.b_hh if _bias_tangent_in_step(cell) else None  # (gates*H,) or None
    if d_b_step is None and d_weights.b_hh is not None:  # Elman: its one block reads xp + hp
        d_xp = add_bias(d_xp, d_weights.b_hh)
    d_xp, d_hp = _with_hp_tangent(cell, d_xp, h_prev, d_weights.w_hh_t, precision)
    d_h_proj = None
    if weights.w_hr_t is not None:
        d_h_proj = _times_transposed(m, d_weights.w_hr_t.T, precision)  # (k, N, P)
    w_hh = weights.w_hh_t.T  # (gates*H, P)
    w_hr = None if weights.w_hr_t is None else weights.w_hr_t.T  # (P, H)

    def body(d_carry, inputs):
        h_t, saved_t, h_prev_t, d_xp_t, d_hp_t, d_h_proj_t, valid_t = inputs
        d_rec = _times_transposed(hidden(cell, d_carry), w_hh, precision)  # (N, gates*H)
        if d_b_step is not None:
            d_rec = add_bias(d_rec, d_b_step)
        if d_hp_t is not None:  # the blocks not summed into d_xp (GRU's n)
            summed, rest = jnp.split(d_rec, [d_rec.shape[-1] - d_hp_t.shape[-1]], axis=-1)
            d_rec = jnp.concatenate([summed, rest + d_hp_t], axis=-1)
        d_new = cell.tangent(h_t, saved_t, h_prev_t, d_xp_t, d_rec, d_carry)
        if w_hr is not None:
            d_m, d_c = d_new
            d_new = (_times_transposed(d_m, w_hr, precision) + d_h_proj_t, d_c)
        if valid_t is not None:
            d_new = jax.tree.map(lambda a, b: jnp.where(valid_t[:, None], a, b), d_new, d_carry)
            return d_new, jnp.where(valid_t[:, None], hidden(cell, d_new), 0)
        return d_new, hidden(cell, d_new)

    inputs = (h_seq, saved, h_prev, d_xp, d_hp, d_h_proj, mask)
    return lax.scan(body, d_carry, inputs, reverse=reverse, unroll=unroll)


def _bias_tangent_in_step(cell: CellSpec) -> bool:
    """Whether ``b_hh``'s tangent is added in the tangent scan's step, not over the sequence.

    In the step, reverse mode sums ``b_hh``'s gradient step by step and no reduction over the
    whole cotangent sequence is left after the scan. Measured side by side on a 2-core Intel
    Xeon (AVX-512), train step, medians of paired rounds in both compile orders: LSTM 0.95-0.97x
    the time of the sum after the scan, GRU 0.94-0.97x (S1, S1 bidirectional, S3 for GRU), the
    rest even (1.00-1.02x: S2, S3, S5, projected LSTM); Elman 0.99-1.05x, so Elman keeps the sum
    after the scan (its bias's tangent is added to ``d_xp``, which its step reads as ``xp + hp``).
    """
    return cell.gates > 1


def _with_hp_tangent(cell, d_xp, h_prev, d_w_hh_t, precision):
    """``W_hh``'s share of ``hp``'s tangent, ``h_{t-1} @ dW_hh.T``, and where it goes.

    For the gate blocks the update reads only as ``xp + hp`` (:attr:`CellSpec.summed_gates`)
    it is added to ``d_xp``, so the tangent scan reads, and in reverse mode writes, one
    sequence of those blocks, not two. The other blocks' share (GRU's ``n``) is a sequence of
    its own, from a GEMM of its own. ``b_hh``'s share is added elsewhere
    (:func:`_bias_tangent_in_step`).

    The summed blocks' share is one GEMM over all of ``d_xp``'s width, with ``dW_hh``'s other
    blocks zeroed. In reverse mode that GEMM reads the same cotangent sequence as ``W_ih``'s,
    so XLA transposes that sequence once for both weight gradients: a GEMM of the summed
    blocks alone read a split of it, which XLA transposed a second time, and ``dW_hh``'s
    discarded rows cost less than that copy. GRU's train step, measured side by side on a
    2-core Intel Xeon (AVX-512), paired rounds in both compile orders: 0.94-0.97x the time at
    ``L, N, H_in, H = 100, 32, 64, 128`` (bidirectional too), 0.94x at ``512, 64, 128, 256``
    (2 layers), 0.97x at ``64, 256, 512, 512`` (3 layers), 0.98x at ``2000, 16, 16, 128``;
    with ``N = 1`` 1.00-1.03x. Forward mode pays for the zeroed block: one ``(k*N, P) x (P, H)``
    GEMM more per chunk.

    Shapes:
        ``d_xp``: ``(k, N, gates*H)``; ``h_prev``: ``(k, N, P)``; ``d_w_hh_t``: ``(P,
        gates*H)``. Returns ``d_xp`` of the same shape, and the other blocks' share ``(k, N,
        (gates - summed_gates) * H)`` or ``None``.
    """
    w = d_w_hh_t.T  # (gates*H, P)
    if cell.folds_bias:
        return d_xp + _times_transposed(h_prev, w, precision), None
    summed, rest = jnp.split(w, [cell.summed_gates * w.shape[0] // cell.gates])
    summed = jnp.concatenate([summed, jnp.zeros_like(rest)])  # (gates*H, P)
    d_hp_rest = _times_transposed(h_prev, rest, precision)
    return d_xp + _times_transposed(h_prev, summed, precision), d_hp_rest


def _shifted(seq, edge, reverse):
    """Each step's previous value, in the scan's order.

    ``seq (k, N, .)`` moved by one step, with ``edge (N, .)``, the value before the chunk, in
    the gap.
    """
    if reverse:
        return jnp.concatenate([seq[1:], edge[None]])
    return jnp.concatenate([edge[None], seq[:-1]])


def _recompute(cell, weights, xp, h_prev, edge, mask, reverse, precision):
    """What the tangent needs, rebuilt from the chunk's ``h_{t-1}``, inputs and edge.

    The step's matmuls run as GEMMs over the chunk's ``k*N`` rows, then the kind's
    :attr:`~jrnn._cells.CellSpec.rebuild`: the same values the forward's steps computed, up to
    float round-off.

    Shapes:
        ``xp``: ``(k, N, gates*H)``, or ``(k, N, H_in)`` when ``weights`` carry ``W_ih``;
        ``h_prev``: ``(k, N, P)``; ``edge``: the carry before the chunk. Returns ``saved``
        leaves ``(k, N, H)`` and ``m`` ``(k, N, H)`` (``None`` without ``proj_size``).
    """
    if weights.w_ih_t is not None:
        xp = project_input(weights, xp, precision)
    hp = jnp.matmul(h_prev, weights.w_hh_t, precision=precision)  # (k, N, gates*H)
    if weights.b_hh is not None:
        hp = add_bias(hp, weights.b_hh)
    new, saved = cell.rebuild(xp, hp, h_prev, edge, mask, reverse)
    return saved, new[0] if weights.w_hr_t is not None else None


SMALL_STEP_MACS = 2**21
"""A step whose recurrent GEMM ``(N, P) @ (P, gates*H)`` has at most this many multiply-adds is
small: the step's time goes to its kernels around the GEMM, not to the GEMM."""
REBUILD_STEP_MACS = 2**20
"""Gated kinds rebuild their gate values per chunk when a step's GEMM has at most this many."""
WHOLE_SEQUENCE_BYTES = 2**23
"""Small steps: up to this size of the ``(L, N, gates*H)`` float32 pre-activation sequence,
the tangent scan runs over the whole sequence as one chunk."""
CHUNK_ROWS = 1024
"""Small steps, beyond it: chunks of about this many ``k*N`` rows."""
WHOLE_SEQUENCE_ROWS = 16 * 4096
"""Large steps: up to this many ``L*N`` rows, the whole sequence as one chunk."""
CHUNKS = 16
"""Large steps, beyond it: about this many chunks."""


def _step_macs(batch_size: int, weights: Recurrent) -> int:
    """Multiply-adds of one step's recurrent GEMM, ``(N, P) @ (P, gates*H)``."""
    return batch_size * weights.w_hh_t.size


def _small_step(batch_size: int, weights: Recurrent) -> bool:
    """Whether one step's recurrent GEMM is small (:data:`SMALL_STEP_MACS`)."""
    return _step_macs(batch_size, weights) <= SMALL_STEP_MACS


def _chunk_length(seq_len: int, batch_size: int, weights: Recurrent) -> int:
    """Steps per chunk of the tangent scan: ``seq_len`` for one chunk.

    Measured side by side on a 2-core AMD EPYC with AVX-512, train step:

    - Small steps: chunks cost time on short sequences (1.04-1.32x at ``L = 100, N = 32, H =
      128`` and ``L = 1000, N = 1, H = 64``), and beyond :data:`WHOLE_SEQUENCE_BYTES` chunks of
      about :data:`CHUNK_ROWS` rows, which keep each chunk's temporaries in cache, save time:
      at ``L = 2000, N = 16, H = 128``, 0.77-0.88x the whole sequence's (Elman), 0.84x (GRU),
      0.91-1.02x (LSTM).
    - Large steps, where the GEMMs dominate: 1024-row chunks took 1.10-1.25x the time at
      ``L = 512, N = 64, H = 256`` and ``L = 64, N = 256, H = 512`` (Elman, LSTM), 16 chunks
      0.94-1.10x. They run whole up to :data:`WHOLE_SEQUENCE_ROWS`, then in :data:`CHUNKS`,
      so that a chunk's temporaries stay a small part of the sequence's.

    The length is a divisor of ``L`` when one lies within a factor of two of the target: a
    shorter tail chunk costs copies of the whole sequences (1.15x, not 0.82x, for that Elman).
    """
    if _small_step(batch_size, weights):
        if seq_len * batch_size * weights.w_hh_t.shape[1] * 4 <= WHOLE_SEQUENCE_BYTES:
            return seq_len
        target = min(seq_len, -(-CHUNK_ROWS // batch_size))
    else:
        if seq_len * batch_size <= WHOLE_SEQUENCE_ROWS:
            return seq_len
        target = -(-seq_len // CHUNKS)
    near = range(-(-target // 2), min(seq_len, 2 * target) + 1)
    return min((k for k in near if seq_len % k == 0), key=lambda k: abs(k - target), default=target)


def _recomputes(cell: CellSpec, weights: Recurrent, batch_size: int) -> bool:
    """Whether a chunked tangent scan rebuilds each chunk's saved values (:func:`_recompute`).

    For gated kinds whose step GEMM has at most :data:`REBUILD_STEP_MACS` multiply-adds. The
    forward then keeps ``h`` alone a step, not five (GRU) or seven (LSTM) values, and LSTM's
    ``c`` only at each chunk's edge. Measured side by side on a 2-core AMD EPYC with AVX-512,
    train step, at ``N = 16, H = 128`` (LSTM's step: 2^20 multiply-adds): against saving the
    values, both in chunks, LSTM took 1.05-1.07x the time and GRU 1.00-1.04x, the temporaries
    2.4x the ``h`` sequence, not 7.3x (LSTM), and 1.3x, not 5.3x (GRU); keeping LSTM's ``c``
    only at the edges then took 0.96-0.97x (``proj_size = 64``: 1.01-1.06x) and cut its
    temporaries from 2.55x to 1.58x (2.02x to 1.04x). With larger steps the extra GEMM shows:
    1.52x for GRU at ``N = 32, H = 128``, 1.09-1.24x at ``N = 64, H = 256`` and ``N = 256,
    H = 512``. Elman saves nothing to rebuild.
    """
    return cell.rebuild is not None and _step_macs(batch_size, weights) <= REBUILD_STEP_MACS


def _edge_steps(seq_len: int, k: int, reverse: bool) -> np.ndarray:
    """The step whose carry is each chunk's edge: the carry before its first step.

    Entries ``0 .. count-1`` are the ``count = L // k`` whole chunks', entry ``count`` the
    shorter tail chunk's (unused when ``k`` divides ``L``); ``-1`` stands for ``carry0``.
    Forward, chunk ``j`` starts after step ``j k - 1``; in reverse it starts after step
    ``(j + 1) k``, or at the sequence's end, as the tail chunk does.

    Returns ``(count + 1,)`` int32.
    """
    j = np.arange(seq_len // k + 1)
    if reverse:
        steps = np.where((j + 1) * k < seq_len, (j + 1) * k, -1)
    else:
        steps = j * k - 1
    return steps.astype(np.int32)


def _edge_slots(seq_len: int, k: int, reverse: bool) -> np.ndarray:
    """Where each step's ``c`` goes in the forward's buffer of chunk edges (``"edges"`` mode).

    A step that is an edge (:func:`_edge_steps`) writes that edge's slot; every other step
    writes slot ``count + 1``, never read. Slots no step writes keep ``c0``.

    Returns ``(L,)`` int32.
    """
    steps = _edge_steps(seq_len, k, reverse)
    slots = np.full(seq_len, len(steps), np.int32)
    is_step = steps >= 0
    slots[steps[is_step]] = np.flatnonzero(is_step)
    return slots


def _chunk_edges(h_seq, h0, k: int, reverse: bool):
    """Each chunk's edge (:func:`_edge_steps`): the ``h`` before it, from ``h_seq`` or ``h0``.

    Shapes:
        ``h_seq``: ``(L, N, P)``; ``h0``: ``(N, P)``. Returns ``(edges, tail_edge)``: ``(L // k,
        N, P)`` for the whole chunks, ``(N, P)`` for the shorter tail chunk when ``k`` does not
        divide ``L``.
    """
    seq_len = h_seq.shape[0]
    steps = _edge_steps(seq_len, k, reverse)
    gathered = jnp.where((steps < 0)[:, None, None], h0[None], h_seq[np.maximum(steps, 0)])
    count = seq_len // k
    return gathered[:count], gathered[count]


def _over_chunks(chunk, d_carry0, sequences, edges, first_edge, reverse, k):
    """Run ``chunk`` over the sequence ``k`` steps at a time, in the scan's direction.

    Each chunk also gets its edge (:func:`_chunk_edges`): ``first_edge``, from ``carry0``, when
    the whole sequence is one chunk. When ``k`` does not divide ``L``, the last ``L % k`` steps
    are one more, shorter chunk.

    Shapes:
        ``sequences`` leaves ``(L, N, .)`` or ``None``; ``edges``: ``(edges, tail_edge)``.
        Returns the final tangent carry and ``d_ys (L, N, P)``.
    """
    seq_len = jax.tree.leaves(sequences)[0].shape[0]
    count, tail = divmod(seq_len, k)
    split = count * k
    edges, tail_edge = edges
    head = jax.tree.map(lambda s: s[:split].reshape(count, k, *s.shape[1:]), sequences)

    if count == 1 and not tail:
        return chunk(d_carry0, (sequences, first_edge))

    def run_head(d_carry):
        d_carry, d_ys = lax.scan(chunk, d_carry, (head, edges), reverse=reverse)
        return d_carry, d_ys.reshape(split, *d_ys.shape[2:])

    if not tail:
        return run_head(d_carry0)
    rest = (jax.tree.map(lambda s: s[split:], sequences), tail_edge)
    if reverse:  # the reverse direction meets the tail first
        d_carry, d_ys_rest = chunk(d_carry0, rest)
        d_carry, d_ys_head = run_head(d_carry)
    else:
        d_carry, d_ys_head = run_head(d_carry0)
        d_carry, d_ys_rest = chunk(d_carry, rest)
    return d_carry, jnp.concatenate([d_ys_head, d_ys_rest])


def scan_layer_in_segments(
    cell: CellSpec,
    weights: Recurrent,
    x: jax.Array,
    project,
    carry0,
    mask: jax.Array | None,
    *,
    segment: int,
    reverse: bool,
    unroll: int,
    precision,
):
    """:func:`scan_layer` with the input projection, rematerialised ``segment`` steps at a time.

    For very long sequences: the forward keeps only the state at every segment boundary; the
    backward recomputes one segment at a time (its projection GEMM and its steps), so training
    memory inside the layer is ``O(L/segment + segment)`` states instead of ``O(L)``, for about
    one more forward pass of compute. When ``segment`` does not divide ``L``, the last
    ``L % segment`` steps run as one more, shorter segment.

    Shapes:
        ``x``: ``(L, N, H_in)``; ``project(x_seg)`` gives ``(segment, N, gates*H)``. The rest
        as :func:`scan_layer`.

    Returns:
        ``(ys, carry_last)``: ``(L, N, P)`` and the final carry.
    """
    seq_len, batch_size = x.shape[:2]
    num_segments, tail = divmod(seq_len, segment)
    if mask is None:
        mask = jnp.ones((seq_len, batch_size), bool)  # (L, N)

    @jax.checkpoint
    def run_segment(carry, inputs):
        x_seg, mask_seg = inputs  # (segment, N, H_in), (segment, N)
        ys, carry = _layer(
            cell, reverse, unroll, precision, weights, project(x_seg), carry, mask_seg
        )
        return carry, ys

    def run_segments(carry, x, mask):
        count = x.shape[0] // segment
        inputs = (
            x.reshape(count, segment, *x.shape[1:]),
            mask.reshape(count, segment, batch_size),
        )
        carry, ys = lax.scan(run_segment, carry, inputs, reverse=reverse)  # (count, segment, ...)
        return carry, ys.reshape(count * segment, *ys.shape[2:])

    if tail == 0:
        carry_last, ys = run_segments(carry0, x, mask)
        return ys, carry_last
    split = num_segments * segment
    head, rest = (x[:split], mask[:split]), (x[split:], mask[split:])
    if not reverse:
        carry, ys_head = run_segments(carry0, *head)
        carry_last, ys_rest = run_segment(carry, rest)
    else:  # the reverse direction meets the tail first
        carry, ys_rest = run_segment(carry0, rest)
        carry_last, ys_head = run_segments(carry, *head)
    return jnp.concatenate([ys_head, ys_rest]), carry_last
