"""Every bad input the core rejects: the exception type, and a message naming the public function,
the argument, what was expected and what arrived. Nothing here reaches XLA: each call fails while
its arguments are checked, also under jax.jit."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jrnn

F32 = jnp.float32


@pytest.fixture(scope="module")
def params():
    """A 2-layer RNN, H_in=4, H=3: weight_ih_l0 (3, 4)."""
    return jrnn.init_rnn(jax.random.key(0), 4, 3, 2)


@pytest.fixture(scope="module")
def cell():
    """An RNNCell, H_in=4, H=3."""
    return jrnn.init_rnn_cell(jax.random.key(0), 4, 3)


def raises(exception, *fragments):
    """pytest.raises matching every fragment, literally and in order, anywhere in the message."""
    return pytest.raises(exception, match="(?s)" + ".*".join(map(re.escape, fragments)))


def x(*shape, dtype=F32):
    return jnp.zeros(shape, dtype)


# ---- x -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4,), (2, 3, 5, 4), ()])
def test_x_rank(params, shape):
    with raises(ValueError, "`jrnn.rnn`", "rank 3", "rank 2", f"got x.shape={shape}"):
        jrnn.rnn(params, x(*shape))


def test_x_features_uses_torchs_wording():
    params = jrnn.init_rnn(jax.random.key(0), 100, 10)
    with raises(
        RuntimeError,  # torch's type, and a ValueError
        "input.size(-1) must be equal to input_size. Expected 100, got 7",
        "`jrnn.rnn`",
        "x.shape=(8, 5, 7)",
        "params['weight_ih_l0']",
    ):
        jrnn.rnn(params, x(8, 5, 7))
    with raises(ValueError, "Expected 100, got 7", "x.shape=(8, 7)"):
        jrnn.rnn(params, x(8, 7))  # unbatched


def test_x_features_hints_batch_first(params):
    with raises(ValueError, "Expected 4, got 5", "pass batch_first=True"):
        jrnn.rnn(params, x(2, 4, 5))
    with pytest.raises(ValueError) as info:
        jrnn.rnn(params, x(2, 6, 5))
    assert "batch_first" not in str(info.value)


def test_x_features_checked_under_jit(params):
    with raises(ValueError, "Expected 4, got 7", "`jrnn.rnn`"):
        jax.jit(jrnn.rnn)(params, x(3, 2, 7))


@pytest.mark.parametrize(
    ("shape", "batch_first"), [((0, 2, 4), False), ((2, 0, 4), True), ((0, 4), False)]
)
def test_empty_sequence(params, shape, batch_first):
    with raises(ValueError, "`jrnn.rnn`", "sequence length", "larger than 0", f"x.shape={shape}"):
        jrnn.rnn(params, x(*shape), batch_first=batch_first)


# ---- dtypes ------------------------------------------------------------------------------------


def test_x_dtype_mismatch(params):
    with raises(TypeError, "`jrnn.rnn`", "x.dtype=float32", "params' dtype", "x.dtype=float64"):
        jrnn.rnn(params, x(3, 2, 4, dtype=jnp.float64))
    with raises(TypeError, "`jrnn.rnn`", "x.dtype=float32", "x.dtype=int32"):
        jrnn.rnn(params, x(3, 2, 4, dtype=jnp.int32))
    with raises(TypeError, "x.dtype=float32", "x.dtype=bfloat16"):
        jrnn.rnn(params, x(3, 4, dtype=jnp.bfloat16))  # unbatched too


def test_h0_dtype_mismatch(params):
    with raises(TypeError, "`jrnn.rnn`", "h0.dtype=float32", "h0.dtype=float64"):
        jrnn.rnn(params, x(3, 2, 4), jnp.zeros((2, 2, 3), jnp.float64))


def test_params_dtypes_mixed_or_not_floating(params):
    mixed = dict(params, bias_hh_l1=params["bias_hh_l1"].astype(jnp.float64))
    with raises(
        TypeError, "`jrnn.rnn`", "one floating dtype", "bias_ih_l1: float32", "bias_hh_l1: float64"
    ):
        jrnn.rnn(mixed, x(3, 2, 4))
    integer = {k: v.astype(jnp.int32) for k, v in params.items()}
    with raises(TypeError, "`jrnn.rnn`", "floating dtype", "weight_ih_l0: int32"):
        jrnn.rnn(integer, x(3, 2, 4, dtype=jnp.int32))


def test_cell_dtype_mismatch(cell):
    with raises(TypeError, "`jrnn.cell_step`", "x_t.dtype=float32", "x_t.dtype=float64"):
        jrnn.cell_step(cell, x(2, 4, dtype=jnp.float64))
    with raises(TypeError, "`jrnn.cell_step`", "h.dtype=float32", "h.dtype=float16"):
        jrnn.cell_step(cell, x(2, 4), jnp.zeros((2, 3), jnp.float16))


# ---- h0 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("h0_shape", "hint"),
    [
        ((2, 3), "must be 3-D"),  # batched x, unbatched h0
        ((2, 1, 3), ""),  # N=1 does not broadcast
        ((1, 2, 3), ""),  # too few states
        ((4, 2, 3), ""),  # e.g. bidirectional by mistake
        ((2, 2, 4), ""),  # wrong H
        ((2, 2, 3, 1), ""),  # rank 4
    ],
)
def test_h0_shape_batched(params, h0_shape, hint):
    with raises(ValueError, "`jrnn.rnn`", "h0.shape=(2, 2, 3)", f"got h0.shape={h0_shape}", hint):
        jrnn.rnn(params, x(5, 2, 4), jnp.zeros(h0_shape))


def test_h0_shape_batch_first_is_still_state_first(params):
    with raises(ValueError, "`jrnn.rnn`", "h0.shape=(2, 5, 3)", "got h0.shape=(5, 2, 3)"):
        jrnn.rnn(params, x(5, 7, 4), jnp.zeros((5, 2, 3)), batch_first=True)


@pytest.mark.parametrize(
    ("h0_shape", "hint"),
    [((2, 1, 3), "must be 2-D"), ((2, 4), ""), ((1, 3), ""), ((6,), "")],
)
def test_h0_shape_unbatched(params, h0_shape, hint):
    with raises(ValueError, "`jrnn.rnn`", "h0.shape=(2, 3)", f"got h0.shape={h0_shape}", hint):
        jrnn.rnn(params, x(5, 4), jnp.zeros(h0_shape))


# ---- params ------------------------------------------------------------------------------------


def test_params_not_a_mapping(params):
    with raises(TypeError, "`jrnn.rnn`", "params to be a dict of arrays", "got list"):
        jrnn.rnn(list(params.values()), x(3, 2, 4))
    with raises(TypeError, "`jrnn.cell_step`", "params to be a dict", "got tuple"):
        jrnn.cell_step(tuple(params.values()), x(2, 4))


def test_params_entry_not_an_array(params):
    with raises(TypeError, "`jrnn.rnn`", "params['bias_ih_l0'] to be an array", "got list"):
        jrnn.rnn(dict(params, bias_ih_l0=[0.0, 0.0, 0.0]), x(3, 2, 4))


def test_params_missing_key(params):
    broken = {k: v for k, v in params.items() if k != "bias_hh_l1"}
    with raises(
        ValueError,
        "`jrnn.rnn`",
        "not a torch.nn.RNN state_dict",
        "missing key 'bias_hh_l1' (expected shape (3,))",
    ):
        jrnn.rnn(broken, x(3, 2, 4))


def test_params_missing_first_weight(params):
    broken = {k: v for k, v in params.items() if k != "weight_ih_l0"}
    with raises(
        ValueError, "`jrnn.rnn`", "missing key 'weight_ih_l0' (expected shape ('H', 'H_in'))"
    ):
        jrnn.rnn(broken, x(3, 2, 4))


def test_params_first_weight_not_a_matrix(params):
    broken = dict(params, weight_ih_l0=jnp.zeros((3, 4, 1)))
    with raises(
        ValueError, "`jrnn.rnn`", "key 'weight_ih_l0': expected shape ('H', 'H_in'), got (3, 4, 1)"
    ):
        jrnn.rnn(broken, x(3, 2, 4))


def test_params_unexpected_and_misshaped_keys_are_all_listed(params):
    broken = dict(params, weight_hh_l1=jnp.zeros((3, 2)), extra=jnp.zeros(5))
    broken = {k: v for k, v in broken.items() if k != "bias_ih_l0"}
    with raises(
        ValueError,
        "`jrnn.rnn`",
        "missing key 'bias_ih_l0' (expected shape (3,))",
        "unexpected key 'extra' (shape (5,))",
        "key 'weight_hh_l1': expected shape (3, 3), got (3, 2)",
    ):
        jrnn.rnn(broken, x(3, 2, 4))


def test_params_reverse_direction_incomplete(params):
    broken = dict(params, weight_ih_l0_reverse=jnp.zeros((3, 4)))
    with raises(
        ValueError,
        "missing key 'weight_hh_l0_reverse' (expected shape (3, 3))",
        "missing key 'weight_ih_l1_reverse' (expected shape (3, 6))",
        "key 'weight_ih_l1': expected shape (3, 6), got (3, 3)",
    ):
        jrnn.rnn(broken, x(3, 2, 4))


def test_params_scalar_recurrent_weight(params, cell):
    with raises(ValueError, "`jrnn.rnn`", "key 'weight_hh_l0': expected shape (3, 3), got ()"):
        jrnn.rnn(dict(params, weight_hh_l0=jnp.zeros(())), x(3, 2, 4))
    with raises(ValueError, "`jrnn.cell_step`", "key 'weight_hh': expected shape (3, 3), got ()"):
        jrnn.cell_step(dict(cell, weight_hh=jnp.zeros(())), x(2, 4))


def _torch_params(module):
    return {k: jnp.asarray(v.detach().numpy()) for k, v in module.state_dict().items()}


@pytest.mark.parametrize(("kind", "gates"), [("LSTM", 4), ("GRU", 3)])
def test_lstm_or_gru_params_get_a_hint(kind, gates):
    params = _torch_params(getattr(torch.nn, kind)(4, 3, 2))
    with raises(
        ValueError,
        "`jrnn.rnn`",
        "not a torch.nn.RNN state_dict",
        f"key 'weight_hh_l0': expected shape ({gates * 3}, {gates * 3}), got ({gates * 3}, 3)",
        f"look like torch.nn.{kind} params: call `jrnn.{kind.lower()}`",
    ):
        jrnn.rnn(params, x(3, 2, 4))
    cell = _torch_params(getattr(torch.nn, kind + "Cell")(4, 3))
    with raises(
        ValueError,
        "`jrnn.cell_step`",
        "not a torch.nn.RNNCell state_dict",
        f"look like torch.nn.{kind}Cell params: call `jrnn.{kind.lower()}_cell_step`",
    ):
        jrnn.cell_step(cell, x(2, 4))


def test_cell_params_passed_to_rnn(cell):
    with raises(
        ValueError,
        "`jrnn.rnn`",
        "RNNCell keys",
        "needs torch.nn.RNN keys ('weight_ih_l0', ...)",
        "Use `jrnn.cell_step`",
    ):
        jrnn.rnn(cell, x(3, 2, 4))


def test_rnn_params_passed_to_cell(params):
    with raises(
        ValueError,
        "`jrnn.cell_step`",
        "torch.nn.RNN keys",
        "needs torch.nn.RNNCell keys ('weight_ih', 'weight_hh', 'bias_ih', 'bias_hh')",
        "Use `jrnn.rnn`",
    ):
        jrnn.cell_step(params, x(2, 4))


def test_cell_params_missing_and_misshaped(cell):
    broken = dict(cell, bias_hh=jnp.zeros((3, 1)), weight_hr=jnp.zeros((3, 3)))
    del broken["bias_ih"]
    with raises(
        ValueError,
        "`jrnn.cell_step`",
        "not a torch.nn.RNNCell state_dict",
        "missing key 'bias_ih' (expected shape (3,))",
        "unexpected key 'weight_hr' (shape (3, 3))",
        "key 'bias_hh': expected shape (3,), got (3, 1)",
    ):
        jrnn.cell_step(broken, x(2, 4))


# ---- keyword options ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["sigmoid", "Tanh", None, 1])
def test_nonlinearity(params, cell, value):
    with raises(ValueError, "`jrnn.rnn`", "nonlinearity 'tanh' or 'relu'", f"got {value!r}"):
        jrnn.rnn(params, x(3, 2, 4), nonlinearity=value)
    with raises(ValueError, "`jrnn.cell_step`", "nonlinearity 'tanh' or 'relu'", f"got {value!r}"):
        jrnn.cell_step(cell, x(2, 4), nonlinearity=value)


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), True, "0.5", None])
def test_dropout_outside_unit_interval(params, value):
    with raises(
        ValueError, "`jrnn.rnn`", "dropout to be a probability in [0, 1]", f"got dropout={value!r}"
    ):
        jrnn.rnn(params, x(3, 2, 4), dropout=value, key=jax.random.key(0))


# ---- lengths -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x_shape", "lengths", "expected", "got"),
    [
        ((3, 2, 4), np.array([3, 2, 1]), "(2,)", "(3,)"),
        ((3, 2, 4), np.array([[3, 2]]), "(2,)", "(1, 2)"),
        ((3, 2, 4), 3, "(2,)", "()"),
        ((3, 4), np.array([3]), "()", "(1,)"),  # unbatched: a scalar
    ],
)
def test_lengths_shape(params, x_shape, lengths, expected, got):
    with raises(
        ValueError, "`jrnn.rnn`", f"lengths of shape {expected}", f"got lengths.shape={got}"
    ):
        jrnn.rnn(params, x(*x_shape), lengths=lengths)


def test_lengths_batch_first_shape_is_batch(params):
    with raises(ValueError, "lengths of shape (5,)", "got lengths.shape=(3,)"):
        jrnn.rnn(params, x(5, 3, 4), lengths=np.array([3, 3, 3]), batch_first=True)


@pytest.mark.parametrize(
    ("lengths", "dtype"),
    [
        (np.array([3.0, 2.0]), "float64"),
        (jnp.array([3, 2], jnp.float32), "float32"),
        (np.array([True, False]), "bool"),
        ([3.0, 1.0], "float64"),
    ],
)
def test_lengths_dtype(params, lengths, dtype):
    with raises(
        TypeError, "`jrnn.rnn`", "lengths of an integer dtype", f"got lengths.dtype={dtype}"
    ):
        jrnn.rnn(params, x(3, 2, 4), lengths=lengths)


@pytest.mark.parametrize(
    ("lengths", "low", "high"),
    [([4, 2], 2, 4), ([-1, 2], -1, 2), (np.array([0, 9]), 0, 9), (jnp.array([-3, 7]), -3, 7)],
)
def test_lengths_out_of_range(params, lengths, low, high):
    with raises(
        ValueError,
        "`jrnn.rnn`",
        "every entry of lengths in [0, 3]",
        "L=3 from x",
        f"got lengths with min={low}, max={high}",
    ):
        jrnn.rnn(params, x(3, 2, 4), lengths=lengths)


def test_lengths_out_of_range_unbatched(params):
    with raises(ValueError, "every entry of lengths in [0, 3]", "got lengths with min=5, max=5"):
        jrnn.rnn(params, x(3, 4), lengths=5)


# ---- init --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, 2.0, True, "3", None])
@pytest.mark.parametrize("arg", ["input_size", "hidden_size", "num_layers"])
def test_init_rnn_sizes(arg, value):
    sizes = {"input_size": 2, "hidden_size": 3, "num_layers": 1, arg: value}
    with raises(ValueError, "`jrnn.init_rnn`", f"{arg} to be an integer >= 1", f"got {value!r}"):
        jrnn.init_rnn(jax.random.key(0), **sizes)


@pytest.mark.parametrize("value", [0, -1, 2.0, True])
@pytest.mark.parametrize("arg", ["input_size", "hidden_size"])
def test_init_rnn_cell_sizes(arg, value):
    sizes = {"input_size": 2, "hidden_size": 3, arg: value}
    with raises(
        ValueError, "`jrnn.init_rnn_cell`", f"{arg} to be an integer >= 1", f"got {value!r}"
    ):
        jrnn.init_rnn_cell(jax.random.key(0), **sizes)


@pytest.mark.parametrize("dtype", [jnp.int32, "int8", bool, jnp.complex64])
def test_init_dtype_not_floating(dtype):
    with raises(TypeError, "`jrnn.init_rnn`", "a floating dtype", f"got dtype={dtype!r}"):
        jrnn.init_rnn(jax.random.key(0), 2, 3, dtype=dtype)
    with raises(TypeError, "`jrnn.init_rnn_cell`", "a floating dtype", f"got dtype={dtype!r}"):
        jrnn.init_rnn_cell(jax.random.key(0), 2, 3, dtype=dtype)


# ---- cell_step ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 5), (5,), (4, 2), (1, 2, 4), ()])
def test_cell_x_shape(cell, shape):
    with raises(
        ValueError,
        "`jrnn.cell_step`",
        "x_t of shape (N, 4) or (4,)",
        "params['weight_ih']",
        f"got x_t.shape={shape}",
    ):
        jrnn.cell_step(cell, x(*shape))


@pytest.mark.parametrize(
    ("x_shape", "h_shape"),
    [((2, 4), (1, 3)), ((1, 4), (2, 3)), ((2, 4), (3,)), ((4,), (1, 3)), ((2, 4), (2, 4))],
)
def test_cell_h_shape_no_broadcasting(cell, x_shape, h_shape):
    expected = (*x_shape[:-1], 3)
    with raises(
        ValueError,
        "`jrnn.cell_step`",
        f"h of shape {expected}",
        "no broadcasting",
        f"got h.shape={h_shape}",
    ):
        jrnn.cell_step(cell, x(*x_shape), jnp.zeros(h_shape))
