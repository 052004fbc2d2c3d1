"""jrnn.rnn against torch.nn.RNN: outputs, h_n and gradients w.r.t. params, x and h0.

The grid is num_layers 1-3 x bidirectional x bias x tanh/relu x float32/float64 (48 tests). In
float64 each test runs every input layout (seq-first, batch-first, unbatched) with h0 given and
None (6 runs), on two sets of sizes: all ones (L = N = H_in = H = 1) and small but not
degenerate, so every layout meets both. In float32 (the same code in another dtype) each test
runs two of those six, rotating, so every variant still meets every layer count, direction,
bias and nonlinearity. One torch module per size set is shared by the runs of a test.

The grid runs op by op under ``jax.disable_jit()`` (see ``jrnn_run``): the same jrnn code, its
custom VJP included. Compiling a program per run costs 0.3-1 s each here; op by op, once the
operations have met their shapes, a run costs about 0.1 s. The compiled path is checked against
torch below on the largest configuration, and against eager execution in test_transforms.py.
"""

import itertools

import numpy as np
import pytest
from _torch_reference import (
    assert_tree_close,
    jrnn_run,
    random_rnn_params,
    torch_rnn,
    torch_run,
)

TOLERANCE = {"float32": 1e-5, "float64": 1e-10}
ONES = {"L": 1, "N": 1, "H_in": 1, "H": 1}
# H_in = H / 8: the first layer projects its input inside the step, the later ones and the
# all-ones size set hoist it (``jrnn._driver._hoists_projection``), so the grid meets both.
SMALL = {"L": 3, "N": 2, "H_in": 2, "H": 16}
# (layout, h0 given, sizes): each layout meets both size sets and h0 given and None.
VARIANTS = [
    ("seq_first", True, "ones"),
    ("seq_first", False, "small"),
    ("batch_first", True, "small"),
    ("batch_first", False, "ones"),
    ("unbatched", True, "ones"),
    ("unbatched", False, "small"),
]
SIZES = {"ones": ONES, "small": SMALL}
CONFIGS = list(itertools.product((1, 2, 3), (False, True), (True, False), ("tanh", "relu")))


def random_inputs(rng, sizes, layout, num_states, num_directions, dtype, with_h0):
    """``x``, ``h0`` (or None) and the cotangents of output and h_n, shaped for ``layout``."""
    L, N, H_in, H = sizes["L"], sizes["N"], sizes["H_in"], sizes["H"]
    lead = {"seq_first": (L, N), "batch_first": (N, L), "unbatched": (L,)}[layout]
    state_lead = () if layout == "unbatched" else (N,)
    x = rng.uniform(-1, 1, (*lead, H_in)).astype(dtype)
    h0 = rng.uniform(-1, 1, (num_states, *state_lead, H)).astype(dtype) if with_h0 else None
    g_out = rng.normal(size=(*lead, num_directions * H)).astype(dtype)
    g_h = rng.normal(size=(num_states, *state_lead, H)).astype(dtype)
    return x, h0, g_out, g_h


def variants(config_index, dtype):
    """All six variants in float64; in float32 one all-ones and one small variant, rotating so
    that every variant meets every layer count, direction, bias and nonlinearity."""
    if dtype == "float64":
        return VARIANTS
    ones, small = (0, 3, 4), (1, 2, 5)
    return [VARIANTS[ones[config_index % 3]], VARIANTS[small[(config_index // 3) % 3]]]


def grid_runs(num_layers, bidirectional, bias, nonlinearity, dtype):
    """Yield ``(variant, jrnn's (out, h_n, grads), torch's)`` for the runs of one config."""
    rng = np.random.default_rng([num_layers, bidirectional, bias, nonlinearity == "relu"])
    params, modules = {}, {}
    for name, sizes in SIZES.items():
        params[name] = random_rnn_params(
            rng,
            sizes["H_in"],
            sizes["H"],
            num_layers,
            bias=bias,
            bidirectional=bidirectional,
            dtype=dtype,
        )
        modules[name] = torch_rnn(params[name], nonlinearity)
    num_directions = 2 if bidirectional else 1
    config_index = CONFIGS.index((num_layers, bidirectional, bias, nonlinearity))
    for variant in variants(config_index, dtype):
        layout, with_h0, name = variant
        batch_first = layout == "batch_first"
        x, h0, g_out, g_h = random_inputs(
            rng, SIZES[name], layout, num_directions * num_layers, num_directions, dtype, with_h0
        )
        expected = torch_run(modules[name], x, h0, g_out, g_h, batch_first=batch_first)
        actual = jrnn_run(
            params[name], x, h0, g_out, g_h, nonlinearity=nonlinearity, batch_first=batch_first
        )
        yield variant, actual, expected


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("num_layers", "bidirectional", "bias", "nonlinearity"), CONFIGS)
def test_rnn_matches_torch(num_layers, bidirectional, bias, nonlinearity, dtype):
    tol = TOLERANCE[dtype]
    for variant, actual, expected in grid_runs(
        num_layers, bidirectional, bias, nonlinearity, dtype
    ):
        (out, h_n, grads), (t_out, t_h_n, t_grads) = actual, expected
        assert out.dtype == h_n.dtype == np.dtype(dtype), variant
        assert out.shape == t_out.shape and h_n.shape == t_h_n.shape, variant
        assert_tree_close((out, h_n), (t_out, t_h_n), tol)
        assert_tree_close(grads, t_grads, tol)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_rnn_matches_torch(dtype):
    """The compiled path (jax.jit) on the grid's largest configuration, batch-first."""
    rng = np.random.default_rng(7)
    params = random_rnn_params(rng, SMALL["H_in"], SMALL["H"], 3, bidirectional=True, dtype=dtype)
    x, h0, g_out, g_h = random_inputs(rng, SMALL, "batch_first", 6, 2, dtype, with_h0=True)
    expected = torch_run(torch_rnn(params, "relu"), x, h0, g_out, g_h, batch_first=True)
    actual = jrnn_run(params, x, h0, g_out, g_h, jit=True, nonlinearity="relu", batch_first=True)
    assert_tree_close(actual, expected, TOLERANCE[dtype])
