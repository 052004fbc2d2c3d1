"""jrnn under JAX's transformations, against plain references written here.

- the scan against a Python loop over ``cell_step``, every layer and direction, with lengths;
- jit equals eager; vmap over stacked params (an ensemble) and over unbatched sequences;
- no recompilation on a second call; the compiled program does not grow with L;
- dropout against masks rebuilt from jax.random; dtypes; an empty batch;
- numerical gradient checks (orders 1 and 2), and the derivative rule of ``jrnn._scan.scan_layer``
  (forward and reverse mode, every cell kind) against JAX's autodiff of a plain scan.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _torch_reference import (
    assert_tree_close,
    jrnn_run,
    random_rnn_params,
    torch_rnn,
    torch_run,
)
from jax import lax
from jax.test_util import check_grads

import jrnn
from jrnn import _cells
from jrnn._params import rnn_config
from jrnn._scan import scan_layer

L, N, H_IN, H = 5, 4, 3, 2
LENGTHS = np.array([3, 5, 0, 1])


def network(num_layers=2, bidirectional=True, bias=True, dtype="float64", seed=0):
    rng = np.random.default_rng(seed)
    return random_rnn_params(
        rng, H_IN, H, num_layers, bias=bias, bidirectional=bidirectional, dtype=dtype
    )


def inputs(params, seed=0, batch=N):
    """x (L, N, H_in), h0 (S, N, H) and cotangents for output and h_n, in the params' dtype."""
    config = rnn_config("test", params)
    S, D = config.num_layers * config.num_directions, config.num_directions
    rng = np.random.default_rng(seed)
    arrays = (
        rng.uniform(-1, 1, (L, batch, H_IN)),
        rng.uniform(-1, 1, (S, batch, H)),
        rng.normal(size=(L, batch, D * H)),
        rng.normal(size=(S, batch, H)),
    )
    return [jnp.asarray(np.asarray(a, config.dtype)) for a in arrays]


def layer_cell(params, layer, direction):
    """The RNNCell params of one layer and direction."""
    tag = f"_l{layer}" + ("_reverse" if direction else "")
    return {k[: -len(tag)]: v for k, v in params.items() if k.endswith(tag)}


def loop_reference(params, x, h0, lengths=None, nonlinearity="tanh"):
    """torch.nn.RNN written as Python loops over layers, directions and time, over cell_step."""
    config = rnn_config("test", params)
    D = config.num_directions
    layer_input, h_n = x, []
    for layer in range(config.num_layers):
        outputs = []
        for direction in range(D):
            cell = layer_cell(params, layer, direction)
            h, ys = h0[layer * D + direction], [None] * x.shape[0]
            steps = range(x.shape[0])
            for t in reversed(steps) if direction else steps:
                h_new = jrnn.cell_step(cell, layer_input[t], h, nonlinearity=nonlinearity)
                if lengths is None:
                    h, ys[t] = h_new, h_new
                else:
                    valid = (t < lengths)[:, None]  # (N, 1)
                    h, ys[t] = jnp.where(valid, h_new, h), jnp.where(valid, h_new, 0)
            outputs.append(jnp.stack(ys))
            h_n.append(h)
        layer_input = jnp.concatenate(outputs, axis=-1)
    return layer_input, jnp.stack(h_n)


def with_grads(fn, params, x, h0, g_out, g_h, jit=True):
    """``fn``'s outputs and the gradients of ``sum(out*g_out) + sum(h_n*g_h)``.

    Compiled with ``jit``; otherwise op by op under ``jax.disable_jit()`` (cheaper for the
    references written as Python loops, and the same code for jrnn).
    """

    def loss(params, x, h0):
        out, h_n = fn(params, x, h0)
        return jnp.sum(out * g_out) + jnp.sum(h_n * g_h), (out, h_n)

    grad = jax.grad(loss, argnums=(0, 1, 2), has_aux=True)
    if jit:
        grads, outputs = jax.jit(grad)(params, x, h0)
    else:
        with jax.disable_jit():
            grads, outputs = grad(params, x, h0)
    return outputs, grads


