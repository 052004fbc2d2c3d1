"""jrnn.linen: torch's params tree, the core's numbers, torch's outputs, for every kind."""

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
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

import jrnn
import jrnn.linen
from jrnn import _wrappers

KINDS = ("RNN", "LSTM", "GRU")
CELL_STEPS = {"RNN": jrnn.cell_step, "LSTM": jrnn.lstm_cell_step, "GRU": jrnn.gru_cell_step}


def normal(seed, shape, dtype=jnp.float32):
    return jax.random.normal(jax.random.key(seed), shape, dtype)


def layout(params) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in params.items()}


def initial_state(kind, shape, hidden_size, seed, dtype=jnp.float64):
    """``h0``, or LSTM's ``(h0, c0)`` with ``c0`` of ``hidden_size`` features."""
    h0 = normal(seed, shape, dtype)
    if kind != "LSTM":
        return h0
    return h0, normal(seed + 1, (*shape[:-1], hidden_size), dtype)


class DropoutKey(nn.Module):
    """Draws the "dropout" key a top-level module gets first, as the wrappers draw it."""

    @nn.compact
    def __call__(self):
        return self.make_rng("dropout")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "input_size, hidden_size, num_layers, bias, bidirectional, proj_size",
    [(1, 1, 1, True, False, 0), (3, 5, 2, False, True, 2)],
)
def test_param_names_shapes_and_order_are_torchs(
    kind, input_size, hidden_size, num_layers, bias, bidirectional, proj_size
):
    proj_size = proj_size if kind == "LSTM" else 0
    options = dict(bias=bias, bidirectional=bidirectional)
    if proj_size:
        options["proj_size"] = proj_size
    model = getattr(jrnn.linen, kind)(hidden_size, num_layers, param_dtype=jnp.float64, **options)
    x = jnp.ones((2, 3, input_size), jnp.float32)
    params = jax.eval_shape(model.init, jax.random.key(0), x)["params"]  # no forward pass
    reference = TORCH_MODULES[kind](input_size, hidden_size, num_layers, **options)
    assert layout(params) == layout(jrnn.from_torch(reference))
    assert {v.dtype for v in params.values()} == {jnp.dtype(jnp.float64)}  # param_dtype
    if num_layers == 1:  # torch's order, seen outside jit (which sorts dict keys)
        params = model.init(jax.random.key(0), x)["params"]
        assert list(params) == list(reference.state_dict())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bias", [True, False])
def test_cell_param_names_are_torchs(kind, bias):
    cell = getattr(jrnn.linen, kind + "Cell")(5, bias=bias)
    params = cell.init(jax.random.key(0), jnp.ones((2, 3), jnp.float32))["params"]
    reference = TORCH_CELLS[kind](3, 5, bias).state_dict()
    assert layout(params) == layout(jrnn.from_torch(reference))
    assert list(params) == list(reference)


