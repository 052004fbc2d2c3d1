"""jrnn.lstm / jrnn.gru (and their cells) against torch.nn.LSTM / GRU / LSTMCell / GRUCell.

Every comparison is values *and* gradients: outputs, the final state (``h_n``, and ``c_n`` for
LSTM) and the gradients of ``sum(out * g_out) + sum(h_n * g_h) (+ sum(c_n * g_c))`` with fixed
random cotangents, w.r.t. every param, ``x`` and the initial state, in float64 (1e-10) and
float32 (1e-5).

- The grid: kinds LSTM, LSTM with proj_size, GRU, each over five runs that together cover
  layers 1-3, bidirectional, bias, the layouts (sequence-first, batch-first, unbatched), an
  initial state given or None, all sizes 1, float32, and lengths: unsorted, with 0 and NaN in
  the padding, or a scalar length for one sequence. torch cannot pack a length of 0: the other
  rows are compared with torch, and the empty rows with what an empty sequence must give (see
  ``torch_reference``), and checked exactly (``check_empty_rows``).
- Dropout: masks rebuilt from ``bernoulli(fold_in(key, k), 1 - p)`` and applied by hand between
  single-layer torch modules; and p = 1, where layer k > 0 sees zeros.
- Cells against torch's cells, and each kind's cell equal to one step of the driver.

Nearly every run has its own configuration, so each compiles one program, with LLVM's
optimisations off (``fast_compile``): here that costs less than running op by op, whose
per-operation compilations only pay off when many runs share their shapes (test_parity.py).
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _torch_reference import (
    FAST_COMPILE,
    assert_tree_close,
    jrnn_run,
    leaves,
    numpy_tree,
    random_cell_params,
    random_params,
    torch_cell,
    torch_forward,
    torch_module,
    torch_reference,
    weighted_sum,
)

import jrnn

TOLERANCE = {"float32": 1e-5, "float64": 1e-10}
KINDS = {"LSTM": ("LSTM", 0), "LSTM-proj": ("LSTM", 2), "GRU": ("GRU", 0)}
SMALL = {"L": 3, "N": 3, "H_in": 2, "H": 3}
ONES = {"L": 1, "N": 1, "H_in": 1, "H": 1}  # LSTM-proj: H = 2, P = 1 (torch needs P < H)
LENGTHS = np.array([2, 0, 3])  # unsorted, with 0 and L; for N = 3
# (id, num_layers, bidirectional, bias, layout, initial state given, lengths, sizes, dtype)
RUNS = [
    ("1-bidir-lengths", 1, True, True, "seq_first", True, LENGTHS, SMALL, "float64"),
    ("2-nobias-unbatched-length", 2, False, False, "unbatched", False, 2, SMALL, "float64"),
    ("3-lengths-batch_first", 3, False, True, "batch_first", True, LENGTHS, SMALL, "float64"),
    ("2-bidir-unbatched-ones", 2, True, True, "unbatched", True, None, ONES, "float64"),
    ("2-bidir-nobias-float32", 2, True, False, "batch_first", False, LENGTHS, SMALL, "float32"),
]


def network(rng, name, sizes, num_layers, bidirectional, bias, dtype):
    kind, proj_size = KINDS[name]
    hidden_size = max(sizes["H"], 2) if proj_size else sizes["H"]  # proj_size < H
    proj_size = min(proj_size, hidden_size - 1)
    return random_params(
        rng,
        kind,
        sizes["H_in"],
        hidden_size,
        num_layers,
        bias=bias,
        bidirectional=bidirectional,
        proj_size=proj_size,
        dtype=dtype,
    )


def random_case(rng, kind, params, sizes, layout, with_state, lengths, dtype):
    """``x`` (NaN in the padding), the initial state (or None) and the cotangents of the output
    and the final state, shaped for ``layout``. LSTM's state and its cotangent are pairs."""
    config = jrnn._params.rnn_config("test", params, kind)
    L, N = sizes["L"], sizes["N"] if layout != "unbatched" else 1
    D, S, P = config.num_directions, config.num_directions * config.num_layers, config.output_size
    x = rng.uniform(-1, 1, (L, N, config.input_size)).astype(dtype)
    if lengths is not None:
        x[np.arange(L)[:, None] >= np.reshape(lengths, (1, -1))] = np.nan
    g_out = rng.normal(size=(L, N, D * P)).astype(dtype)  # random in the padding too
    sizes_of_state = [P, config.hidden_size] if kind == "LSTM" else [P]
    state = [rng.uniform(-1, 1, (S, N, size)).astype(dtype) for size in sizes_of_state]
    g_state = [rng.normal(size=(S, N, size)).astype(dtype) for size in sizes_of_state]
    if layout == "batch_first":
        x, g_out = x.swapaxes(0, 1), g_out.swapaxes(0, 1)
    if layout == "unbatched":
        x, g_out = x[:, 0], g_out[:, 0]
        state, g_state = [s[:, 0] for s in state], [g[:, 0] for g in g_state]
    pack = tuple if kind == "LSTM" else (lambda s: s[0])
    return x, pack(state) if with_state else None, g_out, pack(g_state)


