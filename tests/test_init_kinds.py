"""init_lstm, init_gru and their cells against torch: keys, order, shapes, bounds, streams, dtype.

Also torch's proj_size rules, in torch's words. The RNN kind is covered by test_init.py.
"""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jrnn

NETWORKS = {"LSTM": (jrnn.init_lstm, torch.nn.LSTM), "GRU": (jrnn.init_gru, torch.nn.GRU)}
CELLS = {
    "LSTMCell": (jrnn.init_lstm_cell, torch.nn.LSTMCell),
    "GRUCell": (jrnn.init_gru_cell, torch.nn.GRUCell),
}
# (kind, num_layers, bias, bidirectional, proj_size), H_in=3, H=4.
GRID = [
    (kind, num_layers, bias, bidirectional, proj_size)
    for kind in NETWORKS
    for num_layers, bias, bidirectional in itertools.product((1, 2), (True, False), (False, True))
    for proj_size in ((0, 2) if kind == "LSTM" else (0,))
]


def shapes(state):
    return [(key, tuple(value.shape)) for key, value in state.items()]


def load_into(module, params):
    """torch accepts ``params`` as ``module``'s own state_dict, every key matched."""
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in params.items()})


@pytest.mark.parametrize(("kind", "num_layers", "bias", "bidirectional", "proj_size"), GRID)
def test_network_keys_order_and_shapes_are_torchs(kind, num_layers, bias, bidirectional, proj_size):
    init, torch_cls = NETWORKS[kind]
    extra = {"proj_size": proj_size} if proj_size else {}
    params = init(
        jax.random.key(0), 3, 4, num_layers, bias=bias, bidirectional=bidirectional, **extra
    )
    module = torch_cls(3, 4, num_layers, bias=bias, bidirectional=bidirectional, **extra)
    assert shapes(params) == shapes(module.state_dict())
    assert all(value.dtype == jnp.float32 for value in params.values())
    load_into(module, params)


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("bias", [True, False])
def test_cell_keys_order_and_shapes_are_torchs(kind, bias):
    init, torch_cls = CELLS[kind]
    params = init(jax.random.key(0), 3, 4, bias=bias)
    module = torch_cls(3, 4, bias=bias)
    assert shapes(params) == shapes(module.state_dict())
    load_into(module, params)


def all_inits(key, dtype=jnp.float32):
    """Every kind's params, H=16 (bound 1/4), LSTM with a projection P=8."""
    return {
        "LSTM": jrnn.init_lstm(key, 8, 16, 2, bidirectional=True, proj_size=8, dtype=dtype),
        "GRU": jrnn.init_gru(key, 8, 16, 2, bidirectional=True, dtype=dtype),
        "LSTMCell": jrnn.init_lstm_cell(key, 8, 16, dtype=dtype),
        "GRUCell": jrnn.init_gru_cell(key, 8, 16, dtype=dtype),
    }


def test_values_are_uniform_within_one_over_sqrt_hidden_like_torchs():
    bound = 1 / math.sqrt(16)
    torch_modules = {
        "LSTM": torch.nn.LSTM(8, 16, 2, bidirectional=True, proj_size=8),
        "GRU": torch.nn.GRU(8, 16, 2, bidirectional=True),
        "LSTMCell": torch.nn.LSTMCell(8, 16),
        "GRUCell": torch.nn.GRUCell(8, 16),
    }
    for kind, params in all_inits(jax.random.key(1)).items():
        reference = torch_modules[kind].state_dict()
        for name, value in params.items():
            value, theirs = np.asarray(value), reference[name].numpy()
            assert np.abs(theirs).max() <= bound, name  # torch's own bound, weight_hr included
            assert np.abs(value).max() <= bound, (kind, name)
            if value.size >= 128:  # weight_hr (8, 16) included: it reaches both ends too
                assert value.min() < -0.9 * bound and value.max() > 0.9 * bound, (kind, name)
        pool = np.concatenate([np.ravel(v) for v in params.values()])
        counts = np.histogram(pool, bins=4, range=(-bound, bound))[0] / pool.size
        np.testing.assert_allclose(counts, 0.25, atol=4 * np.sqrt(0.25 * 0.75 / pool.size))


