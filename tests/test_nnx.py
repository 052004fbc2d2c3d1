"""jrnn.nnx: nnx.Param paths are torch's keys, the core's numbers, torch's outputs, NNX habits."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import safetensors.torch
import torch
from _torch_reference import (
    JRNN_FUNCTIONS,
    TORCH_CELLS,
    TORCH_MODULES,
    leaves,
    numpy_tree,
    random_cell_params,
    random_params,
    torch_cell,
    torch_forward,
    torch_module,
)
from flax import nnx

import jrnn
import jrnn.nnx
from jrnn import _wrappers

KINDS = ("RNN", "LSTM", "GRU")
CELL_STEPS = {"RNN": jrnn.cell_step, "LSTM": jrnn.lstm_cell_step, "GRU": jrnn.gru_cell_step}


def normal(seed, shape, dtype=jnp.float32):
    return jax.random.normal(jax.random.key(seed), shape, dtype)


def layout(params) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in params.items()]


def param_state(model: nnx.Module) -> dict[tuple, jax.Array]:
    return {path: v.get_value() for path, v in nnx.to_flat_state(nnx.state(model, nnx.Param))}


def initial_state(kind, shape, hidden_size, seed, dtype=jnp.float64):
    """``h0``, or LSTM's ``(h0, c0)`` with ``c0`` of ``hidden_size`` features."""
    h0 = normal(seed, shape, dtype)
    if kind != "LSTM":
        return h0
    return h0, normal(seed + 1, (*shape[:-1], hidden_size), dtype)


def assert_leaves_close(actual, expected, **tolerance):
    actual, expected = jax.tree.leaves(actual), jax.tree.leaves(expected)
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        np.testing.assert_allclose(got, want, **tolerance)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "input_size, hidden_size, num_layers, bias, bidirectional, proj_size",
    [(1, 1, 1, True, False, 0), (3, 5, 2, False, True, 2)],
)
def test_param_paths_are_torchs_keys(
    kind, input_size, hidden_size, num_layers, bias, bidirectional, proj_size
):
    options = dict(bias=bias, bidirectional=bidirectional)
    if kind == "LSTM" and proj_size:
        options["proj_size"] = proj_size
    model = nnx.eval_shape(  # abstract: shapes only, nothing drawn
        lambda: getattr(jrnn.nnx, kind)(
            input_size,
            hidden_size,
            num_layers,
            param_dtype=jnp.float64,
            rngs=nnx.Rngs(0),
            **options,
        )
    )
    reference = jrnn.from_torch(TORCH_MODULES[kind](input_size, hidden_size, num_layers, **options))
    state = param_state(model)
    assert {path: v.shape for path, v in state.items()} == {
        (k,): v.shape for k, v in reference.items()
    }
    assert layout(model.to_params()) == layout(reference)  # torch's order too
    assert {v.dtype for v in state.values()} == {jnp.dtype(jnp.float64)}  # param_dtype


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bias", [True, False])
def test_cell_param_paths_are_torchs_keys(kind, bias):
    cell = nnx.eval_shape(
        lambda: getattr(jrnn.nnx, kind + "Cell")(3, 5, bias=bias, rngs=nnx.Rngs(0))
    )
    reference = jrnn.from_torch(TORCH_CELLS[kind](3, 5, bias=bias))
    assert {p: v.shape for p, v in param_state(cell).items()} == {
        (k,): v.shape for k, v in reference.items()
    }
    assert layout(cell.to_params()) == layout(reference)


@pytest.mark.parametrize("kind", KINDS)
def test_init_is_drawn_as_the_core_draws_it(kind):
    """The core's init (checked against torch's U(-1/sqrt(H), 1/sqrt(H)) in test_init*.py)."""
    options = {"proj_size": 2} if kind == "LSTM" else {}
    init = {"RNN": jrnn.init_rnn, "LSTM": jrnn.init_lstm, "GRU": jrnn.init_gru}[kind]
    params = getattr(jrnn.nnx, kind)(3, 4, 2, rngs=nnx.Rngs(params=5), **options).to_params()
    assert_leaves_close(params, init(nnx.Rngs(params=5).params(), 3, 4, 2, **options), rtol=0)
    with_dropout = getattr(jrnn.nnx, kind)(
        3, 4, 2, dropout=0.5, rngs=nnx.Rngs(params=5, dropout=1), **options
    )
    assert_leaves_close(with_dropout.to_params(), params, rtol=0)  # dropout draws no params
    cell_init = {"RNN": jrnn.init_rnn_cell, "LSTM": jrnn.init_lstm_cell, "GRU": jrnn.init_gru_cell}
    cell = getattr(jrnn.nnx, kind + "Cell")(3, 4, rngs=nnx.Rngs(params=5))
    assert_leaves_close(
        cell.to_params(), cell_init[kind](nnx.Rngs(params=5).params(), 3, 4), rtol=0
    )