def compare(name, params, case, lengths, batch_first, dtype):
    """jrnn against torch (``torch_reference``) on one case: values and gradients."""
    kind = KINDS[name][0]
    x, state, g_out, g_state = case
    expected = torch_reference(
        torch_module(kind, params), x, state, g_out, g_state, lengths, batch_first
    )
    actual = jrnn_run(
        params,
        x,
        state,
        g_out,
        g_state,
        kind=kind,
        lengths=lengths,
        batch_first=batch_first,
        jit=True,
        fast_compile=True,
    )
    assert actual[0].dtype == np.dtype(dtype)
    assert_tree_close(actual, expected, TOLERANCE[dtype])
    return actual


def check_empty_rows(actual, case, lengths, batch_first):
    """Rows of length 0, exactly: zero outputs, the initial state (zeros if None) as the final
    state, a zero gradient for their x (all NaN) and the final state's cotangent as the initial
    state's gradient."""
    (out, state_n, grads), (x, state, _, g_state) = actual, case
    empty = np.asarray(lengths) == 0
    rows = (lambda a: a[empty]) if batch_first else (lambda a: a[:, empty])
    assert np.all(np.isnan(rows(x))) and np.all(rows(out) == 0) and np.all(rows(grads["x"]) == 0)
    initial = state if state is not None else jax.tree.map(np.zeros_like, g_state)
    for final, start in zip(jax.tree.leaves(state_n), jax.tree.leaves(initial), strict=True):
        np.testing.assert_array_equal(final[:, empty], start[:, empty])
    if state is not None:
        for d_state, g in zip(jax.tree.leaves(grads["h0"]), jax.tree.leaves(g_state), strict=True):
            np.testing.assert_array_equal(d_state[:, empty], g[:, empty])


@pytest.mark.parametrize("run", RUNS, ids=[run[0] for run in RUNS])
@pytest.mark.parametrize("name", list(KINDS))
def test_matches_torch(name, run):
    _, num_layers, bidirectional, bias, layout, with_state, lengths, sizes, dtype = run
    rng = np.random.default_rng([list(KINDS).index(name), RUNS.index(run)])
    batch_first = layout == "batch_first"
    params = network(rng, name, sizes, num_layers, bidirectional, bias, dtype)
    case = random_case(rng, KINDS[name][0], params, sizes, layout, with_state, lengths, dtype)
    actual = compare(name, params, case, lengths, batch_first, dtype)
    if lengths is not None:  # NaN in the padding reached nothing
        assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(actual))
        if np.ndim(lengths):
            check_empty_rows(actual, case, lengths, batch_first)


# ---- dropout -----------------------------------------------------------------------------------


def layer_params(params, layer):
    """One layer's params, renamed to a one-layer network's (``_l{layer}`` -> ``_l0``)."""
    pattern = re.compile(rf"_l{layer}(_reverse)?$")
    return {k.replace(f"_l{layer}", "_l0"): v for k, v in params.items() if pattern.search(k)}


def dropout_masks(key, rate, config, seq_len, batch_size):
    """Layer k > 0's input mask, scaled: ``bernoulli(fold_in(key, k), 1 - rate)`` over
    ``(L, N, D*P)`` (time-major, as the driver runs), kept values ``1/(1-rate)``."""
    shape = (seq_len, batch_size, config.num_directions * config.output_size)
    masks = {}
    for layer in range(1, config.num_layers):
        if rate == 1:
            masks[layer] = np.zeros(shape)
        else:
            keep = jax.random.bernoulli(jax.random.fold_in(key, layer), 1 - rate, shape)
            masks[layer] = np.asarray(keep) / (1 - rate)
    return masks


