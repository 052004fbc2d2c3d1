"""init_rnn, init_rnn_cell against torch: state_dict keys, order, shapes; bounds; streams; dtype."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jrnn

# (input_size, hidden_size, num_layers, bias, bidirectional); sizes shared where they can be,
# since every new shape costs JAX a compilation of the sampler.
RNN_CONFIGS = [
    (1, 1, 1, True, False),
    (3, 2, 1, False, False),
    (3, 2, 2, True, True),
    (3, 2, 3, False, True),
    (3, 2, 3, True, False),
]


@pytest.mark.parametrize(("input_size", "hidden_size", "num_layers", "bias", "bidir"), RNN_CONFIGS)
def test_rnn_keys_order_and_shapes_are_torchs(input_size, hidden_size, num_layers, bias, bidir):
    params = jrnn.init_rnn(
        jax.random.key(0), input_size, hidden_size, num_layers, bias=bias, bidirectional=bidir
    )
    module = torch.nn.RNN(input_size, hidden_size, num_layers, bias=bias, bidirectional=bidir)
    expected = [(k, tuple(v.shape)) for k, v in module.state_dict().items()]
    assert [(k, v.shape) for k, v in params.items()] == expected
    assert all(v.dtype == jnp.float32 for v in params.values())
    # torch accepts them as its own state_dict.
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in params.items()})


@pytest.mark.parametrize("bias", [True, False])
def test_cell_keys_order_and_shapes_are_torchs(bias):
    params = jrnn.init_rnn_cell(jax.random.key(0), 3, 2, bias=bias)
    module = torch.nn.RNNCell(3, 2, bias=bias)
    expected = [(k, tuple(v.shape)) for k, v in module.state_dict().items()]
    assert [(k, v.shape) for k, v in params.items()] == expected
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in params.items()})


def _check_uniform(values, bound, torch_values):
    """Values lie in [-bound, bound] like torch's, fill it, and look uniform (quartile counts)."""
    assert np.abs(torch_values).max() <= bound  # torch's own init obeys the same bound
    assert np.abs(values).max() <= bound
    assert values.min() < -0.98 * bound and values.max() > 0.98 * bound
    counts = np.histogram(values, bins=4, range=(-bound, bound))[0] / values.size
    np.testing.assert_allclose(counts, 0.25, atol=4 * np.sqrt(0.25 * 0.75 / values.size))


def test_rnn_values_are_uniform_within_one_over_sqrt_hidden():
    hidden_size = 16
    params = jrnn.init_rnn(jax.random.key(1), 64, hidden_size, 2, bidirectional=True)
    module = torch.nn.RNN(64, hidden_size, 2, bidirectional=True)
    torch_values = np.concatenate([p.detach().numpy().ravel() for p in module.parameters()])
    bound = 1 / math.sqrt(hidden_size)
    _check_uniform(np.concatenate([np.ravel(v) for v in params.values()]), bound, torch_values)
    for name, value in params.items():  # every tensor, not just the pool, reaches both ends
        if value.size >= 256:
            assert np.abs(value).max() > 0.95 * bound, name


def test_cell_values_are_uniform_within_one_over_sqrt_hidden():
    params = jrnn.init_rnn_cell(jax.random.key(2), 100, 9)
    module = torch.nn.RNNCell(100, 9)
    torch_values = np.concatenate([p.detach().numpy().ravel() for p in module.parameters()])
    values = np.concatenate([np.ravel(v) for v in params.values()])
    _check_uniform(values, 1 / 3, torch_values)


def test_every_tensor_has_its_own_stream():
    params = jrnn.init_rnn(jax.random.key(3), 3, 2, 2, bidirectional=True)
    cell = jrnn.init_rnn_cell(jax.random.key(3), 3, 2)
    for tensors in (params, cell):
        for (name_a, a), (name_b, b) in itertools.combinations(tensors.items(), 2):
            n = min(a.size, b.size)  # same-shape tensors, and prefixes of the others, differ
            assert not np.any(np.ravel(a)[:n] == np.ravel(b)[:n]), (name_a, name_b)


def test_keys_make_streams_deterministic_and_distinct():
    a = jrnn.init_rnn(jax.random.key(4), 3, 2, 2, bidirectional=True)
    b = jrnn.init_rnn(jax.random.key(4), 3, 2, 2, bidirectional=True)
    c = jrnn.init_rnn(jax.random.key(5), 3, 2, 2, bidirectional=True)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
        assert not np.array_equal(a[name], c[name])


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float32, jnp.float64, "float64"])
def test_dtype_is_honoured(dtype):
    params = jrnn.init_rnn(jax.random.key(6), 4, 4, 2, dtype=dtype)
    cell = jrnn.init_rnn_cell(jax.random.key(6), 4, 4, dtype=dtype)
    bound = 1 / math.sqrt(4)
    for value in [*params.values(), *cell.values()]:
        assert value.dtype == jnp.dtype(dtype)
        assert np.abs(np.asarray(value, np.float64)).max() <= bound