# ---- scan against a Python loop ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("num_layers", "bidirectional", "bias", "nonlinearity", "lengths"),
    [(2, True, True, "tanh", LENGTHS), (3, False, False, "relu", None)],
)
def test_scan_matches_python_loop_over_cell_step(
    num_layers, bidirectional, bias, nonlinearity, lengths
):
    params = network(num_layers, bidirectional, bias)
    x, h0, g_out, g_h = inputs(params)

    def scanned(params, x, h0):
        return jrnn.rnn(params, x, h0, nonlinearity=nonlinearity, lengths=lengths)

    def looped(params, x, h0):
        return loop_reference(params, x, h0, lengths, nonlinearity)

    assert_tree_close(
        with_grads(scanned, params, x, h0, g_out, g_h),
        with_grads(looped, params, x, h0, g_out, g_h, jit=False),
        1e-12,
    )


# ---- jit, vmap, recompilation, program size ----------------------------------------------------


def test_jit_equals_eager():
    params = network()
    x, h0, _, _ = inputs(params)
    x = x.swapaxes(0, 1)  # batch-first
    kwargs = {"nonlinearity": "relu", "batch_first": True}
    eager = jrnn.rnn(params, x, h0, lengths=LENGTHS, **kwargs)
    jitted = jax.jit(jrnn.rnn, static_argnames=tuple(kwargs))(
        params, x, h0, lengths=LENGTHS, **kwargs
    )
    assert_tree_close(jitted, eager, 1e-12)


def test_vmap_over_stacked_params_is_an_ensemble():
    members = [network(1, True, seed=s) for s in range(3)]
    stacked = jax.tree.map(lambda *p: jnp.stack(p), *members)
    x, h0, g_out, g_h = inputs(members[0])

    def run(params, x):
        return jrnn.rnn(params, x, h0, lengths=LENGTHS)

    def loss(params, x):
        out, h_n = run(params, x)
        return jnp.sum(out * g_out) + jnp.sum(h_n * g_h)

    ensemble = jax.jit(jax.vmap(run, in_axes=(0, None)))(stacked, x)  # one x for all
    xs = jnp.stack([x, -x, 2 * x])  # one x per member
    grads = jax.jit(jax.vmap(jax.grad(loss, argnums=(0, 1))))(stacked, xs)
    one, one_grad = jax.jit(run), jax.jit(jax.grad(loss, argnums=(0, 1)))
    for i, params in enumerate(members):
        member = lambda tree, i=i: jax.tree.map(lambda a: a[i], tree)  # noqa: E731
        assert_tree_close(member(ensemble), one(params, x), 1e-12)
        assert_tree_close(member(grads), one_grad(params, xs[i]), 1e-12)


def test_vmap_over_unbatched_sequences_equals_batched_call():
    params = network()
    x, h0, _, _ = inputs(params)

    def one_sequence(x, h0, length):  # x (L, H_in), h0 (S, H), length ()
        return jrnn.rnn(params, x, h0, lengths=length)

    out, h_n = jax.jit(jax.vmap(one_sequence))(
        x.swapaxes(0, 1), h0.swapaxes(0, 1), jnp.asarray(LENGTHS)
    )  # (N, L, D*H), (N, S, H)
    batched_out, batched_h_n = jrnn.rnn(
        params, x.swapaxes(0, 1), h0, lengths=LENGTHS, batch_first=True
    )
    assert_tree_close((out, h_n.swapaxes(0, 1)), (batched_out, batched_h_n), 1e-12)