def torch_with_masks(kind, params, x, state, g_out, g_state, masks, lengths):
    """Single-layer torch modules one after another, ``masks`` multiplied in between."""
    config = jrnn._params.rnn_config("test", params, kind)
    D = config.num_directions
    x, state = leaves(x), leaves(state)
    parts = state if kind == "LSTM" or state is None else (state,)
    out, finals, modules = x, [], []
    for layer in range(config.num_layers):
        if layer:
            out = out * torch.from_numpy(masks[layer].astype(g_out.dtype))
        modules.append(torch_module(kind, layer_params(params, layer)))
        layer_state = None
        if state is not None:
            layer_state = tuple(s[layer * D : (layer + 1) * D] for s in parts)
            layer_state = layer_state if kind == "LSTM" else layer_state[0]
        out, final = torch_forward(modules[-1], out, layer_state, lengths)
        finals.append(final if kind == "LSTM" else (final,))
    state_n = tuple(torch.cat(parts) for parts in zip(*finals, strict=True))
    state_n = state_n if kind == "LSTM" else state_n[0]
    (weighted_sum(out, g_out) + weighted_sum(state_n, g_state)).backward()
    grads = {
        name.replace("_l0", f"_l{layer}"): p.grad.numpy()
        for layer, module in enumerate(modules)
        for name, p in module.named_parameters()
    }
    grads = {"params": grads, "x": x.grad.numpy(), "h0": numpy_tree(state, grad=True)}
    return out.detach().numpy(), numpy_tree(state_n), grads


@pytest.mark.parametrize(
    ("name", "num_layers", "bidirectional", "rate", "lengths"),
    [
        ("LSTM-proj", 2, True, 0.4, np.array([2, 3, 1])),
        ("GRU", 3, False, 0.25, None),
        ("LSTM", 3, False, 1.0, np.array([3, 1, 2])),
    ],
)
def test_dropout_matches_torch_with_the_same_masks(name, num_layers, bidirectional, rate, lengths):
    kind = KINDS[name][0]
    rng = np.random.default_rng(int(rate * 100) + num_layers)
    params = network(rng, name, SMALL, num_layers, bidirectional, True, "float64")
    x, state, g_out, g_state = random_case(
        rng, kind, params, SMALL, "seq_first", True, lengths, "float64"
    )
    key = jax.random.key(7)
    config = jrnn._params.rnn_config("test", params, kind)
    masks = dropout_masks(key, rate, config, SMALL["L"], SMALL["N"])
    expected = torch_with_masks(kind, params, x, state, g_out, g_state, masks, lengths)
    actual = jrnn_run(
        params,
        x,
        state,
        g_out,
        g_state,
        kind=kind,
        lengths=lengths,
        dropout=rate,
        key=key,
        jit=True,
        fast_compile=True,
    )
    assert_tree_close(actual, expected, 1e-10)
    grads = actual[2]["params"]
    for layer in range(1, num_layers):
        if rate == 1:  # layer k > 0 reads zeros: its input weights get no gradient at all
            assert np.all(grads[f"weight_ih_l{layer}"] == 0)
        else:  # a real mask: some kept, some dropped, different at every step
            keep = masks[layer] > 0
            assert 0 < keep.mean() < 1 and len({step.tobytes() for step in keep}) == SMALL["L"]
            assert np.any(grads[f"weight_ih_l{layer}"] != 0)


# ---- cells -------------------------------------------------------------------------------------

CELL_STEPS = {"LSTM": jrnn.lstm_cell_step, "GRU": jrnn.gru_cell_step}


def cell_with_grads(kind, params, x_t, state, g):
    """``jrnn.<kind>_cell_step`` and the gradients of ``sum(new_state * g)``."""

    def loss(params, x_t, state):
        new = CELL_STEPS[kind](params, x_t, state)
        products = jax.tree.map(lambda a, b: jnp.sum(a * b), new, g)
        return sum(jax.tree.leaves(products)), new

    argnums = (0, 1) if state is None else (0, 1, 2)
    grads, new = jax.grad(loss, argnums=argnums, has_aux=True)(params, x_t, state)
    return new, grads


