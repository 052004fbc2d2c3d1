"""The Flax wrappers' dtypes follow flax: params in ``param_dtype``, computation in ``dtype``.

``dtype=None`` computes in what the inputs and params promote to, checked against flax's own
``canonicalize_dtype``; mixed precision (float32 params, bfloat16 compute) trains with optax;
float64 input (x64 is on in this suite) runs in float64 and matches torch in double precision.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from _torch_reference import JRNN_FUNCTIONS, numpy_tree, torch_forward, torch_module
from flax import nnx

import jrnn
import jrnn.linen
import jrnn.nnx

CELL_STEPS = {"RNN": jrnn.cell_step, "LSTM": jrnn.lstm_cell_step, "GRU": jrnn.gru_cell_step}


def cast(tree, dtype):
    return jax.tree.map(lambda a: a.astype(dtype), tree)


@pytest.mark.parametrize(
    "kind, x_dtype, param_dtype, dtype",
    [
        ("RNN", "float32", "float32", None),
        ("LSTM", "bfloat16", "float32", None),  # flax promotes: float32
        ("GRU", "int32", "float32", None),  # integer input promotes to the params' dtype
        ("LSTM", "float64", "float32", None),
        ("RNN", "float16", "bfloat16", None),  # float32, as JAX promotes the two half types
        ("GRU", "float64", "float64", "float32"),  # an explicit dtype casts everything to it
        ("LSTM", "float32", "float32", "bfloat16"),
    ],
)
def test_compute_dtype_is_flaxs_and_the_numbers_are_the_cores(kind, x_dtype, param_dtype, dtype):
    x = (jnp.arange(12).reshape(3, 2, 2) % 5 - 2).astype(x_dtype)  # (L, N, H_in), exact in any
    model = getattr(jrnn.linen, kind)(3, dtype=dtype, param_dtype=param_dtype)
    params = model.init(jax.random.key(0), x)["params"]
    assert {p.dtype for p in params.values()} == {jnp.dtype(param_dtype)}
    want_dtype = nn.dtypes.canonicalize_dtype(x, *params.values(), dtype=dtype)
    output, final = model.apply({"params": params}, x)
    want_output, want_final = JRNN_FUNCTIONS[kind](cast(params, want_dtype), x.astype(want_dtype))
    for got, want in zip(
        jax.tree.leaves((output, final)), jax.tree.leaves((want_output, want_final)), strict=True
    ):
        assert got.dtype == want_dtype
        np.testing.assert_array_equal(got, want)

    cell = getattr(jrnn.nnx, kind + "Cell")(
        2, 3, dtype=dtype, param_dtype=param_dtype, rngs=nnx.Rngs(0)
    )
    step = cell(x[0])
    want_step = CELL_STEPS[kind](cast(cell.to_params(), want_dtype), x[0].astype(want_dtype))
    for got, want in zip(jax.tree.leaves(step), jax.tree.leaves(want_step), strict=True):
        assert got.dtype == want_dtype
        np.testing.assert_array_equal(got, want)


def running_sum_task():
    x = jnp.asarray(np.random.default_rng(0).standard_normal((8, 12, 2)), jnp.float32)
    return x, jnp.tanh(jnp.cumsum(x[..., :1], axis=1) / 3)  # (N, L, H_in), (N, L, 1)


def test_linen_bfloat16_compute_with_float32_params_trains_and_keeps_float32_params():
    """flax's standard mixed precision: master weights in float32, the scan in bfloat16."""
    x, target = running_sum_task()
    model = jrnn.linen.LSTM(16, 2, batch_first=True, dropout=0.1, dtype=jnp.bfloat16)
    full = jrnn.linen.LSTM(16, 2, batch_first=True, dropout=0.1)  # the same params, in float32
    params = model.init(jax.random.key(0), x)["params"]

    def loss_fn(params, rng=None, model=model):
        rngs = {} if rng is None else {"dropout": rng}
        output, _ = model.apply({"params": params}, x, deterministic=rng is None, rngs=rngs)
        return jnp.mean((output[..., :1].astype(jnp.float32) - target) ** 2), output

    optimizer = optax.adam(3e-2)
    opt_state = optimizer.init(params)

    @jax.jit
    def step(params, opt_state, rng):
        grads = jax.grad(lambda p: loss_fn(p, rng)[0])(params)  # dropout on while training
        updates, opt_state = optimizer.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state, grads

    evaluate = jax.jit(loss_fn, static_argnames="model")  # dropout off
    (first, output), (first_full, _) = evaluate(params), evaluate(params, model=full)
    assert output.dtype == jnp.bfloat16
    np.testing.assert_allclose(first, first_full, rtol=5e-2)  # bfloat16's round-off
    for i in range(15):
        params, opt_state, grads = step(params, opt_state, jax.random.key(i))
    assert step._cache_size() == 1  # one compilation for all steps
    assert {g.dtype for g in grads.values()} == {jnp.dtype(jnp.float32)}
    assert {p.dtype for p in params.values()} == {jnp.dtype(jnp.float32)}
    assert evaluate(params)[0] < 0.7 * first


def test_nnx_bfloat16_compute_with_float32_params_trains_and_keeps_float32_params():
    x, target = running_sum_task()
    model = jrnn.nnx.GRU(
        2, 16, 2, batch_first=True, dropout=0.1, dtype=jnp.bfloat16, rngs=nnx.Rngs(0)
    )
    optimizer = nnx.Optimizer(model, optax.adam(3e-2), wrt=nnx.Param)

    def loss_fn(model):
        return jnp.mean((model(x)[0][..., :1].astype(jnp.float32) - target) ** 2)

    @nnx.jit
    def step(model, optimizer):  # dropout keys: the model's "dropout" stream
        optimizer.update(model, nnx.grad(loss_fn)(model))

    evaluate = nnx.jit(loss_fn)
    model.eval()
    first = evaluate(model)
    model.train()
    for _ in range(15):
        step(model, optimizer)
    model.eval()
    assert {p.dtype for p in model.to_params().values()} == {jnp.dtype(jnp.float32)}
    assert model(x)[0].dtype == jnp.bfloat16
    assert evaluate(model) < 0.7 * first


@pytest.mark.parametrize("kind", ["LSTM"])  # RNN and GRU in float64: the test above
def test_float64_input_with_default_params_runs_in_float64_and_matches_torch(kind):
    """x64 on: ``init`` on float64 input works as ``nn.Dense``'s does, and computes in float64."""
    x = jnp.asarray(np.random.default_rng(0).standard_normal((4, 2, 3)), jnp.float64)
    model = getattr(jrnn.linen, kind)(5, 2, bidirectional=True)
    params = model.init(jax.random.key(0), x)["params"]
    assert {p.dtype for p in params.values()} == {jnp.dtype(jnp.float32)}
    output, final = model.apply({"params": params}, x)
    assert {a.dtype for a in jax.tree.leaves((output, final))} == {jnp.dtype(jnp.float64)}
    reference = torch_module(kind, cast(params, jnp.float64))  # the float32 values, in double
    want = torch_forward(reference, torch.from_numpy(np.array(x)), None)
    for got, expected in zip(
        jax.tree.leaves((output, final)), jax.tree.leaves(numpy_tree(want)), strict=True
    ):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_inputs_that_promote_to_no_floating_dtype_are_refused():
    model = jrnn.linen.RNN(3)
    params = model.init(jax.random.key(0), jnp.ones((2, 2), jnp.float32))["params"]
    with pytest.raises(TypeError, match=r"`jrnn.linen.RNN`: the inputs and params promote to"):
        model.apply({"params": params}, jnp.ones((2, 2), jnp.complex64))
