"""lengths against torch's pack_padded_sequence(enforce_sorted=False) -> RNN -> pad_packed_sequence.

Values and gradients (params, x, h0) for unsorted lengths that include L and 1, over layers and
directions; whatever sits in the padding (NaN, inf) reaches nothing; a length of 0 (which torch
cannot pack) leaves its row at zeros with h_n = h0; and what lengths outside [0, L] do, concrete
and under jax.jit.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _torch_reference import assert_tree_close, jrnn_run, random_rnn_params, torch_rnn, torch_run

import jrnn

TOLERANCE = {"float32": 1e-5, "float64": 1e-10}
L, H_IN, H = 5, 3, 2
LENGTHS = np.array([3, 5, 1, 4, 5, 2])  # unsorted, with L and 1


def case(rng, params, lengths, batch_first=False, dtype="float64", padding=None):
    """Random x (padding replaced by ``padding`` if given), h0 and cotangents for one network.

    The output cotangent is random in the padding too: those outputs are zeros that depend on
    nothing, so their cotangent must reach nothing.
    """
    config = jrnn._params.rnn_config("test", params)
    S, D, N = config.num_layers * config.num_directions, config.num_directions, len(lengths)
    x = rng.uniform(-1, 1, (L, N, H_IN)).astype(dtype)  # (L, N, H_in)
    if padding is not None:
        x[np.arange(L)[:, None] >= np.asarray(lengths)[None, :]] = padding
    h0 = rng.uniform(-1, 1, (S, N, H)).astype(dtype)
    g_out = rng.normal(size=(L, N, D * H)).astype(dtype)
    g_h = rng.normal(size=(S, N, H)).astype(dtype)
    if batch_first:
        x, g_out = x.swapaxes(0, 1), g_out.swapaxes(0, 1)
    return x, h0, g_out, g_h


def network(num_layers, bidirectional, dtype="float64", nonlinearity="tanh", seed=0):
    rng = np.random.default_rng(seed)
    params = random_rnn_params(rng, H_IN, H, num_layers, bidirectional=bidirectional, dtype=dtype)
    return params, torch_rnn(params, nonlinearity)


@pytest.mark.parametrize(
    ("num_layers", "bidirectional", "batch_first", "nonlinearity", "dtype"),
    [
        (1, False, False, "tanh", "float64"),
        (1, True, True, "relu", "float64"),
        (2, True, False, "tanh", "float64"),
        (3, True, True, "tanh", "float32"),
        (2, False, True, "relu", "float32"),
    ],
)
def test_lengths_match_packed_sequence(num_layers, bidirectional, batch_first, nonlinearity, dtype):
    rng = np.random.default_rng(num_layers)
    params, module = network(num_layers, bidirectional, dtype, nonlinearity)
    x, h0, g_out, g_h = case(rng, params, LENGTHS, batch_first, dtype, padding=np.nan)
    expected = torch_run(module, x, h0, g_out, g_h, lengths=LENGTHS, batch_first=batch_first)
    actual = jrnn_run(
        params,
        x,
        h0,
        g_out,
        g_h,
        jit=True,
        fast_compile=True,
        nonlinearity=nonlinearity,
        batch_first=batch_first,
        lengths=LENGTHS,
    )
    assert_tree_close(actual, expected, TOLERANCE[dtype])
    out = actual[0] if not batch_first else actual[0].swapaxes(0, 1)
    padding = np.arange(L)[:, None] >= LENGTHS[None, :]
    assert np.all(out[padding] == 0)  # exactly zero, as pad_packed_sequence pads


@pytest.mark.parametrize("padding", [np.nan, np.inf, -np.inf, 1e308])
def test_padding_reaches_nothing(padding):
    """NaN / inf in the padding: outputs, h_n and every gradient stay finite and equal torch's."""
    rng = np.random.default_rng(1)
    params, module = network(2, True)
    x, h0, g_out, g_h = case(rng, params, LENGTHS, padding=padding)
    expected = torch_run(module, x, h0, g_out, g_h, lengths=LENGTHS)
    actual = jrnn_run(params, x, h0, g_out, g_h, jit=True, fast_compile=True, lengths=LENGTHS)
    for leaf in jax.tree.leaves(actual):
        assert np.all(np.isfinite(leaf))
    assert_tree_close(actual, expected, 1e-10)
    assert np.all(actual[2]["x"][np.arange(L)[:, None] >= LENGTHS[None, :]] == 0)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_length_zero(bidirectional):
    """torch cannot pack a length of 0: the other rows must equal torch on the batch without it;
    the empty row outputs zeros, keeps h_n = h0, and passes h_n's cotangent straight to h0."""
    lengths = np.array([3, 0, 5, 1, 0])
    keep = lengths > 0
    rng = np.random.default_rng(2)
    params, module = network(2, bidirectional)
    x, h0, g_out, g_h = case(rng, params, lengths, padding=np.nan)
    out, h_n, grads = jrnn_run(
        params, x, h0, g_out, g_h, jit=True, fast_compile=True, lengths=lengths
    )
    t_out, t_h_n, t_grads = torch_run(
        module, x[:, keep], h0[:, keep], g_out[:, keep], g_h[:, keep], lengths=lengths[keep]
    )
    assert_tree_close((out[:, keep], h_n[:, keep]), (t_out, t_h_n), 1e-10)
    assert_tree_close(
        (grads["params"], grads["x"][:, keep], grads["h0"][:, keep]),
        (t_grads["params"], t_grads["x"], t_grads["h0"]),
        1e-10,
    )
    assert np.all(out[:, ~keep] == 0)
    np.testing.assert_array_equal(h_n[:, ~keep], h0[:, ~keep])
    np.testing.assert_array_equal(grads["h0"][:, ~keep], g_h[:, ~keep])
    assert np.all(grads["x"][:, ~keep] == 0)


