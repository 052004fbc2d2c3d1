"""jrnn.nnx: nnx.Param paths are torch's keys, the core's numbers, torch's outputs, NNX habits."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import safetensors.torch
import torch
from flax import nnx

import jrnn
import jrnn.nnx


def normal(seed, shape, dtype=jnp.float32):
    return jax.random.normal(jax.random.key(seed), shape, dtype)


def layout(params) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in params.items()]


def param_state(model: nnx.Module) -> dict[tuple, jax.Array]:
    return {path: v.get_value() for path, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}


@pytest.mark.parametrize(
    "input_size, hidden_size, num_layers, bias, bidirectional",
    [(1, 1, 1, True, False), (3, 5, 2, False, True), (4, 2, 3, True, True)],
)
def test_param_paths_are_torchs_keys(input_size, hidden_size, num_layers, bias, bidirectional):
    model = nnx.eval_shape(  # abstract: shapes only, nothing drawn
        lambda: jrnn.nnx.RNN(
            input_size,
            hidden_size,
            num_layers,
            bias=bias,
            bidirectional=bidirectional,
            rngs=nnx.Rngs(0),
        )
    )
    reference = jrnn.from_torch(
        torch.nn.RNN(input_size, hidden_size, num_layers, bias=bias, bidirectional=bidirectional)
    )
    state = param_state(model)
    assert {path: v.shape for path, v in state.items()} == {
        (k,): v.shape for k, v in reference.items()
    }
    assert layout(model.to_params()) == layout(reference)  # torch's order too
    assert {v.dtype for v in state.values()} == {jnp.dtype(jnp.float32)}


@pytest.mark.parametrize("bias", [True, False])
def test_cell_param_paths_are_torchs_keys(bias):
    cell = jrnn.nnx.RNNCell(3, 5, bias=bias, rngs=nnx.Rngs(0))
    reference = jrnn.from_torch(torch.nn.RNNCell(3, 5, bias=bias))
    assert {p: v.shape for p, v in param_state(cell).items()} == {
        (k,): v.shape for k, v in reference.items()
    }
    assert layout(cell.to_params()) == layout(reference)


def test_init_is_torchs_uniform():
    hidden_size, bound = 64, 1 / math.sqrt(64)
    params = jrnn.nnx.RNN(32, hidden_size, 2, rngs=nnx.Rngs(0)).to_params()
    reference = jrnn.from_torch(torch.nn.RNN(32, hidden_size, 2))
    assert set(params) == set(reference)
    for values in (params, reference):  # torch's U(-1/sqrt(H), 1/sqrt(H)), checked on torch too
        for value in map(np.asarray, values.values()):
            assert bound * 0.9 < np.abs(value).max() <= bound
            if value.size >= 1000:  # the std of a uniform: bound/sqrt(3), to ~1% at this size
                assert abs(value.std() - bound / math.sqrt(3)) < 0.05 * bound / math.sqrt(3)
    assert not np.allclose(params["weight_hh_l0"], params["weight_hh_l1"])  # own streams


def test_dropout_does_not_change_the_initial_params():
    plain = jrnn.nnx.RNN(3, 4, 2, rngs=nnx.Rngs(0))
    with_dropout = jrnn.nnx.RNN(3, 4, 2, dropout=0.5, rngs=nnx.Rngs(0))
    for name, value in plain.to_params().items():
        np.testing.assert_array_equal(value, with_dropout.to_params()[name])


@pytest.mark.parametrize(
    "config",
    [
        dict(num_layers=2, batch_first=True, nonlinearity="relu"),
        dict(num_layers=1, bias=False, unroll=3, precision="highest"),
    ],
)
def test_outputs_and_gradients_equal_the_core(config):
    model = jrnn.nnx.RNN(2, 4, dtype=jnp.float64, rngs=nnx.Rngs(0), **config)
    x = normal(0, (3, 5, 2) if config.get("batch_first") else (5, 3, 2), jnp.float64)
    num_states = (2 if config.get("bidirectional") else 1) * config["num_layers"]
    h0 = normal(2, (num_states, 3, 4), jnp.float64)
    core_config = {k: v for k, v in config.items() if k not in ("num_layers", "bias")}
    core_config.pop("bidirectional", None)

    def loss(out):
        output, h_n = out
        return jnp.sum(jnp.sin(output)) + jnp.sum(h_n**2)

    ours, grads = nnx.jit(nnx.value_and_grad(lambda m: loss(m(x, h0))))(model)
    params = model.to_params()
    core_loss = lambda p: loss(jrnn.rnn(p, x, h0, **core_config))  # noqa: E731
    core, core_grads = jax.jit(jax.value_and_grad(core_loss))(params)
    np.testing.assert_allclose(ours, core, rtol=1e-12)
    grads = {path[0]: g[...] for path, g in nnx.to_flat_state(grads)}
    assert set(grads) == set(params)
    for name in params:
        np.testing.assert_allclose(grads[name], core_grads[name], rtol=1e-12, atol=1e-12)


def test_cell_outputs_and_gradients_equal_the_core():
    cell = jrnn.nnx.RNNCell(2, 4, nonlinearity="relu", dtype=jnp.float64, rngs=nnx.Rngs(0))
    x_t, h = normal(0, (3, 2), jnp.float64), normal(1, (3, 4), jnp.float64)
    grads = nnx.jit(nnx.grad(lambda c: jnp.sum(c(x_t, h) ** 2)))(cell)
    core_loss = lambda p: jnp.sum(jrnn.cell_step(p, x_t, h, nonlinearity="relu") ** 2)  # noqa: E731
    core_grads = jax.jit(jax.grad(core_loss))(cell.to_params())
    for path, g in nnx.to_flat_state(grads):
        np.testing.assert_allclose(g[...], core_grads[path[0]], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        cell(x_t[0]), jrnn.cell_step(cell.to_params(), x_t[0], nonlinearity="relu")
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
    built = jrnn.nnx.RNN.from_params(
        jrnn.from_torch(reference),
        nonlinearity=nonlinearity,
        batch_first=batch_first,
        rngs=nnx.Rngs(0),
    )
    loaded = jrnn.nnx.RNN(
        input_size,
        hidden_size,
        num_layers,
        nonlinearity=nonlinearity,
        bidirectional=bidirectional,
        batch_first=batch_first,
        rngs=nnx.Rngs(1),
    )
    loaded.load_params(jrnn.from_torch(reference))
    forward = nnx.jit(lambda model, x: model(x))
    for model in (built, loaded):
        output, h_n = forward(model, jnp.asarray(x.numpy()))
        np.testing.assert_allclose(output, want_output.detach().numpy(), atol=1e-5)
        np.testing.assert_allclose(h_n, want_h_n.detach().numpy(), atol=1e-5)


def test_torch_cell_weights_drop_in():
    torch.manual_seed(0)
    reference = torch.nn.RNNCell(3, 5, bias=False)
    x_t, h = torch.randn(2, 3), torch.randn(2, 5)
    want = reference(x_t, h).detach().numpy()
    built = jrnn.nnx.RNNCell.from_params(jrnn.from_torch(reference), rngs=nnx.Rngs(0))
    loaded = jrnn.nnx.RNNCell(3, 5, bias=False, rngs=nnx.Rngs(1))
    loaded.load_params(jrnn.from_torch(reference))
    for cell in (built, loaded):
        got = cell(jnp.asarray(x_t.numpy()), jnp.asarray(h.numpy()))
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_lengths_match_torch_packed_sequences():
    torch.manual_seed(0)
    reference = torch.nn.RNN(2, 3, 2, bidirectional=True)
    x, lengths = torch.randn(5, 3, 2), torch.tensor([5, 2, 4])
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    packed_output, want_h_n = reference(packed)
    want_output, _ = torch.nn.utils.rnn.pad_packed_sequence(packed_output, total_length=5)
    model = jrnn.nnx.RNN.from_params(jrnn.from_torch(reference), rngs=nnx.Rngs(0))
    output, h_n = nnx.jit(lambda model, x, lengths: model(x, lengths=lengths))(
        model, jnp.asarray(x.numpy()), jnp.asarray(lengths.numpy())
    )
    np.testing.assert_allclose(output, want_output.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(h_n, want_h_n.detach().numpy(), atol=1e-5)


def test_dropout_follows_nnx_train_and_eval():
    model = jrnn.nnx.RNN(
        3, 6, 2, dropout=0.5, dtype=jnp.float64, rngs=nnx.Rngs(params=0, dropout=1)
    )
    x = normal(0, (4, 2, 3), jnp.float64)
    params = model.to_params()
    core = jax.jit(functools.partial(jrnn.rnn, params, x, dropout=0.5))  # core(key=...)
    forward = nnx.jit(lambda model: model(x))
    off = core(key=None)

    # A fresh model trains, as nnx.Dropout and torch do; its keys come from the forked stream.
    stream = nnx.Rngs(params=0, dropout=1)["dropout"].fork()
    first, second = forward(model), forward(model)
    for got, key in ((first, stream()), (second, stream())):
        want = core(key=key)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12)
    assert not np.allclose(first[0], off[0])
    assert not np.allclose(first[0], second[0])

    key = jax.random.key(7)
    with_key = nnx.jit(lambda model, key: model(x, rngs=key))(model, key)
    np.testing.assert_allclose(with_key[0], core(key=key)[0], rtol=1e-12)

    np.testing.assert_allclose(forward(nnx.view(model, deterministic=True))[0], off[0], rtol=1e-12)
    model.eval()
    np.testing.assert_allclose(forward(model)[0], off[0], rtol=1e-12)
    model.train()
    assert not np.allclose(forward(model)[0], off[0])


def test_dropout_keys_are_drawn_as_nnx_dropout_draws_them():
    model = jrnn.nnx.RNN(3, 4, 2, dropout=0.5, rngs=nnx.Rngs(params=0, dropout=1))

    def drawn(deterministic=None, rngs=None):
        key = jrnn.nnx._dropout_key("f", model, deterministic, rngs)
        return None if key is None else jax.random.key_data(key).tolist()

    def expected(key):
        return jax.random.key_data(key).tolist()

    key = jax.random.key(7)
    assert drawn(rngs=key) == expected(key)
    assert drawn(rngs=nnx.Rngs(dropout=8)) == expected(nnx.Rngs(dropout=8)["dropout"]())
    assert drawn(rngs=nnx.Rngs(9)["dropout"]) == expected(nnx.Rngs(9)["dropout"]())
    stream = nnx.Rngs(params=0, dropout=1)["dropout"].fork()
    assert drawn() == expected(stream())
    assert drawn() == expected(stream())  # the stored stream advances
    assert drawn(deterministic=True) is None
    model.eval()
    assert drawn() is None
    assert drawn(deterministic=False, rngs=key) == expected(key)


def test_dropout_errors():
    model = jrnn.nnx.RNN(3, 4, 2, rngs=nnx.Rngs(0))
    model.dropout = 0.5  # raised after construction: no stream was forked
    x = jnp.ones((2, 3), jnp.float32)
    with pytest.raises(ValueError, match=r"`jrnn.nnx.RNN`: dropout=0.5 in training mode"):
        model(x)
    with pytest.raises(TypeError, match=r"`jrnn.nnx.RNN`: expected rngs .* got int"):
        model(x, rngs=3)


def test_every_setting_reaches_the_core(monkeypatch):
    calls = []
    monkeypatch.setattr(jrnn.nnx, "rnn", lambda *args, **kwargs: calls.append((args, kwargs)))
    settings = dict(
        nonlinearity="relu",
        batch_first=True,
        dropout=0.25,
        unroll=2,
        precision="highest",
        checkpoint_every=2,
    )
    model = jrnn.nnx.RNN(5, 3, 3, rngs=nnx.Rngs(0), **settings)
    x, h0, lengths = jnp.ones((2, 4, 5), jnp.float32), jnp.ones((3, 2, 3), jnp.float32), [4, 1]
    model(x, h0, lengths=lengths)
    [((params, got_x, got_h0), kwargs)] = calls
    assert got_x is x and got_h0 is h0 and kwargs.pop("lengths") is lengths
    assert kwargs.pop("key") is not None
    assert kwargs == settings
    assert params.keys() == model.to_params().keys()
    built = jrnn.nnx.RNN.from_params(model.to_params(), rngs=nnx.Rngs(0), **settings)
    built(x, h0, lengths=lengths)
    kwargs = calls[1][1]
    assert kwargs.pop("key") is not None and kwargs.pop("lengths") is lengths
    assert kwargs == settings


def test_jitted_nnx_optimizer_lowers_the_loss():
    model = jrnn.nnx.RNN(2, 8, 2, batch_first=True, dropout=0.1, rngs=nnx.Rngs(0))
    x = normal(0, (16, 10, 2))
    target = jnp.tanh(jnp.cumsum(x[..., :1], axis=1) / 3)  # (N, L, 1): a running sum
    optimizer = nnx.Optimizer(model, optax.adam(2e-2), wrt=nnx.Param)

    def loss_fn(model):
        output, _ = model(x)
        return jnp.mean((output[..., :1] - target) ** 2)

    @nnx.jit
    def step(model, optimizer):
        grads = nnx.grad(loss_fn)(model)
        optimizer.update(model, grads)

    evaluate = nnx.jit(loss_fn)
    model.eval()
    before = evaluate(model)
    model.train()
    for _ in range(40):
        step(model, optimizer)
    model.eval()
    assert evaluate(model) < 0.5 * before


def test_split_merge_round_trip():
    model = jrnn.nnx.RNN(3, 4, bidirectional=True, dropout=0.2, rngs=nnx.Rngs(0))
    model.eval()
    x = normal(0, (5, 2, 3))
    graphdef, state = nnx.split(model)
    again = nnx.merge(graphdef, state)
    assert (again.deterministic, again.dropout, again.hidden_size) == (True, 0.2, 4)
    for name, value in model.to_params().items():
        np.testing.assert_array_equal(again.to_params()[name], value)

    forward = jax.jit(lambda state, x: nnx.merge(graphdef, state)(x))
    core = jax.jit(jrnn.rnn)
    np.testing.assert_allclose(forward(state, x)[0], core(model.to_params(), x)[0], atol=1e-6)
    doubled = {k: 2 * v for k, v in model.to_params().items()}
    nnx.update(again, jax.tree.map(lambda v: 2 * v, nnx.state(model, nnx.Param)))
    np.testing.assert_allclose(forward(nnx.state(again), x)[0], core(doubled, x)[0], atol=1e-6)


def test_saved_model_loads_into_torch_and_back(tmp_path):
    model = jrnn.nnx.RNN(3, 4, 2, bidirectional=True, nonlinearity="relu", rngs=nnx.Rngs(0))
    path = tmp_path / "rnn.safetensors"
    jrnn.save(path, model.to_params())
    reference = torch.nn.RNN(3, 4, 2, bidirectional=True, nonlinearity="relu")
    reference.load_state_dict(safetensors.torch.load_file(path), strict=True)
    x = normal(0, (5, 2, 3))
    want_output, want_h_n = reference(torch.from_numpy(np.array(x)))
    output, h_n = model(x)
    np.testing.assert_allclose(output, want_output.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(h_n, want_h_n.detach().numpy(), atol=1e-5)

    again = jrnn.nnx.RNN.from_params(jrnn.load(path), nonlinearity="relu", rngs=nnx.Rngs(1))
    for name, value in model.to_params().items():
        np.testing.assert_array_equal(again.to_params()[name], value)


def test_load_params_rejects_params_that_do_not_fit():
    model = jrnn.nnx.RNN(3, 4, 2, rngs=nnx.Rngs(0))
    before = model.to_params()
    other = jrnn.init_rnn(jax.random.key(1), 3, 4, 2, bidirectional=True)
    with pytest.raises(ValueError, match=r"load_params`: params do not fit.*bidirectional=True"):
        model.load_params(other)
    as_float64 = {k: v.astype(jnp.float64) for k, v in before.items()}
    with pytest.raises(TypeError, match=r"load_params`: expected params of dtype float32"):
        model.load_params(as_float64)
    with pytest.raises(ValueError, match=r"look like torch.nn.LSTM params: call `jrnn.lstm`"):
        model.load_params(
            {
                k: jnp.asarray(v.detach().numpy())
                for k, v in torch.nn.LSTM(3, 4, 2).state_dict().items()
            }
        )
    for name, value in before.items():  # nothing was half-loaded
        np.testing.assert_array_equal(model.to_params()[name], value)

    cell = jrnn.nnx.RNNCell(3, 4, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"RNNCell.load_params`: params do not fit.*bias=False"):
        cell.load_params(jrnn.init_rnn_cell(jax.random.key(1), 3, 4, bias=False))
    with pytest.raises(ValueError, match=r"RNN.from_params`: params have torch.nn.RNNCell keys"):
        jrnn.nnx.RNN.from_params(cell.to_params(), rngs=nnx.Rngs(0))


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda r: jrnn.nnx.RNN(0, 4, rngs=r), ValueError, r"`jrnn.nnx.RNN`: .*input_size"),
        (lambda r: jrnn.nnx.RNN(3, 4, 0, rngs=r), ValueError, r"`jrnn.nnx.RNN`: .*num_layers"),
        (lambda r: jrnn.nnx.RNN(3, 4, nonlinearity="gelu", rngs=r), ValueError, "'gelu'"),
        (lambda r: jrnn.nnx.RNN(3, 4, dropout=-0.1, rngs=r), ValueError, "dropout=-0.1"),
        (lambda r: jrnn.nnx.RNN(3, 4, dtype=jnp.int32, rngs=r), TypeError, "floating dtype"),
        (lambda r: jrnn.nnx.RNNCell(3, 0, rngs=r), ValueError, "`jrnn.nnx.RNNCell`: .*hidden"),
        (lambda r: jrnn.nnx.RNNCell(3, 4, nonlinearity="x", rngs=r), ValueError, "'x'"),
        (lambda r: jrnn.nnx.RNNCell(3, 4, dtype=int, rngs=r), TypeError, "floating dtype"),
    ],
)
def test_bad_configuration_raises(build, error, match):
    with pytest.raises(error, match=match):
        build(nnx.Rngs(0))
