"""jrnn.linen: torch's parameter tree, the functional core's numbers, torch's outputs."""

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import jrnn
import jrnn.linen


def normal(seed, shape, dtype=jnp.float32):
    return jax.random.normal(jax.random.key(seed), shape, dtype)


def layout(params) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in params.items()}


class DropoutKey(nn.Module):
    """Draws the "dropout" key a top-level module gets first, as jrnn.linen.RNN draws it."""

    @nn.compact
    def __call__(self):
        return self.make_rng("dropout")


@pytest.mark.parametrize(
    "input_size, hidden_size, num_layers, bias, bidirectional",
    [(1, 1, 1, True, False), (3, 5, 2, False, True), (4, 2, 3, True, True)],
)
def test_param_names_shapes_and_order_are_torchs(
    input_size, hidden_size, num_layers, bias, bidirectional
):
    model = jrnn.linen.RNN(hidden_size, num_layers, bias=bias, bidirectional=bidirectional)
    x = jnp.ones((2, 3, input_size), jnp.float32)
    params = jax.eval_shape(model.init, jax.random.key(0), x)["params"]  # no forward pass
    reference = torch.nn.RNN(
        input_size, hidden_size, num_layers, bias=bias, bidirectional=bidirectional
    )
    assert layout(params) == layout(jrnn.from_torch(reference))
    assert {v.dtype for v in params.values()} == {jnp.dtype(jnp.float32)}


@pytest.mark.parametrize("bias", [True, False])
def test_cell_param_names_are_torchs(bias):
    params = jrnn.linen.RNNCell(5, bias=bias).init(
        jax.random.key(0), jnp.ones((2, 3), jnp.float32)
    )["params"]
    reference = jrnn.from_torch(torch.nn.RNNCell(3, 5, bias))
    assert layout(params) == layout(reference)
    assert list(params) == list(reference)  # torch's order (outside jit, which sorts dict keys)


def test_init_is_torchs_uniform():
    hidden_size, bound = 64, 1 / math.sqrt(64)
    model = jrnn.linen.RNN(hidden_size, 2)
    params = jax.jit(model.init)(jax.random.key(0), jnp.ones((1, 1, 32), jnp.float32))["params"]
    reference = jrnn.from_torch(torch.nn.RNN(32, hidden_size, 2))
    assert set(params) == set(reference)
    for values in (params, reference):  # torch's U(-1/sqrt(H), 1/sqrt(H)), checked on torch too
        for value in map(np.asarray, values.values()):
            assert bound * 0.9 < np.abs(value).max() <= bound
            if value.size >= 1000:  # the std of a uniform: bound/sqrt(3), to ~1% at this size
                assert abs(value.std() - bound / math.sqrt(3)) < 0.05 * bound / math.sqrt(3)
    assert not np.allclose(params["weight_hh_l0"], params["weight_hh_l1"])  # own streams


@pytest.mark.parametrize(
    "config",
    [
        dict(num_layers=2, batch_first=True, nonlinearity="relu"),
        dict(num_layers=1, bias=False, unroll=3, precision="highest"),
    ],
)
def test_outputs_and_gradients_equal_the_core(config):
    model = jrnn.linen.RNN(4, dtype=jnp.float64, **config)
    x = normal(0, (3, 5, 2) if config.get("batch_first") else (5, 3, 2), jnp.float64)
    params = jax.jit(model.init)(jax.random.key(1), x)["params"]
    num_states = (2 if config.get("bidirectional") else 1) * config["num_layers"]
    h0 = normal(2, (num_states, 3, 4), jnp.float64)
    core_config = {k: v for k, v in config.items() if k not in ("num_layers", "bias")}
    core_config.pop("bidirectional", None)

    def loss(out):
        output, h_n = out
        return jnp.sum(jnp.sin(output)) + jnp.sum(h_n**2)

    ours = jax.jit(jax.value_and_grad(lambda p: loss(model.apply({"params": p}, x, h0))))(params)
    core = jax.jit(jax.value_and_grad(lambda p: loss(jrnn.rnn(p, x, h0, **core_config))))(params)
    np.testing.assert_allclose(ours[0], core[0], rtol=1e-12)
    for name in params:
        np.testing.assert_allclose(ours[1][name], core[1][name], rtol=1e-12, atol=1e-12)


def test_cell_outputs_and_gradients_equal_the_core():
    cell = jrnn.linen.RNNCell(4, nonlinearity="relu", dtype=jnp.float64)
    x_t, h = normal(0, (3, 2), jnp.float64), normal(1, (3, 4), jnp.float64)
    params = cell.init(jax.random.key(2), x_t)["params"]

    def loss(p, step):
        return jnp.sum(step(p) ** 2)

    ours = jax.jit(jax.grad(lambda p: loss(p, lambda p: cell.apply({"params": p}, x_t, h))))
    core = jax.jit(
        jax.grad(lambda p: loss(p, lambda p: jrnn.cell_step(p, x_t, h, nonlinearity="relu")))
    )
    ours, core = ours(params), core(params)
    for name in params:
        np.testing.assert_allclose(ours[name], core[name], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        cell.apply({"params": params}, x_t[0]), jrnn.cell_step(params, x_t[0], nonlinearity="relu")
    )