def test_all_lengths_zero():
    params, _ = network(1, True)
    x, h0, g_out, g_h = case(np.random.default_rng(3), params, [0, 0])
    out, h_n, grads = jrnn_run(
        params, x, h0, g_out, g_h, jit=True, fast_compile=True, lengths=np.array([0, 0])
    )
    assert np.all(out == 0) and np.all(grads["x"] == 0)
    np.testing.assert_array_equal(h_n, h0)
    np.testing.assert_array_equal(grads["h0"], g_h)
    assert all(np.all(g == 0) for g in grads["params"].values())


@pytest.mark.parametrize("length", [0, 1, 3, L])
def test_unbatched_scalar_length(length):
    """An unbatched sequence with a scalar length equals torch on its valid prefix."""
    rng = np.random.default_rng(4)
    params, module = network(2, True)
    x, h0, g_out, g_h = case(rng, params, [length], padding=np.nan)
    x, h0, g_out, g_h = x[:, 0], h0[:, 0], g_out[:, 0], g_h[:, 0]
    out, h_n, grads = jrnn_run(
        params, x, h0, g_out, g_h, jit=True, fast_compile=True, lengths=np.int32(length)
    )
    if length:
        t_out, t_h_n, t_grads = torch_run(module, x[:length], h0, g_out[:length], g_h)
        assert_tree_close(
            (out[:length], h_n, grads["params"], grads["x"][:length], grads["h0"]),
            (t_out, t_h_n, t_grads["params"], t_grads["x"], t_grads["h0"]),
            1e-10,
        )
    assert np.all(out[length:] == 0) and np.all(grads["x"][length:] == 0)


def test_concrete_lengths_out_of_range_raise():
    params, _ = network(1, False)
    x = jnp.zeros((L, 2, H_IN), "float64")
    for lengths in ([L + 1, 2], [-1, 2]):
        with pytest.raises(
            ValueError, match=r"`jrnn\.rnn`: expected every entry of lengths in \[0, 5\]"
        ):
            jrnn.rnn(params, x, lengths=np.array(lengths))


def test_traced_lengths_out_of_range_are_clipped():
    """Under jit the values are unknown at trace time: above L acts as L, below 0 as 0."""
    rng = np.random.default_rng(5)
    params, _ = network(2, True)
    x, h0, g_out, g_h = case(rng, params, [L, 0, 2, L, 0])

    @jax.jit
    def run(lengths):
        return jrnn.rnn(params, x, h0, lengths=lengths)

    clipped = run(jnp.array([L, 0, 2, L, 0]))
    wild = run(jnp.array([L + 1, -1, 2, 10**6, -(10**6)]))
    assert_tree_close(wild, clipped, 0)
    with jax.disable_jit():
        eager = jrnn.rnn(params, x, h0, lengths=np.array([L, 0, 2, L, 0]))
    assert_tree_close(clipped, eager, 1e-12)


def test_vmapped_lengths_are_traced_too():
    """Lengths batched by vmap are tracers as well: the same clipping, no ValueError."""
    params, _ = network(1, False)
    x = np.random.default_rng(6).uniform(-1, 1, (3, L, H_IN))  # 3 unbatched sequences

    def run(x, length):
        return jrnn.rnn(params, x, lengths=length)

    wild = jax.vmap(run)(x, jnp.array([L + 3, -2, 2]))
    clipped = jax.vmap(run)(x, jnp.array([L, 0, 2]))
    assert_tree_close(wild, clipped, 0)