def test_second_call_with_same_shapes_does_not_recompile():
    params = network()
    x, h0, g_out, g_h = inputs(params)
    traces = []

    @jax.jit
    def step(params, x, h0, lengths):
        traces.append(None)  # runs once per trace
        grads = jax.grad(lambda p: jnp.sum(jrnn.rnn(p, x, h0, lengths=lengths)[0] * g_out))
        return grads(params)

    step(params, x, h0, jnp.asarray(LENGTHS))
    step(network(seed=1), -x, 2 * h0, jnp.asarray([5, 5, 1, 2]))
    assert len(traces) == 1
    assert step._cache_size() == 1

    # jit(jrnn.rnn) wrappers share one cache (other tests add to it): count what these add.
    rnn = jax.jit(jrnn.rnn, static_argnames=("nonlinearity",))
    before = rnn._cache_size()
    rnn(params, x, h0, nonlinearity="relu")
    rnn(params, 3 * x, h0, nonlinearity="relu")
    assert rnn._cache_size() == before + 1


def _program_text(fn, *args):
    """The lowered program with every number removed (shapes such as 10 vs 1000 differ)."""
    return re.sub(r"\d+", "", jax.jit(fn).lower(*args).as_text())


def test_program_size_does_not_grow_with_length():
    params = network(2, True)

    def train_step(params, x, lengths):
        def loss(params):
            out, h_n = jrnn.rnn(params, x, lengths=lengths)
            return jnp.sum(out**2) + jnp.sum(h_n)

        return jax.grad(loss)(params)

    sizes = {}
    for length in (10, 1000):
        x = jax.ShapeDtypeStruct((length, 2, H_IN), jnp.float64)
        lengths = jax.ShapeDtypeStruct((2,), jnp.int32)
        sizes[length] = len(_program_text(train_step, params, x, lengths))
    assert sizes[10] == sizes[1000], sizes


# ---- dropout -----------------------------------------------------------------------------------


def dropout_reference(params, x, h0, key, rate, lengths):
    """Layers run one at a time by jrnn.rnn, with masks rebuilt from jax.random in between:
    layer k > 0 reads its input through bernoulli(fold_in(key, k), 1 - rate, (L, N, D*H))."""
    config = rnn_config("test", params)
    D = config.num_directions
    out, h_n = x, []
    for layer in range(config.num_layers):
        if layer > 0:
            keep = jax.random.bernoulli(jax.random.fold_in(key, layer), 1 - rate, out.shape)
            out = jnp.where(keep, out / (1 - rate), 0)
        single = {
            k.replace(f"_l{layer}", "_l0"): v
            for k, v in params.items()
            if re.search(rf"_l{layer}(_reverse)?$", k)
        }
        out, h = jrnn.rnn(single, out, h0[layer * D : (layer + 1) * D], lengths=lengths)
        h_n.append(h)
    return out, jnp.concatenate(h_n)


@pytest.mark.parametrize(
    ("num_layers", "bidirectional", "rate", "lengths", "grads"),
    [(3, False, 0.5, LENGTHS, True), (2, True, 0.25, None, False)],
)
def test_dropout_masks_match_jax_random(num_layers, bidirectional, rate, lengths, grads):
    """Values (and gradients) equal the reference's, whose masks differ per element and step."""
    params = network(num_layers, bidirectional)
    x, h0, g_out, g_h = inputs(params)
    key = jax.random.key(42)

    def dropped(params, x, h0):
        return jrnn.rnn(params, x, h0, dropout=rate, key=key, lengths=lengths)

    def reference(params, x, h0):
        return dropout_reference(params, x, h0, key, rate, lengths)

    if grads:
        actual = with_grads(dropped, params, x, h0, g_out, g_h)
        assert_tree_close(actual, with_grads(reference, params, x, h0, g_out, g_h), 1e-12)
    else:
        assert_tree_close(jax.jit(dropped)(params, x, h0), jax.jit(reference)(params, x, h0), 1e-12)
    D = 2 if bidirectional else 1
    keep = np.asarray(jax.random.bernoulli(jax.random.fold_in(key, 1), 1 - rate, (L, N, D * H)))
    assert 0 < keep.mean() < 1 and len({step.tobytes() for step in keep}) == L


