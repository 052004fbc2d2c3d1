"""jrnn under JAX's transformations, against plain references written here.

- the scan against a Python loop over ``cell_step``, every layer and direction, with lengths;
- jit equals eager; vmap over stacked params (an ensemble) and over unbatched sequences;
- no recompilation on a second call; the compiled program does not grow with L;
- dropout against masks rebuilt from jax.random; dtypes; an empty batch;
- numerical gradient checks (orders 1 and 2), and the custom VJP of ``jrnn._scan.scan_layer``
  against JAX's autodiff of a plain scan.
"""

import itertools
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


# ---- the custom VJP of the scan ----------------------------------------------------------------


def autodiff_layer(xp, bias, w_hh, h0, mask, nonlinearity, reverse):
    """One layer, one direction, as a plain lax.scan that JAX differentiates by itself."""
    f = jnp.tanh if nonlinearity == "tanh" else jax.nn.relu

    def step(h, inputs):
        xp_t, valid_t = inputs
        pre = xp_t + h @ w_hh.T
        if bias is not None:
            pre = pre + bias[None, :]
        h_new = f(pre)
        if valid_t is None:
            return h_new, h_new
        return jnp.where(valid_t[:, None], h_new, h), jnp.where(valid_t[:, None], h_new, 0)

    h_last, ys = lax.scan(step, h0, (xp, mask), reverse=reverse)
    return ys, h_last


@pytest.mark.parametrize(
    ("masked", "reverse", "nonlinearity", "bias"),
    list(itertools.product((False, True), (False, True), ("tanh", "relu"), (True, False))),
)
def test_custom_vjp_matches_autodiff_of_plain_scan(masked, reverse, nonlinearity, bias):
    rng = np.random.default_rng([masked, reverse, nonlinearity == "relu", bias])
    xp = jnp.asarray(rng.normal(size=(L, N, H)))
    b = jnp.asarray(rng.normal(size=(H,))) if bias else None
    w_hh = jnp.asarray(rng.normal(size=(H, H)))
    h0 = jnp.asarray(rng.normal(size=(N, H)))
    mask = jnp.arange(L)[:, None] < jnp.asarray(LENGTHS)[None, :] if masked else None
    g_ys, g_h = jnp.asarray(rng.normal(size=(L, N, H))), jnp.asarray(rng.normal(size=(N, H)))

    def loss(layer):
        def fn(xp, b, w_hh, h0):
            ys, h_last = layer(xp, b, w_hh, h0)
            return jnp.sum(ys * g_ys) + jnp.sum(h_last * g_h), (ys, h_last)

        return jax.grad(fn, argnums=(0, 1, 2, 3) if bias else (0, 2, 3), has_aux=True)

    def custom(xp, b, w_hh, h0):
        options = {"nonlinearity": nonlinearity, "reverse": reverse, "unroll": 1, "precision": None}
        return scan_layer(xp, b, w_hh, h0, mask, **options)

    def plain(xp, b, w_hh, h0):
        return autodiff_layer(xp, b, w_hh, h0, mask, nonlinearity, reverse)

    with jax.disable_jit():  # 16 small cases: op by op is cheaper than 32 compilations
        actual = loss(custom)(xp, b, w_hh, h0)
        expected = loss(plain)(xp, b, w_hh, h0)
    assert_tree_close(actual, expected, 1e-12)


def test_custom_vjp_matches_autodiff_compiled():
    rng = np.random.default_rng(9)
    xp, w_hh = jnp.asarray(rng.normal(size=(L, N, H))), jnp.asarray(rng.normal(size=(H, H)))
    b, h0 = jnp.asarray(rng.normal(size=(H,))), jnp.asarray(rng.normal(size=(N, H)))
    mask = jnp.arange(L)[:, None] < jnp.asarray(LENGTHS)[None, :]

    def loss(layer):
        return lambda *args: jnp.sum(layer(*args)[0] ** 2) + jnp.sum(layer(*args)[1])

    def custom(xp, b, w_hh, h0):
        return scan_layer(
            xp, b, w_hh, h0, mask, nonlinearity="tanh", reverse=True, unroll=2, precision=None
        )

    def plain(xp, b, w_hh, h0):
        return autodiff_layer(xp, b, w_hh, h0, mask, "tanh", True)

    grad = lambda f: jax.jit(jax.value_and_grad(loss(f), argnums=(0, 1, 2, 3)))  # noqa: E731
    assert_tree_close(grad(custom)(xp, b, w_hh, h0), grad(plain)(xp, b, w_hh, h0), 1e-12)