def torch_cell_with_grads(module, x_t, state, g):
    module.zero_grad()
    x_t, state = leaves(x_t), leaves(state)
    new = module(x_t, state)
    new = tuple(new) if isinstance(new, tuple) else new
    weighted_sum(new, g).backward()
    grads = {name: p.grad.numpy() for name, p in module.named_parameters()}
    grads = (grads, x_t.grad.numpy()) + (() if state is None else (numpy_tree(state, True),))
    return numpy_tree(new), grads


def cell_case(rng, kind, batched, with_state, dtype, input_size=2, hidden_size=3):
    lead = (3,) if batched else ()
    x_t = rng.uniform(-1, 1, (*lead, input_size)).astype(dtype)
    count = 2 if kind == "LSTM" else 1
    state = tuple(rng.uniform(-1, 1, (*lead, hidden_size)).astype(dtype) for _ in range(count))
    g = tuple(rng.normal(size=(*lead, hidden_size)).astype(dtype) for _ in range(count))
    if kind != "LSTM":
        state, g = state[0], g[0]
    return x_t, state if with_state else None, g


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_cell_matches_torch(kind, dtype):
    """Batched with a state and bias; unbatched, state None, no bias; all sizes 1."""
    rng = np.random.default_rng([kind == "GRU", dtype == "float32"])
    for batched, with_state, bias, sizes in [
        (True, True, True, (2, 3)),
        (False, False, False, (2, 3)),
        (True, True, True, (1, 1)),
    ]:
        params = random_cell_params(rng, kind, *sizes, bias=bias, dtype=dtype)
        x_t, state, g = cell_case(rng, kind, batched, with_state, dtype, *sizes)
        actual = jax.jit(cell_with_grads, static_argnums=0, compiler_options=FAST_COMPILE)(
            kind, params, x_t, state, g
        )
        expected = torch_cell_with_grads(torch_cell(kind, params), x_t, state, g)
        assert jax.tree.leaves(actual)[0].dtype == np.dtype(dtype)
        assert_tree_close(actual, expected, TOLERANCE[dtype])


@pytest.mark.parametrize("kind", ["RNN-tanh", "RNN-relu", "LSTM", "GRU"])
def test_cell_equals_one_step_of_the_driver(kind):
    """A one-layer network of the cell's weights (renamed ``_l0``) over one time step."""
    kind, _, nonlinearity = kind.partition("-")
    rng = np.random.default_rng(len(kind) + len(nonlinearity))
    params = random_cell_params(rng, kind, 2, 3)
    x_t, state, g = cell_case(rng, kind, True, True, "float64")
    network_params = {f"{k}_l0": v for k, v in params.items()}
    options = {"nonlinearity": nonlinearity} if nonlinearity else {}

    def cell(params, x_t, state):
        if kind == "RNN":
            return jrnn.cell_step(params, x_t, state, **options)
        return CELL_STEPS[kind](params, x_t, state)

    def one_step(params, x_t, state):
        first = jax.tree.map(lambda s: s[None], state)  # (S=1, N, H)
        _, final = {"RNN": jrnn.rnn, "LSTM": jrnn.lstm, "GRU": jrnn.gru}[kind](
            params, x_t[None], first, **options
        )
        return jax.tree.map(lambda f: f[0], final)

    def with_grads(fn, params):
        def loss(params, x_t, state):
            new = fn(params, x_t, state)
            return sum(jax.tree.leaves(jax.tree.map(lambda a, b: jnp.sum(a * b), new, g))), new

        grads, new = jax.grad(loss, argnums=(0, 1, 2), has_aux=True)(params, x_t, state)
        return new, grads

    def both(params, network_params):
        return with_grads(cell, params), with_grads(one_step, network_params)

    compiled = jax.jit(both, compiler_options=FAST_COMPILE)
    (new, (d_params, d_x, d_state)), (new_l0, (d_params_l0, d_x_l0, d_state_l0)) = compiled(
        params, network_params
    )
    d_params_l0 = {k.removesuffix("_l0"): v for k, v in d_params_l0.items()}
    assert_tree_close(
        (new, d_params, d_x, d_state), (new_l0, d_params_l0, d_x_l0, d_state_l0), 1e-12
    )