def test_init_is_torchs_uniform():
    hidden_size, bound = 64, 1 / math.sqrt(64)
    params = jrnn.nnx.LSTM(32, hidden_size, 2, proj_size=16, rngs=nnx.Rngs(0)).to_params()
    reference = jrnn.from_torch(torch.nn.LSTM(32, hidden_size, 2, proj_size=16))
    assert set(params) == set(reference)
    for values in (params, reference):  # torch's U(-1/sqrt(H), 1/sqrt(H)), checked on torch too
        for value in map(np.asarray, values.values()):
            assert bound * 0.9 < np.abs(value).max() <= bound
            if value.size >= 1000:  # the std of a uniform: bound/sqrt(3), to ~1% at this size
                assert abs(value.std() - bound / math.sqrt(3)) < 0.05 * bound / math.sqrt(3)
    assert not np.allclose(params["weight_hh_l0"], params["weight_hh_l1"])  # own streams


@pytest.mark.parametrize(
    "kind, config",
    [
        ("RNN", dict(num_layers=1, batch_first=True, nonlinearity="relu")),
        ("LSTM", dict(num_layers=1, bidirectional=True, proj_size=3)),
        ("GRU", dict(num_layers=1, bias=False)),
    ],
)
def test_outputs_and_gradients_equal_the_core(kind, config):
    model = getattr(jrnn.nnx, kind)(2, 4, param_dtype=jnp.float64, rngs=nnx.Rngs(0), **config)
    x = normal(0, (3, 5, 2) if config.get("batch_first") else (5, 3, 2), jnp.float64)
    num_states = (2 if config.get("bidirectional") else 1) * config["num_layers"]
    state = initial_state(kind, (num_states, 3, config.get("proj_size") or 4), 4, seed=2)
    sizes = ("num_layers", "bias", "bidirectional", "proj_size")
    core_config = {k: v for k, v in config.items() if k not in sizes}

    def loss(out):
        output, final = out
        return jnp.sum(jnp.sin(output)) + sum(jnp.sum(f**2) for f in jax.tree.leaves(final))

    ours, grads = nnx.jit(nnx.value_and_grad(lambda m: loss(m(x, state))))(model)
    params = model.to_params()
    core_loss = lambda p: loss(JRNN_FUNCTIONS[kind](p, x, state, **core_config))  # noqa: E731
    core, core_grads = jax.jit(jax.value_and_grad(core_loss))(params)
    np.testing.assert_allclose(ours, core, rtol=1e-12)
    grads = {path[0]: g[...] for path, g in nnx.to_flat_state(grads)}
    assert set(grads) == set(params)
    for name in params:
        np.testing.assert_allclose(grads[name], core_grads[name], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_cell_outputs_and_gradients_equal_the_core(kind):
    cell = getattr(jrnn.nnx, kind + "Cell")(2, 4, param_dtype=jnp.float64, rngs=nnx.Rngs(0))
    x_t = normal(0, (3, 2), jnp.float64)
    state = initial_state(kind, (3, 4), 4, seed=1)

    def loss(out):
        return sum(jnp.sum(s**2) for s in jax.tree.leaves(out))

    grads = nnx.grad(lambda c: loss(c(x_t, state)))(cell)
    core_grads = jax.grad(lambda p: loss(CELL_STEPS[kind](p, x_t, state)))(cell.to_params())
    for path, g in nnx.to_flat_state(grads):
        np.testing.assert_allclose(g[...], core_grads[path[0]], rtol=1e-12, atol=1e-12)
    assert_leaves_close(cell(x_t[0]), CELL_STEPS[kind](cell.to_params(), x_t[0]))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "input_size, hidden_size, num_layers, bidirectional, batch_first, lengths",
    [(1, 1, 1, False, False, None), (3, 5, 2, True, True, [6, 2, 5, 1])],
)
def test_torch_weights_drop_in(
    kind, input_size, hidden_size, num_layers, bidirectional, batch_first, lengths
):
    """torch's module, its weights built into and loaded into the wrapper; packed lengths."""
    rng = np.random.default_rng(0)
    proj_size = 2 if kind == "LSTM" and hidden_size > 2 else 0
    params = random_params(
        rng,
        kind,
        input_size,
        hidden_size,
        num_layers,
        bidirectional=bidirectional,
        proj_size=proj_size,
        dtype="float32",
    )
    x = rng.standard_normal((4, 6, input_size)).astype(np.float32)
    nonlinearity = {"nonlinearity": "relu"} if kind == "RNN" else {}
    want = torch_forward(
        torch_module(kind, params, **nonlinearity), torch.from_numpy(x), None, lengths, batch_first
    )
    built = getattr(jrnn.nnx, kind).from_params(
        params, batch_first=batch_first, rngs=nnx.Rngs(0), **nonlinearity
    )
    loaded = getattr(jrnn.nnx, kind)(
        input_size,
        hidden_size,
        num_layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
        proj_size=proj_size,
        rngs=nnx.Rngs(1),
        **nonlinearity,
    )
    loaded.load_params(params)
    lengths = None if lengths is None else jnp.asarray(lengths)
    forward = nnx.jit(lambda model, x, lengths: model(x, lengths=lengths))
    for model in (built, loaded):
        assert_leaves_close(forward(model, x, lengths), numpy_tree(want), atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_torch_cell_weights_drop_in(kind):
    rng = np.random.default_rng(0)
    params = random_cell_params(rng, kind, 3, 5, bias=False, dtype="float32")
    x_t = rng.standard_normal((2, 3)).astype(np.float32)
    state = initial_state(kind, (2, 5), 5, seed=0, dtype=jnp.float32)
    want = numpy_tree(torch_cell(kind, params)(torch.from_numpy(x_t), leaves(state)))
    built = getattr(jrnn.nnx, kind + "Cell").from_params(params, rngs=nnx.Rngs(0))
    loaded = getattr(jrnn.nnx, kind + "Cell")(3, 5, bias=False, rngs=nnx.Rngs(1))
    loaded.load_params(params)
    for cell in (built, loaded):
        assert_leaves_close(cell(x_t, state), want, atol=1e-5)


def test_dropout_follows_nnx_train_and_eval():
    model = jrnn.nnx.RNN(
        3, 6, 2, dropout=0.5, param_dtype=jnp.float64, rngs=nnx.Rngs(params=0, dropout=1)
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


@pytest.mark.parametrize(
    "kind, settings",
    [("RNN", dict(nonlinearity="relu")), ("LSTM", dict(proj_size=2)), ("GRU", {})],
)
def test_every_setting_reaches_the_core(monkeypatch, kind, settings):
    calls = []
    monkeypatch.setattr(jrnn.nnx, "run", lambda *args, **kwargs: calls.append((args, kwargs)))
    settings = dict(
        settings,
        batch_first=True,
        dropout=0.25,
        dtype=jnp.float32,
        unroll=2,
        precision="highest",
        checkpoint_every=2,
    )
    model = getattr(jrnn.nnx, kind)(5, 3, 3, rngs=nnx.Rngs(0), **settings)
    x, state, lengths = jnp.ones((2, 4, 5), jnp.float32), object(), [4, 1]
    model(x, state, lengths=lengths)
    built = getattr(jrnn.nnx, kind).from_params(
        model.to_params(),
        rngs=nnx.Rngs(0),
        **{k: v for k, v in settings.items() if k != "proj_size"},
    )
    built(x, state, lengths=lengths)
    settings.pop("proj_size", None)
    nonlinearity = settings.pop("nonlinearity", "tanh")
    for (fn, declared, params, got_x, got_state), kwargs in calls:
        assert fn == f"jrnn.nnx.{kind}" and declared == getattr(_wrappers, kind)
        assert got_x is x and got_state is state and kwargs.pop("lengths") is lengths
        assert params.keys() == model.to_params().keys()
        assert kwargs.pop("key") is not None and kwargs.pop("nonlinearity") == nonlinearity
        assert kwargs == settings
    assert len(calls) == 2


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
    model = jrnn.nnx.LSTM(3, 4, 2, bidirectional=True, proj_size=2, rngs=nnx.Rngs(0))
    path = tmp_path / "lstm.safetensors"
    jrnn.save(path, model.to_params())
    reference = torch.nn.LSTM(3, 4, 2, bidirectional=True, proj_size=2)
    reference.load_state_dict(safetensors.torch.load_file(path), strict=True)
    x = normal(0, (5, 2, 3))
    want = torch_forward(reference, torch.from_numpy(np.array(x)), None)
    assert_leaves_close(model(x), numpy_tree(want), atol=1e-5)

    again = jrnn.nnx.LSTM.from_params(jrnn.load(path), rngs=nnx.Rngs(1))
    for name, value in model.to_params().items():
        np.testing.assert_array_equal(again.to_params()[name], value)


def test_load_params_rejects_params_that_do_not_fit():
    model = jrnn.nnx.RNN(3, 4, 2, rngs=nnx.Rngs(0))
    before = model.to_params()
    other = jrnn.init_rnn(jax.random.key(1), 3, 4, 2, bidirectional=True)
    with pytest.raises(ValueError, match=r"load_params`: params do not fit.*bidirectional=True"):
        model.load_params(other)
    as_float64 = {k: v.astype(jnp.float64) for k, v in before.items()}
    with pytest.raises(TypeError, match=r"load_params`: expected params of dtype float32 \(the"):
        model.load_params(as_float64)
    with pytest.raises(ValueError, match=r"look like torch.nn.LSTM params: call `jrnn.lstm`"):
        model.load_params(jrnn.from_torch(torch.nn.LSTM(3, 4, 2)))
    for name, value in before.items():  # nothing was half-loaded
        np.testing.assert_array_equal(model.to_params()[name], value)

    lstm = jrnn.nnx.LSTM(3, 4, rngs=nnx.Rngs(0))
    projected = jrnn.init_lstm(jax.random.key(1), 3, 4, proj_size=2)
    with pytest.raises(ValueError, match=r"LSTM.load_params`: params do not fit.*proj_size=2"):
        lstm.load_params(projected)
    cell = jrnn.nnx.GRUCell(3, 4, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"GRUCell.load_params`: params do not fit.*bias=False"):
        cell.load_params(jrnn.init_gru_cell(jax.random.key(1), 3, 4, bias=False))
    with pytest.raises(ValueError, match=r"GRU.from_params`: params have torch.nn.GRUCell keys"):
        jrnn.nnx.GRU.from_params(cell.to_params(), rngs=nnx.Rngs(0))


def test_from_params_keeps_the_params_dtype_and_takes_a_compute_dtype():
    params = jrnn.init_lstm(jax.random.key(0), 3, 4, dtype=jnp.float64)
    model = jrnn.nnx.LSTM.from_params(params, dtype=jnp.float32, rngs=nnx.Rngs(0))
    assert (
        model.param_dtype == jnp.float64 and model.to_params()["weight_ih_l0"].dtype == jnp.float64
    )
    output, (h_n, c_n) = model(jnp.ones((2, 3), jnp.float64))
    assert output.dtype == h_n.dtype == c_n.dtype == jnp.float32
    with pytest.raises(TypeError, match="got multiple values for keyword argument 'bias'"):
        jrnn.nnx.LSTM.from_params(params, bias=False, rngs=nnx.Rngs(0))


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda r: jrnn.nnx.RNN(0, 4, rngs=r), ValueError, r"`jrnn.nnx.RNN`: .*input_size"),
        (lambda r: jrnn.nnx.LSTM(3, 4, 0, rngs=r), ValueError, r"`jrnn.nnx.LSTM`: .*num_layers"),
        (lambda r: jrnn.nnx.RNN(3, 4, nonlinearity="gelu", rngs=r), ValueError, "'gelu'"),
        (lambda r: jrnn.nnx.GRU(3, 4, dropout=-0.1, rngs=r), ValueError, "dropout=-0.1"),
        (lambda r: jrnn.nnx.GRU(3, 4, proj_size=1, rngs=r), ValueError, "only supported for LSTM"),
        (lambda r: jrnn.nnx.LSTM(3, 4, proj_size=5, rngs=r), ValueError, "smaller than hidden"),
        (lambda r: jrnn.nnx.RNN(3, 4, dtype=jnp.int32, rngs=r), TypeError, "got dtype=<class"),
        (lambda r: jrnn.nnx.LSTM(3, 4, param_dtype=int, rngs=r), TypeError, "param_dtype=<class"),
        (lambda r: jrnn.nnx.RNNCell(3, 0, rngs=r), ValueError, "`jrnn.nnx.RNNCell`: .*hidden"),
        (lambda r: jrnn.nnx.RNNCell(3, 4, nonlinearity="x", rngs=r), ValueError, "'x'"),
        (lambda r: jrnn.nnx.LSTMCell(3, 4, dtype="foo", rngs=r), TypeError, "got dtype='foo'"),
        (lambda r: jrnn.nnx.LSTM(3, 4, nonlinearity="relu", rngs=r), TypeError, "nonlinearity"),
    ],
)
def test_bad_configuration_raises(build, error, match):
    with pytest.raises(error, match=match):
        build(nnx.Rngs(0))


@pytest.mark.parametrize("kind", KINDS)
def test_errors_from_the_core_name_the_wrapper(kind):
    model = getattr(jrnn.nnx, kind)(3, 4, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=rf"`jrnn.nnx.{kind}`: .*pass batch_first=True"):
        model(jnp.ones((2, 3, 7), jnp.float32))
    cell = getattr(jrnn.nnx, kind + "Cell")(3, 4, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=rf"`jrnn.nnx.{kind}Cell`: expected x_t"):
        cell(jnp.ones((2, 5), jnp.float32))