def test_every_tensor_has_its_own_stream():
    for kind, params in all_inits(jax.random.key(2)).items():
        assert "weight_hr_l1_reverse" in params or kind != "LSTM"
        for (name_a, a), (name_b, b) in itertools.combinations(params.items(), 2):
            n = min(a.size, b.size)  # same-shape tensors, and prefixes of the others, differ
            assert not np.any(np.ravel(a)[:n] == np.ravel(b)[:n]), (kind, name_a, name_b)
    again, other = all_inits(jax.random.key(2)), all_inits(jax.random.key(3))
    for kind, params in all_inits(jax.random.key(2)).items():
        for name, value in params.items():
            np.testing.assert_array_equal(value, again[kind][name])
            assert not np.array_equal(value, other[kind][name])


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16, jnp.float64, "float64"])
def test_dtype_is_honoured(dtype):
    key = jax.random.key(4)
    every_kind = [  # H_in = H = 4, so the kinds share shapes (and JAX's compiled samplers)
        jrnn.init_lstm(key, 4, 4, 2, proj_size=2, dtype=dtype),
        jrnn.init_gru(key, 4, 4, bias=False, dtype=dtype),
        jrnn.init_lstm_cell(key, 4, 4, dtype=dtype),
        jrnn.init_gru_cell(key, 4, 4, dtype=dtype),
    ]
    for params in every_kind:
        for value in params.values():
            assert value.dtype == jnp.dtype(dtype)
            assert np.abs(np.asarray(value, np.float64)).max() <= 0.5


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda key: jrnn.init_lstm(key, 3, 4, proj_size=-1),
            ValueError,
            r"^proj_size should be a positive integer or zero to disable projections\. "
            r"`jrnn\.init_lstm`: got proj_size=-1",
        ),
        (
            lambda key: jrnn.init_lstm(key, 3, 4, proj_size=4),
            ValueError,
            r"^proj_size has to be smaller than hidden_size\. `jrnn\.init_lstm`: got proj_size=4 "
            r"\(from proj_size\) and hidden_size=4",
        ),
        (
            lambda key: jrnn.init_lstm(key, 3, 4, proj_size=2.0),
            TypeError,
            r"proj_size should be a positive integer or zero to disable projections\. "
            r"`jrnn\.init_lstm`: got 2\.0 of type float",
        ),
        (
            lambda key: jrnn.init_lstm(key, 3, 4, proj_size=True),
            TypeError,
            "proj_size should be a positive integer or zero.*got True of type bool",
        ),
        (
            lambda key: jrnn.init_gru(key, 3, 4, proj_size=2),
            ValueError,
            r"^proj_size argument is only supported for LSTM, not RNN or GRU\. `jrnn\.init_gru`: "
            r"this is GRU; pass proj_size=0, or use `jrnn\.init_lstm`",
        ),
        (
            lambda key: jrnn.init_rnn(key, 3, 4, proj_size=2),
            ValueError,
            r"proj_size argument is only supported for LSTM, not RNN or GRU\. `jrnn\.init_rnn`",
        ),
        (  # as torch.nn.GRU: any proj_size but the default is refused for GRU, as a ValueError
            lambda key: jrnn.init_gru(key, 3, 4, proj_size=-1),
            ValueError,
            "proj_size argument is only supported for LSTM",
        ),
        (
            lambda key: jrnn.init_rnn(key, 3, 4, proj_size=1.5),
            ValueError,
            "proj_size argument is only supported for LSTM",
        ),
    ],
)
def test_proj_size_errors_speak_torchs_words(call, error, match):
    with pytest.raises(error, match=match):
        call(jax.random.key(0))


def test_proj_size_errors_are_torchs_exception_types():
    """The same mistakes in torch raise the same exception types (the words are checked above)."""
    for kwargs in (dict(proj_size=-1), dict(proj_size=4)):
        with pytest.raises(ValueError, match="proj_size"):
            torch.nn.LSTM(3, 4, **kwargs)
    with pytest.raises(TypeError):
        torch.nn.LSTM(3, 4, proj_size=2.0)
    for cls in (torch.nn.GRU, torch.nn.RNN):
        with pytest.raises(ValueError, match="only supported for LSTM, not RNN or GRU"):
            cls(3, 4, proj_size=2)


def test_numpy_integer_proj_size_is_accepted():
    params = jrnn.init_lstm(jax.random.key(0), 3, 4, proj_size=np.int64(2))
    assert shapes(params) == shapes(torch.nn.LSTM(3, 4, proj_size=2).state_dict())