@pytest.mark.parametrize(
    "input_size, hidden_size, num_layers, nonlinearity, bidirectional, batch_first",
    [(1, 1, 1, "tanh", False, False), (3, 5, 2, "relu", True, True)],
)
def test_torch_weights_drop_in(
    input_size, hidden_size, num_layers, nonlinearity, bidirectional, batch_first
):
    torch.manual_seed(0)
    reference = torch.nn.RNN(
        input_size,
        hidden_size,
        num_layers,
        nonlinearity=nonlinearity,
        bidirectional=bidirectional,
        batch_first=batch_first,
    )
    x = torch.randn(4, 6, input_size)
    want_output, want_h_n = reference(x)
    model = jrnn.linen.RNN(
        hidden_size,
        num_layers,
        nonlinearity=nonlinearity,
        bidirectional=bidirectional,
        batch_first=batch_first,
    )
    output, h_n = jax.jit(model.apply)(
        {"params": jrnn.from_torch(reference)}, jnp.asarray(x.numpy())
    )
    np.testing.assert_allclose(output, want_output.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(h_n, want_h_n.detach().numpy(), atol=1e-5)


def test_torch_cell_weights_drop_in():
    torch.manual_seed(0)
    reference = torch.nn.RNNCell(3, 5)
    x_t, h = torch.randn(2, 3), torch.randn(2, 5)
    got = jrnn.linen.RNNCell(5).apply(
        {"params": jrnn.from_torch(reference)}, jnp.asarray(x_t.numpy()), jnp.asarray(h.numpy())
    )
    np.testing.assert_allclose(got, reference(x_t, h).detach().numpy(), atol=1e-5)


def test_lengths_match_torch_packed_sequences():
    torch.manual_seed(0)
    reference = torch.nn.RNN(2, 3, 2, bidirectional=True)
    x, lengths = torch.randn(5, 3, 2), torch.tensor([5, 2, 4])
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    packed_output, want_h_n = reference(packed)
    want_output, _ = torch.nn.utils.rnn.pad_packed_sequence(packed_output, total_length=5)
    output, h_n = jax.jit(jrnn.linen.RNN(3, 2, bidirectional=True).apply)(
        {"params": jrnn.from_torch(reference)},
        jnp.asarray(x.numpy()),
        lengths=jnp.asarray(lengths.numpy()),
    )
    np.testing.assert_allclose(output, want_output.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(h_n, want_h_n.detach().numpy(), atol=1e-5)


def test_dropout_on_and_off():
    model = jrnn.linen.RNN(6, 2, dropout=0.5, dtype=jnp.float64)
    x = normal(0, (4, 2, 3), jnp.float64)
    params = jrnn.init_rnn(jax.random.key(1), 3, 6, 2, dtype=jnp.float64)
    apply = jax.jit(
        functools.partial(model.apply, {"params": params}, x), static_argnames="deterministic"
    )
    core = jax.jit(functools.partial(jrnn.rnn, params, x, dropout=0.5))  # core(key=...)
    rng = jax.random.key(2)

    off = apply(rngs={"dropout": rng})
    np.testing.assert_allclose(off[0], core(key=None)[0], rtol=1e-12)

    on = apply(deterministic=False, rngs={"dropout": rng})
    want = core(key=DropoutKey().apply({}, rngs={"dropout": rng}))
    np.testing.assert_allclose(on[0], want[0], rtol=1e-12)
    np.testing.assert_allclose(on[1], want[1], rtol=1e-12)
    assert not np.allclose(on[0], off[0])


def test_jitted_optax_training_lowers_the_loss():
    model = jrnn.linen.RNN(8, 2, batch_first=True, dropout=0.1)
    x = normal(0, (16, 10, 2))
    target = jnp.tanh(jnp.cumsum(x[..., :1], axis=1) / 3)  # (N, L, 1): a running sum
    params = jax.jit(model.init)(jax.random.key(1), x)["params"]
    optimizer = optax.adam(2e-2)
    opt_state = optimizer.init(params)

    def loss_fn(params, rng, deterministic):
        output, _ = model.apply(
            {"params": params}, x, deterministic=deterministic, rngs={"dropout": rng}
        )
        return jnp.mean((output[..., :1] - target) ** 2)

    @jax.jit
    def step(params, opt_state, rng):
        grads = jax.grad(loss_fn)(params, rng, False)
        updates, opt_state = optimizer.update(grads, opt_state)
        return optax.apply_updates(params, updates), opt_state

    evaluate = jax.jit(lambda params: loss_fn(params, jax.random.key(0), True))
    before = evaluate(params)
    for i in range(40):
        params, opt_state = step(params, opt_state, jax.random.key(i))
    assert evaluate(params) < 0.5 * before
    assert step._cache_size() == 1  # one compilation for all steps


def test_every_setting_reaches_the_core(monkeypatch):
    calls = []
    monkeypatch.setattr(jrnn.linen, "rnn", lambda *args, **kwargs: calls.append((args, kwargs)))
    settings = dict(
        nonlinearity="relu",
        batch_first=True,
        dropout=0.25,
        unroll=2,
        precision="highest",
        checkpoint_every=2,
    )
    model = jrnn.linen.RNN(3, 3, **settings)
    x, h0, lengths = jnp.ones((2, 4, 5), jnp.float32), jnp.ones((3, 2, 3), jnp.float32), [4, 1]
    rngs = {"params": jax.random.key(0), "dropout": jax.random.key(1)}
    model.init(rngs, x, h0, lengths=lengths, deterministic=False)
    [((params, got_x, got_h0), kwargs)] = calls
    assert got_x is x and got_h0 is h0 and kwargs.pop("lengths") is lengths
    assert kwargs.pop("key") is not None
    assert kwargs == settings
    assert layout(params) == layout(jrnn.init_rnn(jax.random.key(0), 5, 3, 3))


def test_mis_shaped_x_at_apply_is_reported_by_the_core():
    model = jrnn.linen.RNN(4)
    params = model.init(jax.random.key(0), jnp.ones((5, 2, 3), jnp.float32))["params"]
    with pytest.raises(ValueError, match="pass batch_first=True"):
        model.apply({"params": params}, jnp.ones((2, 3, 7), jnp.float32))


@pytest.mark.parametrize(
    "module, x, error, match",
    [
        (jrnn.linen.RNN(4), jnp.ones((3,)), ValueError, r"`jrnn.linen.RNN`: expected x of shape"),
        (jrnn.linen.RNN(0), jnp.ones((2, 3)), ValueError, r"`jrnn.linen.RNN`: .*hidden_size"),
        (jrnn.linen.RNN(4, 0), jnp.ones((2, 3)), ValueError, r"`jrnn.linen.RNN`: .*num_layers"),
        (jrnn.linen.RNN(4, nonlinearity="gelu"), jnp.ones((2, 3)), ValueError, "'gelu'"),
        (jrnn.linen.RNN(4, dropout=1.5), jnp.ones((2, 3)), ValueError, "dropout=1.5"),
        (jrnn.linen.RNN(4, dtype=jnp.int32), jnp.ones((2, 3)), TypeError, "floating dtype"),
        (jrnn.linen.RNNCell(4), jnp.ones((2, 3, 1)), ValueError, "`jrnn.linen.RNNCell`: .*x_t"),
        (jrnn.linen.RNNCell(0), jnp.ones((3,)), ValueError, "`jrnn.linen.RNNCell`: .*hidden"),
        (jrnn.linen.RNNCell(4, nonlinearity=None), jnp.ones((3,)), ValueError, "None"),
        (jrnn.linen.RNNCell(4, dtype=jnp.int8), jnp.ones((3,)), TypeError, "floating dtype"),
    ],
)
def test_bad_configuration_raises(module, x, error, match):
    with pytest.raises(error, match=match):
        module.init(jax.random.key(0), x.astype(jnp.float32))


@pytest.mark.parametrize(
    "torch_kwargs, pattern",
    [
        (dict(num_layers=2), "unexpected key 'weight_ih_l1'"),
        (dict(bidirectional=True), "unexpected key 'weight_ih_l0_reverse'"),
        (dict(bias=False), "missing key 'bias_ih_l0'"),
    ],
)
def test_params_of_another_network_are_refused(torch_kwargs, pattern):
    """flax would silently ignore extra params; the wrapper refuses them as strict torch does."""
    params = jrnn.from_torch(torch.nn.RNN(3, 4, **torch_kwargs).double())
    model = jrnn.linen.RNN(4)
    x = jnp.ones((5, 2, 3), jnp.float64)
    with pytest.raises(ValueError, match=rf"`jrnn.linen.RNN`.*\n.*{pattern}"):
        model.apply({"params": params}, x)


def test_cell_params_with_extra_bias_are_refused():
    params = jrnn.from_torch(torch.nn.RNNCell(3, 4).double())
    model = jrnn.linen.RNNCell(4, bias=False)
    with pytest.raises(ValueError, match="`jrnn.linen.RNNCell`.*\n.*unexpected key 'bias_ih'"):
        model.apply({"params": params}, jnp.ones((2, 3), jnp.float64))
