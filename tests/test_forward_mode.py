"""Forward mode (jvp, linearize, jacfwd) for every kind, against torch and against reverse mode.

The engine's derivative is a ``custom_jvp`` rule: forward mode is the rule itself, and reverse
mode is JAX's transpose of it. Every kind (RNN tanh and relu, LSTM with and without proj_size,
GRU) runs a bidirectional network in float64 with unsorted lengths that include 0, NaN in the
padding of ``x`` *and* of its tangent, and tangents on params, ``x`` and the initial state
together:

- ``jax.jvp`` equals torch's Jacobian-vector product elementwise (torch gets it from reverse
  mode twice, see ``torch_jvp``: its forward AD cannot go through a PackedSequence), and
  ``jax.vjp`` equals torch's gradients;
- ``jax.linearize`` gives the same tangents as ``jax.jvp``;
- ``jax.jvp`` and ``jax.vjp`` pair: ``<ct, jvp(t)> == <vjp(ct), t>``;
- ``jax.jacfwd == jax.jacrev`` for the final state w.r.t. the initial state, which is
  block-diagonal across rows and the identity for the row of length 0;
- all of it compiled (``jax.jit``, one program per kind); op by op (``jax.disable_jit``) gives
  the same; ``checkpoint_every`` too; and ``check_grads`` of order 2 in both modes.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _torch_reference import (
    FAST_COMPILE,
    JRNN_FUNCTIONS,
    assert_tree_close,
    random_params,
    torch_jvp,
    torch_module,
    torch_reference,
)
from jax.test_util import check_grads

import jrnn._cells
import jrnn._scan

KINDS = {  # name: (kind, proj_size, options)
    "RNN-tanh": ("RNN", 0, {"nonlinearity": "tanh"}),
    "RNN-relu": ("RNN", 0, {"nonlinearity": "relu"}),
    "LSTM": ("LSTM", 0, {}),
    "LSTM-proj": ("LSTM", 2, {}),
    "GRU": ("GRU", 0, {}),
}
L, N, H_IN, H = 3, 3, 2, 3
LENGTHS = np.array([2, 0, 3])  # unsorted, with 0 and L
EMPTY = 1  # the row of length 0
PADDING = np.arange(L)[:, None] >= LENGTHS[None, :]  # (L, N)


def state_like(rng, kind, S, P):
    """An ``h`` (or LSTM's ``(h, c)``) of uniform values, ``(S, N, .)``."""
    h = rng.uniform(-1, 1, (S, N, P))
    return (h, rng.uniform(-1, 1, (S, N, H))) if kind == "LSTM" else h


def problem(name, seed=0):
    """One bidirectional layer: primals ``(params, x, state)``, tangents (NaN in the padding of
    x's) and cotangents for ``(output, final state)``."""
    kind, proj_size, _ = KINDS[name]
    rng = np.random.default_rng(seed)
    params = random_params(rng, kind, H_IN, H, 1, bidirectional=True, proj_size=proj_size)
    P = proj_size or H
    x, t_x = rng.uniform(-1, 1, (L, N, H_IN)), rng.normal(size=(L, N, H_IN))
    x[PADDING], t_x[PADDING] = np.nan, np.nan
    t_params = {k: rng.normal(size=v.shape) for k, v in params.items()}
    primals = (params, x, state_like(rng, kind, 2, P))
    tangents = (t_params, t_x, jax.tree.map(np.cos, state_like(rng, kind, 2, P)))
    cotangents = (rng.normal(size=(L, N, 2 * P)), state_like(rng, kind, 2, P))
    return jax.tree.map(jnp.asarray, (primals, tangents, cotangents))


def network_fn(name, **options):
    kind, _, kind_options = KINDS[name]

    def fn(params, x, state):
        return JRNN_FUNCTIONS[kind](params, x, state, lengths=LENGTHS, **kind_options, **options)

    return fn


def inner(a, b):
    """``<a, b>`` over every leaf of two trees."""
    return sum(np.sum(u * v) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def no_nan(tree):
    """The tangents torch sees: the padding (NaN) as 0. torch never reads it anyway."""
    return jax.tree.map(lambda a: np.where(np.isnan(a), 0, a), tree)


def torch_results(name, primals, tangents, cotangents):
    """torch's ``((output, final state), their jvp along tangents, grads for cotangents)``."""
    kind, _, options = KINDS[name]
    module = torch_module(kind, primals[0], options.get("nonlinearity", "tanh"))
    (_, x, state), finite = jax.tree.map(np.asarray, (primals, no_nan(tangents)))
    outputs, jvp_out = torch_jvp(module, x, state, finite, lengths=LENGTHS)
    _, _, grads = torch_reference(module, x, state, *cotangents, lengths=LENGTHS)
    return outputs, jvp_out, (grads["params"], grads["x"], grads["h0"])


def check_against_torch(name, primals, tangents, cotangents, outputs, jvp_out, vjp_out):
    """Values, jvp and vjp against torch; jvp and vjp paired; the padding reaches nothing."""
    for leaf in jax.tree.leaves((outputs, jvp_out, vjp_out)):
        assert np.all(np.isfinite(leaf))  # NaN in the padding of x and of its tangent
    expected = torch_results(name, primals, tangents, cotangents)
    assert_tree_close((outputs, jvp_out, vjp_out), expected, 1e-10)
    assert np.all(np.asarray(vjp_out[1])[PADDING] == 0)
    forward, reverse = inner(cotangents, jvp_out), inner(vjp_out, no_nan(tangents))
    np.testing.assert_allclose(forward, reverse, rtol=1e-11)


def all_transforms(fn, primals, tangents, cotangents):
    """jvp, linearize, vjp, and jacfwd and jacrev of the final state w.r.t. the initial one."""
    outputs, jvp_out = jax.jvp(fn, primals, tangents)
    _, linear = jax.linearize(fn, *primals)
    _, vjp = jax.vjp(fn, *primals)

    def final_state(state):
        return fn(primals[0], primals[1], state)[1]

    jacobians = jax.jacfwd(final_state)(primals[2]), jax.jacrev(final_state)(primals[2])
    return outputs, jvp_out, linear(*tangents), vjp(cotangents), jacobians


def check_state_jacobian(jacobian, state):
    """Rows never mix, and the row of length 0 passes its initial state through: identity."""
    count = len(jax.tree.leaves(state))
    for index, block in enumerate(jax.tree.leaves(jacobian)):  # (S, N, out, S, N, in)
        block = np.asarray(block)
        for row in range(N):
            assert np.all(np.delete(block[:, row], row, axis=3) == 0)
        empty = block[:, EMPTY, :, :, EMPTY, :]  # (S, out, S, in)
        empty = empty.reshape(empty.shape[0] * empty.shape[1], -1)
        same = index // count == index % count  # d h_n / d h0 or d c_n / d c0
        np.testing.assert_array_equal(empty, np.eye(*empty.shape) if same else 0)


@pytest.mark.parametrize("name", list(KINDS))
def test_forward_and_reverse_mode(name):
    primals, tangents, cotangents = problem(name)
    run = jax.jit(all_transforms, static_argnums=0, compiler_options=FAST_COMPILE)
    outputs, jvp_out, linear_out, vjp_out, (jac_fwd, jac_rev) = run(
        network_fn(name), primals, tangents, cotangents
    )
    check_against_torch(name, primals, tangents, cotangents, outputs, jvp_out, vjp_out)
    assert_tree_close(linear_out, jvp_out, 1e-12)
    assert_tree_close(jac_fwd, jac_rev, 1e-12)
    check_state_jacobian(jac_fwd, primals[2])


def jvp_and_vjp(fn, primals, tangents, cotangents):
    outputs, jvp_out = jax.jvp(fn, primals, tangents)
    return outputs, jvp_out, jax.vjp(fn, *primals)[1](cotangents)


def test_op_by_op():
    """The rule run op by op, not compiled (a projected LSTM: the most code): jvp against torch."""
    primals, tangents, _ = problem("LSTM-proj", seed=1)
    with jax.disable_jit():
        outputs, jvp_out = jax.jvp(network_fn("LSTM-proj"), primals, tangents)
    for leaf in jax.tree.leaves((outputs, jvp_out)):
        assert np.all(np.isfinite(leaf))
    module = torch_module("LSTM", primals[0])
    (_, x, state), finite = jax.tree.map(np.asarray, (primals, no_nan(tangents)))
    expected = torch_jvp(module, x, state, finite, lengths=LENGTHS)
    assert_tree_close((outputs, jvp_out), expected, 1e-10)


def test_checkpoint_every():
    """checkpoint_every=2 with L=3 (a segment and a shorter tail), a projected LSTM."""
    primals, tangents, cotangents = problem("LSTM-proj", seed=2)
    fn = network_fn("LSTM-proj", checkpoint_every=2)
    run = jax.jit(jvp_and_vjp, static_argnums=0, compiler_options=FAST_COMPILE)
    results = run(fn, primals, tangents, cotangents)
    check_against_torch("LSTM-proj", primals, tangents, cotangents, *results)


# Elman: order 2 in reverse mode in test_transforms, first order in both modes here.
@pytest.mark.parametrize("name", ["LSTM-proj", "GRU"])
def test_check_grads_order_two_both_modes(name):
    """Numerical derivatives of orders 1 and 2 on a tiny network: one layer, L = 2, N = 1."""
    kind, proj_size, options = KINDS[name]
    rng = np.random.default_rng(4)
    hidden, proj_size = (2, 1) if proj_size else (1, 0)
    params = random_params(rng, kind, 1, hidden, 1, proj_size=proj_size)
    x = rng.uniform(-1, 1, (2, 1, 1))
    h = rng.uniform(-1, 1, (1, 1, proj_size or hidden))
    state = (h, rng.uniform(-1, 1, (1, 1, hidden))) if kind == "LSTM" else h

    def fn(params, x, state):
        return JRNN_FUNCTIONS[kind](params, x, state, **options)

    with jax.disable_jit():  # op by op: cheaper than compiling each derivative of each order
        check_grads(fn, jax.tree.map(jnp.asarray, (params, x, state)), 2, modes=["fwd", "rev"])


@pytest.mark.parametrize(
    "name, steps, recompute",
    [  # L = 3: k = 2 is a chunk and a shorter tail; k = 1 three chunks
        ("LSTM-proj", 2, True),
        ("LSTM", 1, True),
        ("LSTM", 2, False),
        ("GRU", 1, True),
        ("GRU", 2, False),
        ("RNN-relu", 2, False),
    ],
    ids=str,
)
def test_tangent_scan_in_chunks(name, steps, recompute, monkeypatch):
    """A long sequence's tangent scan runs chunk by chunk (forced here on L = 3), each chunk
    rebuilding the gates or reading those the forward saved: same results."""
    monkeypatch.setattr(jrnn._scan, "_chunk_length", lambda *shape: steps)
    monkeypatch.setattr(jrnn._scan, "_recomputes", lambda *args: recompute)
    primals, tangents, cotangents = problem(name, seed=3)
    run = jax.jit(jvp_and_vjp, static_argnums=0, compiler_options=FAST_COMPILE)
    results = run(network_fn(name), primals, tangents, cotangents)
    check_against_torch(name, primals, tangents, cotangents, *results)


@pytest.mark.parametrize(
    "seq_len, batch_size, w_hh_t_shape, steps",
    [
        (100, 32, (128, 512), 100),  # a small step, a small sequence: whole
        (2000, 16, (128, 128), 50),  # about CHUNK_ROWS rows: the divisor of L nearest 64 steps
        (20011, 16, (128, 512), 64),  # L prime: 64 steps and a shorter tail
        (512, 64, (256, 1024), 512),  # a large step, up to WHOLE_SEQUENCE_ROWS: whole
        (20000, 16, (512, 2048), 1250),  # a large step beyond: L / CHUNKS
    ],
    ids=str,
)
def test_chunk_length(seq_len, batch_size, w_hh_t_shape, steps):
    """How many steps each chunk of the tangent scan has, by the shape of the problem."""
    weights = jrnn._cells.Recurrent(jnp.zeros(w_hh_t_shape, jnp.float32), None, None)
    assert jrnn._scan._chunk_length(seq_len, batch_size, weights) == steps