def test_dropout_without_key_is_deterministic_and_last_layer_is_never_dropped():
    params = network(2, True)
    x, h0, _, _ = inputs(params)
    plain = jrnn.rnn(params, x, h0)
    assert_tree_close(jrnn.rnn(params, x, h0, dropout=0.7), plain, 0)  # no key: eval mode
    assert_tree_close(jrnn.rnn(params, x, h0, dropout=0.0, key=jax.random.key(0)), plain, 0)
    single = network(1, True)
    assert_tree_close(
        jrnn.rnn(single, x, h0[:2], dropout=0.9, key=jax.random.key(0)),
        jrnn.rnn(single, x, h0[:2]),
        0,
    )


# ---- dtypes and an empty batch -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "tol"), [("bfloat16", 5e-2), ("float32", 1e-5), ("float64", 1e-12)]
)
def test_outputs_and_gradients_keep_the_params_dtype(dtype, tol):
    params = network(1, True, dtype=dtype)
    x, h0, g_out, g_h = inputs(params)
    (out, h_n), grads = with_grads(jrnn.rnn, params, x, h0, g_out, g_h)
    for leaf in jax.tree.leaves(((out, h_n), grads)):
        assert leaf.dtype == jnp.dtype(dtype)
    wide = lambda a: jnp.asarray(a, jnp.float64)  # noqa: E731 - the same values, in float64
    reference = with_grads(jrnn.rnn, *jax.tree.map(wide, (params, x, h0, g_out, g_h)))
    assert_tree_close(jax.tree.map(wide, ((out, h_n), grads)), reference, tol)


def test_empty_batch():
    """N = 0 runs, also with (0,) lengths; the params' gradients are torch's exact zeros."""
    params = network(2, True)
    x, h0, g_out, g_h = inputs(params, batch=0)
    actual = jrnn_run(params, x, h0, g_out, g_h, jit=True)
    expected = torch_run(torch_rnn(params), x, h0, g_out, g_h)
    assert actual[0].shape == (L, 0, 2 * H) and actual[1].shape == (4, 0, H)
    assert_tree_close(actual, expected, 0)
    # concrete (0,) lengths: checked in Python (no min of an empty array), then run
    no_lengths = np.zeros(0, int)
    out, h_n = jax.jit(lambda params: jrnn.rnn(params, x, h0, lengths=no_lengths))(params)
    assert out.shape == (L, 0, 2 * H) and h_n.shape == (4, 0, H)
    cell = jrnn.init_rnn_cell(jax.random.key(0), 3, 2, dtype="float64")
    assert jrnn.cell_step(cell, jnp.zeros((0, 3))).shape == (0, 2)


# ---- gradient checks ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("num_layers", "lengths"), [(1, None), (2, np.array([2, 3]))], ids=["full", "lengths"]
)
def test_check_grads_orders_one_and_two(num_layers, lengths):
    rng = np.random.default_rng(0)
    params = random_rnn_params(rng, 2, 2, num_layers, bidirectional=True)
    x = jnp.asarray(rng.uniform(-1, 1, (3, 2, 2)))
    h0 = jnp.asarray(rng.uniform(-1, 1, (2 * num_layers, 2, 2)))

    @jax.jit
    def run(params, x, h0):
        return jrnn.rnn(params, x, h0, lengths=lengths)

    check_grads(run, (params, x, h0), order=2, modes=["rev"])


# ---- the derivative rule of the scan -----------------------------------------------------------

KINDS = {
    "tanh": (_cells.ELMAN["tanh"], 1, False),
    "relu": (_cells.ELMAN["relu"], 1, False),
    "lstm": (_cells.LSTM, 4, False),
    "lstm_proj": (_cells.LSTM, 4, True),
    "gru": (_cells.GRU, 3, False),
}


