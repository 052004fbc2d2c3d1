"""jrnn.cell_step against torch.nn.RNNCell: values and gradients, and the seed's cell loops."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _torch_reference import assert_tree_close, torch_rnn_cell

import jrnn

TOLERANCE = {"float32": 1e-5, "float64": 1e-12}


def jrnn_cell_grads(params, x_t, h, g, nonlinearity):
    """``h_next`` and the gradients of ``sum(h_next * g)`` w.r.t. params, x_t and h."""

    def loss(params, x_t, h):
        h_next = jrnn.cell_step(params, x_t, h, nonlinearity=nonlinearity)
        return jnp.sum(h_next * g), h_next

    argnums = (0, 1) if h is None else (0, 1, 2)
    grads, h_next = jax.grad(loss, argnums=argnums, has_aux=True)(params, x_t, h)
    return h_next, grads


def torch_cell_grads(module, x_t, h, g):
    module.zero_grad()
    x_t = torch.tensor(x_t, requires_grad=True)
    h = None if h is None else torch.tensor(h, requires_grad=True)
    h_next = module(x_t, h)
    (h_next * torch.from_numpy(g)).sum().backward()
    grads = {name: p.grad.numpy() for name, p in module.named_parameters()}
    grads = (grads, x_t.grad.numpy()) + (() if h is None else (h.grad.numpy(),))
    return h_next.detach().numpy(), grads


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("batched", "nonlinearity", "bias", "with_h"),
    list(itertools.product((True, False), ("tanh", "relu"), (True, False), (True, False))),
)
def test_cell_step_matches_torch(batched, nonlinearity, bias, with_h, dtype):
    rng = np.random.default_rng([batched, nonlinearity == "relu", bias, with_h])
    params = jrnn.init_rnn_cell(jax.random.key(int(rng.integers(99))), 3, 2, bias=bias, dtype=dtype)
    module = torch_rnn_cell(params, nonlinearity)
    lead = (4,) if batched else ()
    x_t = rng.uniform(-1, 1, (*lead, 3)).astype(dtype)
    h = rng.uniform(-1, 1, (*lead, 2)).astype(dtype) if with_h else None
    g = rng.normal(size=(*lead, 2)).astype(dtype)
    actual = jrnn_cell_grads(params, x_t, h, g, nonlinearity)
    expected = torch_cell_grads(module, x_t, h, g)
    assert actual[0].dtype == np.dtype(dtype) and actual[0].shape == expected[0].shape
    assert_tree_close(actual, expected, TOLERANCE[dtype])


def test_cell_step_with_size_one():
    params = jrnn.init_rnn_cell(jax.random.key(1), 1, 1, dtype="float64")
    x_t, h, g = np.full((1, 1), 0.3), np.full((1, 1), -0.2), np.ones((1, 1))
    actual = jrnn_cell_grads(params, x_t, h, g, "tanh")
    assert_tree_close(actual, torch_cell_grads(torch_rnn_cell(params), x_t, h, g), 1e-12)


def test_seed_one_cell_over_ten_steps():
    """torch's RNNCell example: RNNCell(100, 10) stepped by hand over x (10, 5, 100)."""
    rng = np.random.default_rng(0)
    cell = jrnn.init_rnn_cell(jax.random.key(0), input_size=100, hidden_size=10)
    module = torch_rnn_cell(cell)
    x = rng.normal(size=(10, 5, 100)).astype("float32")
    h0 = rng.normal(size=(5, 10)).astype("float32")

    h, outputs = jnp.asarray(h0), []
    for x_t in x:
        h = jrnn.cell_step(cell, x_t, h)
        outputs.append(h)

    with torch.no_grad():
        t_h, t_outputs = torch.from_numpy(h0), []
        for x_t in torch.from_numpy(x):
            t_h = module(x_t, t_h)
            t_outputs.append(t_h.numpy())
    np.testing.assert_allclose(np.stack(outputs), np.stack(t_outputs), rtol=1e-5, atol=1e-5)


def test_seed_two_cells_stacked_by_hand():
    """Two cells 100 -> 30 -> 10 over 10 steps, values and gradients w.r.t. both cells and x."""
    rng = np.random.default_rng(1)
    keys = jax.random.split(jax.random.key(1))
    cells = (
        jrnn.init_rnn_cell(keys[0], 100, 30, dtype="float64"),
        jrnn.init_rnn_cell(keys[1], 30, 10, dtype="float64"),
    )
    modules = [torch_rnn_cell(c) for c in cells]
    x = rng.normal(size=(10, 5, 100))
    g = rng.normal(size=(10, 5, 10))

    def run(cells, x):
        h1, h2, outputs = None, None, []
        for x_t in x:
            h1 = jrnn.cell_step(cells[0], x_t, h1)
            h2 = jrnn.cell_step(cells[1], h1, h2)
            outputs.append(h2)
        outputs = jnp.stack(outputs)  # (10, 5, 10)
        return jnp.sum(outputs * g), outputs

    grad_fn = jax.jit(jax.grad(run, argnums=(0, 1), has_aux=True))  # one compile, not 10x2 steps
    (d_cells, d_x), outputs = grad_fn(cells, jnp.asarray(x))

    t_x = torch.tensor(x, requires_grad=True)
    h1 = h2 = None
    t_outputs = []
    for x_t in t_x:
        h1 = modules[0](x_t, h1)
        h2 = modules[1](h1, h2)
        t_outputs.append(h2)
    t_outputs = torch.stack(t_outputs)
    (t_outputs * torch.from_numpy(g)).sum().backward()
    t_d_cells = tuple({k: p.grad.numpy() for k, p in m.named_parameters()} for m in modules)
    assert_tree_close(
        (outputs, d_cells, d_x), (t_outputs.detach().numpy(), t_d_cells, t_x.grad.numpy()), 1e-12
    )
