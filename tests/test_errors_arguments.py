"""Arguments a careless user passes that used to reach JAX raw, abort the process or differ
silently: each now gets a jrnn error naming the function, or torch's result."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

import jrnn
import jrnn.linen
import jrnn.nnx

KEY = jax.random.key(0)


def test_init_sizes_beyond_memory_are_refused_not_fatal():
    # 2**62 used to abort the process inside XLA ("overflow in static extent product").
    for size in (2**62, 2**40):
        with pytest.raises(ValueError, match=r"`jrnn.init_rnn`: these sizes need .* GiB"):
            jrnn.init_rnn(KEY, 3, size)
    with pytest.raises(ValueError, match=r"`jrnn.init_gru_cell`: these sizes need"):
        jrnn.init_gru_cell(KEY, 2**40, 3)
    with pytest.raises(ValueError, match=r"`jrnn.nnx.LSTM`: these sizes need"):
        jrnn.nnx.LSTM(3, 2**40, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"`jrnn.linen.GRU`: these sizes need"):
        jrnn.linen.GRU(hidden_size=2**40).init(KEY, jnp.ones((2, 1, 3)))


@pytest.mark.parametrize("key", [0, np.uint32(3), jax.random.split(KEY, 2), "seed"], ids=repr)
def test_init_key_must_be_one_random_key(key):
    with pytest.raises(TypeError, match=r"`jrnn.init_lstm`: expected key to be one jax.random"):
        jrnn.init_lstm(key, 3, 4)


def test_one_list_of_float_dtypes():
    with pytest.raises(
        TypeError, match=r"`jrnn.init_rnn`: expected a floating dtype, got dtype=.*float8"
    ):
        jrnn.init_rnn(KEY, 3, 4, dtype=jnp.float8_e4m3fn)
    params = jax.tree.map(lambda a: a.astype(jnp.float8_e4m3fn), jrnn.init_gru(KEY, 3, 4))
    x = jnp.ones((2, 1, 3), jnp.float8_e4m3fn)
    with pytest.raises(TypeError, match=r"`jrnn.gru`: expected every params entry to share one"):
        jrnn.gru(params, x)
    with pytest.raises(TypeError, match=r"`jrnn.to_torch`"):
        jrnn.to_torch(params)


@jax.enable_x64(False)
def test_float64_without_x64_is_refused_not_truncated():
    with pytest.raises(TypeError, match=r"`jrnn.init_rnn`: dtype=float64 needs JAX's 64-bit"):
        jrnn.init_rnn(KEY, 3, 4, dtype=jnp.float64)
    params = {k: np.asarray(v, np.float64) for k, v in jrnn.init_rnn(KEY, 3, 4).items()}
    with pytest.raises(TypeError, match=r"`jrnn.rnn`: params\['.*'\] is float64 but JAX's 64-bit"):
        jrnn.rnn(params, np.ones((2, 1, 3)))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the algorithm exists on GPU")
def test_precision_the_backend_lacks_is_refused_at_call_time():
    params = jrnn.init_rnn(KEY, 3, 4)
    algorithm = jax.lax.DotAlgorithmPreset.TF32_TF32_F32
    with pytest.raises(ValueError, match=r"`jrnn.rnn`: precision=.*TF32.* not supported on JAX's"):
        jax.jit(lambda x: jrnn.rnn(params, x, precision=algorithm)).lower(jnp.ones((2, 1, 3)))


def _final_states(fn, lengths_of, *lengths):
    params = jrnn.init_rnn(KEY, 3, 4, bidirectional=True)
    x = jax.random.normal(jax.random.key(1), (5, 2, 3), jnp.float32)
    return jax.jit(lambda x, *a: fn(params, x, lengths=lengths_of(*a)))(x, *lengths)


@jax.enable_x64(False)  # uint32 and int32 promote to int32 here, not int64
def test_lengths_under_jit_any_integer_form():
    expected = _final_states(jrnn.rnn, lambda: np.array([5, 2]))
    # A Python list of traced ints (was TracerArrayConversionError).
    as_list = _final_states(jrnn.rnn, lambda a, b: [a, b], 5, 2)
    # An unsigned length above L acts as L, as a signed one does (uint32 2**32-1 acted as 0).
    unsigned = _final_states(jrnn.rnn, lambda a: a, jnp.array([2**32 - 1, 2], jnp.uint32))
    for actual in (as_list, unsigned):
        for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
            np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-7)


def test_checkpoint_every_beyond_the_sequence_is_one_segment():
    params = jrnn.init_rnn(KEY, 3, 4)
    x = jax.random.normal(jax.random.key(1), (5, 2, 3), jnp.float32)
    expected = jrnn.rnn(params, x)
    for segment in (6, 2**70):  # 2**70 used to fail inside XLA's shape code
        actual = jax.jit(lambda x, s=segment: jrnn.rnn(params, x, checkpoint_every=s))(x)
        for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected), strict=True):
            np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("rngs", [KEY, 0], ids=["key", "int"])
def test_nnx_rngs_must_be_rngs(rngs):
    with pytest.raises(TypeError, match=r"`jrnn.nnx.GRU`: expected rngs to be an nnx.Rngs"):
        jrnn.nnx.GRU(3, 4, rngs=rngs)


def test_nnx_dropout_needs_a_stream():
    with pytest.raises(ValueError, match=r"`jrnn.nnx.RNN`: dropout=0.5 needs a 'dropout'"):
        jrnn.nnx.RNN(3, 4, num_layers=2, dropout=0.5, rngs=nnx.Rngs(params=0))
    jrnn.nnx.RNN(3, 4, num_layers=2, dropout=0.5, rngs=nnx.Rngs(params=0, dropout=1))


def test_torch_tensors_without_values():
    meta = torch.nn.GRU(3, 4, device="meta").state_dict()
    with pytest.raises(TypeError, match=r"`jrnn.from_torch`: the torch tensor 'weight_ih_l0' is"):
        jrnn.from_torch(meta)
    sparse = {k: v.to_sparse() for k, v in torch.nn.GRU(3, 4).state_dict().items()}
    with pytest.raises(TypeError, match=r"layout torch.sparse_coo; .* \.to_dense\(\) first"):
        jrnn.from_torch(sparse)
    params = jrnn.init_gru(KEY, 3, 4)
    with pytest.raises(TypeError, match=r"`jrnn.gru`: the torch tensor 'x' is on the meta"):
        jrnn.gru(params, torch.ones(2, 1, 3, device="meta"))