def autodiff_layer(cell, weights, xp, carry0, mask, reverse):
    """One layer, one direction: a plain lax.scan of the cell's step, differentiated by JAX."""

    def body(carry, inputs):
        xp_t, valid_t = inputs
        new, _ = _cells.step(cell, weights, xp_t, carry)
        if valid_t is None:
            return new, _cells.hidden(cell, new)
        new = jax.tree.map(lambda a, b: jnp.where(valid_t[:, None], a, b), new, carry)
        return new, jnp.where(valid_t[:, None], _cells.hidden(cell, new), 0)

    carry_last, ys = lax.scan(body, carry0, (xp, mask), reverse=reverse)
    return ys, carry_last


def layer_problem(kind, masked, seed):
    """Weights, xp, carry0, mask and cotangents for one layer of ``kind`` (float64)."""
    cell, gates, projected = KINDS[kind]
    rng = np.random.default_rng(seed)
    p_size = 1 if projected else H
    normal = lambda *shape: jnp.asarray(rng.normal(size=shape))  # noqa: E731
    weights = _cells.Recurrent(
        normal(p_size, gates * H), normal(gates * H), normal(H, p_size) if projected else None
    )
    carry0 = (normal(N, p_size), normal(N, H)) if cell.paired else normal(N, H)
    mask = jnp.arange(L)[:, None] < jnp.asarray(LENGTHS)[None, :] if masked else None
    cotangents = (normal(L, N, p_size), jax.tree.map(lambda c: normal(*c.shape), carry0))
    return cell, (weights, normal(L, N, gates * H), carry0), mask, cotangents


@pytest.mark.parametrize(  # masks meet each direction in test_forward_mode, against torch
    ("kind", "masked", "reverse"), [(kind, m, m) for kind in KINDS for m in (False, True)]
)
def test_derivative_rule_matches_autodiff_of_plain_scan(kind, masked, reverse):
    cell, args, mask, (g_ys, g_carry) = layer_problem(kind, masked, seed=len(kind) + 2 * masked)
    options = {"reverse": reverse, "unroll": 1, "precision": None}

    def custom(weights, xp, carry0):
        return scan_layer(cell, weights, xp, carry0, mask, **options)

    def plain(weights, xp, carry0):
        return autodiff_layer(cell, weights, xp, carry0, mask, reverse)

    def grads(layer):
        def loss(*args):
            ys, carry = layer(*args)
            leaves = zip(jax.tree.leaves(carry), g_carry_leaves, strict=True)
            return jnp.sum(ys * g_ys) + sum(jnp.sum(a * b) for a, b in leaves), (ys, carry)

        return jax.grad(loss, argnums=(0, 1, 2), has_aux=True)(*args)

    g_carry_leaves = jax.tree.leaves(g_carry)
    tangents = jax.tree.map(lambda a: jnp.cos(a + 1), args)
    with jax.disable_jit():  # 10 small cases: op by op is cheaper than 20 compilations
        assert_tree_close(grads(custom), grads(plain), 1e-12)
        assert_tree_close(jax.jvp(custom, args, tangents), jax.jvp(plain, args, tangents), 1e-12)


def test_derivative_rule_matches_autodiff_compiled():
    cell, args, mask, _ = layer_problem("lstm_proj", True, seed=9)

    def loss(layer):
        def fn(weights, xp, carry0):
            ys, (h, c) = layer(weights, xp, carry0)
            return jnp.sum(ys**2) + jnp.sum(h) + jnp.sum(jnp.sin(c))

        return fn

    def custom(weights, xp, carry0):
        return scan_layer(cell, weights, xp, carry0, mask, reverse=True, unroll=2, precision=None)

    def plain(weights, xp, carry0):
        return autodiff_layer(cell, weights, xp, carry0, mask, True)

    grad = lambda f: jax.jit(jax.value_and_grad(loss(f), argnums=(0, 1, 2)))  # noqa: E731
    assert_tree_close(grad(custom)(*args), grad(plain)(*args), 1e-12)
