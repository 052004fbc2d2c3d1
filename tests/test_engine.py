"""The engine's options (checkpoint_every, unroll) against the default path.

The default path itself is checked against torch in test_parity/test_lengths; here every option
must give the same values and gradients (float64, ~1e-12), including lengths, both directions,
dropout and an empty batch, and bad option values must be refused by name.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import jrnn

OPTIONS = [
    dict(checkpoint_every=1),
    dict(checkpoint_every=3),  # does not divide L: a shorter last segment
    dict(checkpoint_every=50),  # longer than L
    dict(unroll=3),
]


_DEFAULT_RUNS = {}  # (loss, grads) without the option, shared by the cases below


def _loss_and_grads(params, x, h0, **kwargs):
    def loss(params, x, h0):
        output, h_n = jrnn.rnn(params, x, h0, **kwargs)
        return jnp.sum(jnp.sin(output)) + jnp.sum(h_n**2)

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))(params, x, h0)


@pytest.mark.parametrize(
    "options, extra",
    [(options, dict(nonlinearity="relu", lengths=np.array([8, 3, 0, 1]))) for options in OPTIONS]
    + [(dict(checkpoint_every=3), dict(dropout=0.4, key=jax.random.key(7)))],
    ids=str,
)
def test_option_equals_default(options, extra):
    keys = jax.random.split(jax.random.key(0), 3)
    params = jrnn.init_rnn(keys[0], 3, 5, 2, bidirectional=True, dtype=jnp.float64)
    x = jax.random.normal(keys[1], (8, 4, 3), jnp.float64)
    h0 = jax.random.normal(keys[2], (2 * 2, 4, 5), jnp.float64)
    if str(extra) not in _DEFAULT_RUNS:  # the default run, compiled once per extra setting
        _DEFAULT_RUNS[str(extra)] = _loss_and_grads(params, x, h0, **extra)
    expected = _DEFAULT_RUNS[str(extra)]
    actual = _loss_and_grads(params, x, h0, **extra, **options)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_option_with_empty_batch(options):
    params = jrnn.init_rnn(jax.random.key(0), 3, 4, 2, bidirectional=True, dtype=jnp.float64)
    output, h_n = jrnn.rnn(params, jnp.ones((5, 0, 3), jnp.float64), **options)
    assert output.shape == (5, 0, 8) and h_n.shape == (4, 0, 4)


@pytest.mark.parametrize("options", [dict(checkpoint_every=2)], ids=str)
def test_option_gradients_numerically(options):
    keys = jax.random.split(jax.random.key(1), 2)
    params = jrnn.init_rnn(keys[0], 2, 3, 2, bidirectional=True, dtype=jnp.float64)
    x = jax.random.normal(keys[1], (4, 2, 2), jnp.float64)
    lengths = np.array([4, 2])

    def loss(params, x):
        output, h_n = jrnn.rnn(params, x, lengths=lengths, **options)
        return jnp.sum(output**2) + jnp.sum(jnp.cos(h_n))

    check_grads(jax.jit(loss), (params, x), order=1, modes=["rev"])


def test_checkpointing_lowers_training_memory():
    length, batch, hidden = 2000, 4, 16
    params = jrnn.init_rnn(jax.random.key(0), 4, hidden, dtype=jnp.float32)
    x = jnp.ones((length, batch, 4), jnp.float32)

    def temporaries(**options):
        def loss(params, x):
            output, h_n = jrnn.rnn(params, x, **options)
            return output.sum() + h_n.sum()

        step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
        return step.lower(params, x).compile().memory_analysis().temp_size_in_bytes

    h_sequence = length * batch * hidden * 4
    assert temporaries(checkpoint_every=50) < 1.5 * h_sequence < temporaries()


@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        (
            dict(unroll=0),
            ValueError,
            r"`jrnn.rnn`: expected unroll to be an integer >= 1, got unroll=0",
        ),
        (dict(unroll=True), ValueError, r"expected unroll to be an integer >= 1"),
        (
            dict(checkpoint_every=0),
            ValueError,
            r"expected checkpoint_every .* got checkpoint_every=0",
        ),
        (
            dict(checkpoint_every=2.5),
            ValueError,
            r"expected checkpoint_every .* got checkpoint_every=2.5",
        ),
        (
            dict(dropout=0.5, key=0),
            TypeError,
            r"`jrnn.rnn`: expected key to be one jax.random key.*got int",
        ),
        (
            dict(key=jax.random.split(jax.random.key(0), 3)),
            TypeError,
            r"expected key .*shape=\(3,\)",
        ),
    ],
)
def test_bad_option_values(kwargs, error, pattern):
    params = jrnn.init_rnn(jax.random.key(0), 3, 4, 2, dtype=jnp.float64)
    with pytest.raises(error, match=pattern):
        jrnn.rnn(params, jnp.ones((5, 2, 3), jnp.float64), **kwargs)


def test_raw_uint32_key_is_accepted():
    params = jrnn.init_rnn(jax.random.key(0), 3, 4, 2, dtype=jnp.float64)
    x = jnp.ones((5, 2, 3), jnp.float64)
    typed = jrnn.rnn(params, x, dropout=0.5, key=jax.random.key(3))
    raw = jrnn.rnn(params, x, dropout=0.5, key=jax.random.PRNGKey(3))
    np.testing.assert_array_equal(typed[0], raw[0])