def test_init_is_torchs_uniform():
    hidden_size, bound = 64, 1 / math.sqrt(64)
    model = jrnn.linen.LSTM(hidden_size, 2, proj_size=16)  # every kind draws with one function
    params = jax.jit(model.init)(jax.random.key(0), jnp.ones((1, 1, 32), jnp.float32))["params"]
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
    model = getattr(jrnn.linen, kind)(4, param_dtype=jnp.float64, **config)
    x = normal(0, (3, 5, 2) if config.get("batch_first") else (5, 3, 2), jnp.float64)
    params = jax.jit(model.init)(jax.random.key(1), x)["params"]
    num_states = (2 if config.get("bidirectional") else 1) * config["num_layers"]
    state = initial_state(kind, (num_states, 3, config.get("proj_size") or 4), 4, seed=2)
    sizes = ("num_layers", "bias", "bidirectional", "proj_size")
    core_config = {k: v for k, v in config.items() if k not in sizes}

    def loss(out):
        output, final = out
        return jnp.sum(jnp.sin(output)) + sum(jnp.sum(f**2) for f in jax.tree.leaves(final))

    apply = lambda p: loss(model.apply({"params": p}, x, state))  # noqa: E731
    core = lambda p: loss(JRNN_FUNCTIONS[kind](p, x, state, **core_config))  # noqa: E731
    ours = jax.jit(jax.value_and_grad(apply))(params)
    want = jax.jit(jax.value_and_grad(core))(params)
    np.testing.assert_allclose(ours[0], want[0], rtol=1e-12)
    for name in params:
        np.testing.assert_allclose(ours[1][name], want[1][name], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_cell_outputs_and_gradients_equal_the_core(kind):
    cell = getattr(jrnn.linen, kind + "Cell")(4, param_dtype=jnp.float64)
    x_t = normal(0, (3, 2), jnp.float64)
    state = initial_state(kind, (3, 4), 4, seed=1)
    params = cell.init(jax.random.key(2), x_t)["params"]

    def loss(step, p):
        return sum(jnp.sum(s**2) for s in jax.tree.leaves(step(p)))

    ours = jax.grad(functools.partial(loss, lambda p: cell.apply({"params": p}, x_t, state)))
    core = jax.grad(functools.partial(loss, lambda p: CELL_STEPS[kind](p, x_t, state)))
    ours, core = ours(params), core(params)
    for name in params:
        np.testing.assert_allclose(ours[name], core[name], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(  # unbatched, zero state
        jax.tree.leaves(cell.apply({"params": params}, x_t[0])),
        jax.tree.leaves(CELL_STEPS[kind](params, x_t[0])),
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "input_size, hidden_size, num_layers, bidirectional, batch_first, lengths",
    [(1, 1, 1, False, False, None), (3, 5, 2, True, True, [6, 2, 5, 1])],
)
def test_torch_weights_drop_in(
    kind, input_size, hidden_size, num_layers, bidirectional, batch_first, lengths
):
    """torch's module, its weights dropped into the wrapper, lengths as packed sequences."""
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
    want_output, want_final = torch_forward(
        torch_module(kind, params, "relu" if kind == "RNN" else "tanh"),
        torch.from_numpy(x),
        None,
        lengths,
        batch_first,
    )
    options = dict(bidirectional=bidirectional, batch_first=batch_first)
    if kind == "RNN":
        options["nonlinearity"] = "relu"
    if proj_size:
        options["proj_size"] = proj_size
    model = getattr(jrnn.linen, kind)(hidden_size, num_layers, **options)
    apply = jax.jit(model.apply)
    output, final = apply(
        {"params": params}, x, lengths=None if lengths is None else np.array(lengths)
    )
    np.testing.assert_allclose(output, want_output.detach().numpy(), atol=1e-5)
    for got, want in zip(
        jax.tree.leaves(final), jax.tree.leaves(numpy_tree(want_final)), strict=True
    ):
        np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_torch_cell_weights_drop_in(kind):
    rng = np.random.default_rng(0)
    params = random_cell_params(rng, kind, 3, 5, dtype="float32")
    x_t = rng.standard_normal((2, 3)).astype(np.float32)
    state = initial_state(kind, (2, 5), 5, seed=0, dtype=jnp.float32)
    want = torch_cell(kind, params)(torch.from_numpy(x_t), leaves(state))
    got = getattr(jrnn.linen, kind + "Cell")(5).apply({"params": params}, x_t, state)
    for ours, theirs in zip(jax.tree.leaves(got), jax.tree.leaves(numpy_tree(want)), strict=True):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("kind", ["GRU"])  # the wrappers share one dropout path
def test_dropout_on_and_off(kind):
    model = getattr(jrnn.linen, kind)(6, 2, dropout=0.5)
    x = normal(0, (4, 2, 3), jnp.float64)
    params = random_params(np.random.default_rng(1), kind, 3, 6, 2)
    apply = jax.jit(
        functools.partial(model.apply, {"params": params}, x), static_argnames="deterministic"
    )
    core = jax.jit(functools.partial(JRNN_FUNCTIONS[kind], params, x, dropout=0.5))
    rng = jax.random.key(2)

    off = apply(rngs={"dropout": rng})
    np.testing.assert_allclose(off[0], core(key=None)[0], rtol=1e-12)

    on = apply(deterministic=False, rngs={"dropout": rng})
    want = core(key=DropoutKey().apply({}, rngs={"dropout": rng}))
    np.testing.assert_allclose(on[0], want[0], rtol=1e-12)
    np.testing.assert_allclose(on[1], want[1], rtol=1e-12)
    assert not np.allclose(on[0], off[0])
    with pytest.raises(ValueError, match=rf"`jrnn.linen.{kind}`: dropout=0.5 .* 'dropout' rng"):
        model.apply({"params": params}, x, deterministic=False)


@pytest.mark.parametrize(
    "kind, settings",
    [
        ("RNN", dict(nonlinearity="relu")),
        ("LSTM", dict(proj_size=2)),
        ("GRU", {}),
    ],
)
def test_every_setting_reaches_the_core(monkeypatch, kind, settings):
    calls = []
    monkeypatch.setattr(jrnn.linen, "run", lambda *args, **kwargs: calls.append((args, kwargs)))
    settings = dict(
        settings,
        batch_first=True,
        dropout=0.25,
        dtype=jnp.float32,
        unroll=2,
        precision="highest",
        checkpoint_every=2,
    )
    model = getattr(jrnn.linen, kind)(3, 3, **settings)
    x, state, lengths = jnp.ones((2, 4, 5), jnp.float32), object(), [4, 1]
    rngs = {"params": jax.random.key(0), "dropout": jax.random.key(1)}
    model.init(rngs, x, state, lengths=lengths, deterministic=False)
    [((fn, declared, params, got_x, got_state), kwargs)] = calls
    assert fn == f"jrnn.linen.{kind}" and declared == getattr(_wrappers, kind)
    assert got_x is x and got_state is state and kwargs.pop("lengths") is lengths
    assert kwargs.pop("key") is not None
    assert kwargs.pop("nonlinearity") == settings.pop("nonlinearity", "tanh")
    settings.pop("proj_size", None)
    assert kwargs == settings
    init = {"RNN": jrnn.init_rnn, "LSTM": jrnn.init_lstm, "GRU": jrnn.init_gru}[kind]
    proj = {"proj_size": 2} if kind == "LSTM" else {}
    assert layout(params) == layout(init(jax.random.key(0), 5, 3, 3, **proj))


@pytest.mark.parametrize("kind", KINDS)
def test_errors_from_the_core_name_the_wrapper(kind):
    model = getattr(jrnn.linen, kind)(4)
    params = model.init(jax.random.key(0), jnp.ones((5, 2, 3), jnp.float32))["params"]
    with pytest.raises(ValueError, match=rf"`jrnn.linen.{kind}`: .*pass batch_first=True"):
        model.apply({"params": params}, jnp.ones((2, 3, 7), jnp.float32))
    with pytest.raises(ValueError, match=rf"`jrnn.linen.{kind}`: .*h0"):
        state = jnp.ones((1, 2, 5), jnp.float32)
        model.apply(
            {"params": params}, jnp.ones((5, 2, 3)), (state, state) if kind == "LSTM" else state
        )


@pytest.mark.parametrize(
    "module, x, error, match",
    [
        (jrnn.linen.RNN(4), jnp.ones((3,)), ValueError, r"`jrnn.linen.RNN`: expected x of shape"),
        (jrnn.linen.RNN(0), jnp.ones((2, 3)), ValueError, r"`jrnn.linen.RNN`: .*hidden_size"),
        (jrnn.linen.LSTM(4, 0), jnp.ones((2, 3)), ValueError, r"`jrnn.linen.LSTM`: .*num_layers"),
        (jrnn.linen.RNN(4, nonlinearity="gelu"), jnp.ones((2, 3)), ValueError, "'gelu'"),
        (jrnn.linen.GRU(4, dropout=1.5), jnp.ones((2, 3)), ValueError, "dropout=1.5"),
        (jrnn.linen.GRU(4, proj_size=2), jnp.ones((2, 3)), ValueError, "only supported for LSTM"),
        (jrnn.linen.LSTM(4, proj_size=4), jnp.ones((2, 3)), ValueError, "smaller than hidden"),
        (jrnn.linen.RNN(4, dtype=jnp.int32), jnp.ones((2, 3)), TypeError, "got dtype=<class"),
        (jrnn.linen.LSTM(4, param_dtype="int8"), jnp.ones((2, 3)), TypeError, "param_dtype='int8'"),
        (jrnn.linen.GRU(4, dtype="foo"), jnp.ones((2, 3)), TypeError, "floating dtype, got dtype"),
        (jrnn.linen.RNNCell(4), jnp.ones((2, 3, 1)), ValueError, "`jrnn.linen.RNNCell`: .*x_t"),
        (jrnn.linen.LSTMCell(0), jnp.ones((3,)), ValueError, "`jrnn.linen.LSTMCell`: .*hidden"),
        (jrnn.linen.RNNCell(4, nonlinearity=None), jnp.ones((3,)), ValueError, "None"),
        (jrnn.linen.GRUCell(4, param_dtype=jnp.int8), jnp.ones((3,)), TypeError, "param_dtype"),
    ],
)
def test_bad_configuration_raises(module, x, error, match):
    with pytest.raises(error, match=match):
        module.init(jax.random.key(0), x.astype(jnp.float32))


@pytest.mark.parametrize(
    "module, torch_module, pattern",
    [
        (jrnn.linen.RNN(4), torch.nn.RNN(3, 4, 2), "unexpected key 'weight_ih_l1'"),
        (jrnn.linen.RNN(4), torch.nn.RNN(3, 4, bidirectional=True), "key 'weight_ih_l0_reverse'"),
        (jrnn.linen.GRU(4), torch.nn.GRU(3, 4, bias=False), "missing key 'bias_ih_l0'"),
        (jrnn.linen.LSTM(4), torch.nn.LSTM(3, 4, proj_size=2), "unexpected key 'weight_hr_l0'"),
        (
            jrnn.linen.LSTM(4),
            torch.nn.GRU(3, 4),
            r"\(16, 3\), got \(12, 3\)(.|\n)*`jrnn.linen.GRU`",
        ),
        (jrnn.linen.RNNCell(4, bias=False), torch.nn.RNNCell(3, 4), "unexpected key 'bias_ih'"),
        (jrnn.linen.GRUCell(4), torch.nn.LSTMCell(3, 4), "look like torch.nn.LSTMCell params"),
    ],
)
def test_params_of_another_network_are_refused(module, torch_module, pattern):
    """flax would silently ignore extra params; the wrappers refuse them as strict torch does."""
    params = jrnn.from_torch(torch_module)
    x = jnp.ones((5, 2, 3) if torch_module.__class__.__name__[-4:] != "Cell" else (2, 3))
    name = type(module).__name__
    with pytest.raises(ValueError, match=rf"`jrnn.linen.{name}`.*\n(.|\n)*{pattern}"):
        module.apply({"params": params}, x)
