"""Bad input to the LSTM and GRU functions and cells: the exception type, and a message naming the
public function, the argument, what was expected (and where from) and what arrived.

Checks shared with ``jrnn.rnn`` (x, lengths, key) get one case each here, to prove the message
names the right function; tests/test_errors.py covers them in depth. Every error fires while the
arguments are checked, before XLA: ``test_checked_under_jit`` repeats the cases inside jax.jit.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jrnn

F32 = jnp.float32
KEY = jax.random.key(0)


def raises(exception, *fragments):
    """pytest.raises matching every fragment, literally and in order, anywhere in the message."""
    return pytest.raises(exception, match="(?s)" + ".*".join(map(re.escape, fragments)))


def z(*shape, dtype=F32):
    return jnp.zeros(shape, dtype)


# H_in=4, H=3, two layers (S=2) unless said otherwise; x is (L=5, N=2, H_in=4).
LSTM = jrnn.init_lstm(KEY, 4, 3, 2)
LSTM_PROJ = jrnn.init_lstm(KEY, 4, 3, 2, proj_size=2)  # h0 (2, N, 2), c0 (2, N, 3)
GRU = jrnn.init_gru(KEY, 4, 3, 2)
GRU_H4 = jrnn.init_gru(KEY, 4, 4)  # weight_ih (12, 4): divisible by LSTM's 4 gates too
RNN = jrnn.init_rnn(KEY, 4, 3, 2)
LSTM_CELL = jrnn.init_lstm_cell(KEY, 4, 3)
GRU_CELL = jrnn.init_gru_cell(KEY, 4, 3)
RNN_CELL = jrnn.init_rnn_cell(KEY, 4, 3)
X = z(5, 2, 4)

# ---- LSTM state --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "got"),
    [
        (z(2, 2, 3), "got an array of shape (2, 2, 3)"),  # h0 alone
        (z(2, 2, 2, 3), "got an array of shape (2, 2, 2, 3)"),  # h0 and c0 stacked
        ([z(2, 2, 3)] * 3, "got a list of 3 items"),
        ((z(2, 2, 3),), "got a tuple of 1 item"),
        ({"h0": z(2, 2, 3), "c0": z(2, 2, 3)}, "got dict"),
    ],
)
def test_lstm_state_not_a_pair(state, got):
    with raises(
        TypeError,
        "`jrnn.lstm`",
        "state to be a (h0, c0) pair",
        got,
        "pass state=(h0, c0) with h0 of shape (2, 2, 3)",
        "c0 of shape (2, 2, 3)",
    ):
        jrnn.lstm(LSTM, X, state)


def test_lstm_state_not_a_pair_names_projected_shapes():
    with raises(TypeError, "`jrnn.lstm`", "h0 of shape (2, 2, 2)", "c0 of shape (2, 2, 3)"):
        jrnn.lstm(LSTM_PROJ, X, z(2, 2, 2))


@pytest.mark.parametrize("h0_shape", [(2, 2, 4), (1, 2, 3), (2, 1, 3), (2, 2, 3, 1)])
def test_lstm_h0_shape(h0_shape):
    with raises(
        ValueError,
        "`jrnn.lstm`",
        "expected h0.shape=(2, 2, 3) (D*num_layers, N, H_out)",
        "H_out=3 (hidden_size, from params['weight_ih_l0'])",
        f"got h0.shape={h0_shape}",
    ):
        jrnn.lstm(LSTM, X, (z(*h0_shape), z(2, 2, 3)))


@pytest.mark.parametrize("c0_shape", [(2, 2, 4), (2, 3, 3), (4, 2, 3)])
def test_lstm_c0_shape(c0_shape):
    with raises(
        ValueError,
        "`jrnn.lstm`",
        "expected c0.shape=(2, 2, 3) (D*num_layers, N, H)",
        "H=3 (hidden_size, from params['weight_ih_l0'])",
        f"got c0.shape={c0_shape}",
    ):
        jrnn.lstm(LSTM, X, (z(2, 2, 3), z(*c0_shape)))


def test_lstm_proj_h0_is_proj_size_wide():
    with raises(
        ValueError,
        "`jrnn.lstm`",
        "expected h0.shape=(2, 2, 2)",
        "H_out=2 (proj_size, from params['weight_hr_l0'])",
        "got h0.shape=(2, 2, 3)",
        "With proj_size=2, h0 (like h_n and output) has proj_size features; only c0 has "
        "hidden_size=3",
    ):
        jrnn.lstm(LSTM_PROJ, X, (z(2, 2, 3), z(2, 2, 3)))


def test_lstm_proj_c0_is_hidden_size_wide():
    with raises(
        ValueError,
        "`jrnn.lstm`",
        "expected c0.shape=(2, 2, 3)",
        "H=3 (hidden_size",
        "got c0.shape=(2, 2, 2)",
    ):
        jrnn.lstm(LSTM_PROJ, X, (z(2, 2, 2), z(2, 2, 2)))


def test_lstm_proj_state_swapped():
    with raises(
        ValueError,
        "`jrnn.lstm`",
        "expected h0.shape=(2, 2, 2)",
        "got h0.shape=(2, 2, 3)",
        "These look swapped: pass state=(h0, c0), h0 first",
    ):
        jrnn.lstm(LSTM_PROJ, X, (z(2, 2, 3), z(2, 2, 2)))


def test_lstm_state_bidirectional_counts_directions():
    params = jrnn.init_lstm(KEY, 4, 3, bidirectional=True)
    with raises(ValueError, "`jrnn.lstm`", "expected h0.shape=(2, 2, 3)", "got h0.shape=(1, 2, 3)"):
        jrnn.lstm(params, X, (z(1, 2, 3), z(1, 2, 3)))


def test_lstm_state_batch_first_is_still_state_first():
    with raises(ValueError, "`jrnn.lstm`", "expected h0.shape=(2, 7, 3)", "got h0.shape=(7, 2, 3)"):
        jrnn.lstm(LSTM, z(7, 5, 4), (z(7, 2, 3), z(2, 7, 3)), batch_first=True)


def test_lstm_state_rank_batched_x():
    with raises(
        ValueError,
        "`jrnn.lstm`",
        "expected h0.shape=(2, 2, 3)",
        "got h0.shape=(2, 3)",
        "For batched 3-D x, h0 must be 3-D (D*num_layers, N, H_out), also when batch_first",
    ):
        jrnn.lstm(LSTM, X, (z(2, 3), z(2, 3)))
    with raises(ValueError, "expected c0.shape=(2, 2, 3)", "got c0.shape=(2, 3)", "c0 must be 3-D"):
        jrnn.lstm(LSTM, X, (z(2, 2, 3), z(2, 3)))


def test_lstm_state_rank_unbatched_x():
    with raises(
        ValueError,
        "`jrnn.lstm`",
        "expected h0.shape=(2, 3) (D*num_layers, H_out)",
        "got h0.shape=(2, 1, 3)",
        "For unbatched 2-D x, h0 must be 2-D",
    ):
        jrnn.lstm(LSTM, z(5, 4), (z(2, 1, 3), z(2, 1, 3)))
    with raises(ValueError, "expected c0.shape=(2, 3) (D*num_layers, H)", "c0 must be 2-D"):
        jrnn.lstm(LSTM, z(5, 4), (z(2, 3), z(2, 1, 3)))


def test_lstm_state_dtype():
    with raises(TypeError, "`jrnn.lstm`", "h0.dtype=float32", "got h0.dtype=float64"):
        jrnn.lstm(LSTM, X, (z(2, 2, 3, dtype=jnp.float64), z(2, 2, 3)))
    with raises(TypeError, "`jrnn.lstm`", "c0.dtype=float32", "got c0.dtype=float16"):
        jrnn.lstm(LSTM, X, (z(2, 2, 3), z(2, 2, 3, dtype=jnp.float16)))
    with raises(TypeError, "`jrnn.lstm`", "c0.dtype=float32", "got c0.dtype=int32"):
        jrnn.lstm(LSTM, X, (z(2, 2, 3), z(2, 2, 3, dtype=jnp.int32)))


@pytest.mark.parametrize("value", ["abc", object()])
def test_state_not_array_like(value):
    with raises(TypeError, "`jrnn.lstm`", "expected c0 to be an array", type(value).__name__):
        jrnn.lstm(LSTM, X, (z(2, 2, 3), value))
    with raises(TypeError, "`jrnn.gru`", "expected h0 to be an array", type(value).__name__):
        jrnn.gru(GRU, X, value)


def test_gru_h0_given_an_lstm_state():
    with raises(
        TypeError,
        "`jrnn.gru`",
        "expected h0 to be one array, got a tuple of 2 arrays",
        "a (h, c) pair is an LSTM's, for `jrnn.lstm`",
    ):
        jrnn.gru(GRU, X, (z(2, 2, 3), z(2, 2, 3)))


def test_gru_h0_given_per_layer_states():
    with raises(TypeError, "`jrnn.gru`", "got a list of 3 arrays", "h0=jnp.stack(h0)"):
        jrnn.gru(GRU, X, [z(2, 3)] * 3)


def test_gru_h0_shape():
    with raises(
        ValueError,
        "`jrnn.gru`",
        "expected h0.shape=(2, 2, 3) (D*num_layers, N, H_out)",
        "H_out=3 (hidden_size, from params['weight_ih_l0'])",
        "got h0.shape=(2, 2, 4)",
    ):
        jrnn.gru(GRU, X, z(2, 2, 4))


# ---- params of another kind --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "params", "kind", "fragment"),
    [
        (jrnn.lstm, GRU, "GRU", "weight_ih_l0': expected shape ('4*H', 'H_in'), got (9, 4)"),
        (jrnn.lstm, GRU_H4, "GRU", "weight_hh_l0': expected shape (12, 3), got (12, 4)"),
        (jrnn.lstm, RNN, "RNN", "weight_ih_l0': expected shape ('4*H', 'H_in'), got (3, 4)"),
        (jrnn.gru, LSTM, "LSTM", "weight_hh_l0': expected shape (12, 4), got (12, 3)"),
        (jrnn.gru, RNN, "RNN", "weight_hh_l0': expected shape (3, 1), got (3, 3)"),
        (jrnn.gru, LSTM_PROJ, "LSTM", "unexpected key 'weight_hr_l0' (shape (2, 3))"),
        (jrnn.rnn, LSTM_PROJ, "LSTM", "unexpected key 'weight_hr_l0' (shape (2, 3))"),
    ],
    ids=[
        "gru-to-lstm",
        "gru-h4-to-lstm",
        "rnn-to-lstm",
        "lstm-to-gru",
        "rnn-to-gru",
        "lstm-proj-to-gru",
        "lstm-proj-to-rnn",
    ],
)
def test_network_params_of_another_kind(function, params, kind, fragment):
    called = function.__name__
    with raises(
        ValueError,
        f"`jrnn.{called}`",
        f"params are not a torch.nn.{called.upper()} state_dict",
        fragment,
        f"These look like torch.nn.{kind} params: call `jrnn.{kind.lower()}`.",
    ):
        function(params, X)


def test_lstm_params_with_projection_to_gru_even_when_proj_size_too_large():
    """weight_hr marks LSTM params; gru does not apply LSTM's proj_size rule to them."""
    params = dict(LSTM, weight_hr_l0=z(3, 3), weight_hr_l1=z(3, 3))
    with raises(ValueError, "`jrnn.gru`", "call `jrnn.lstm`."):
        jrnn.gru(params, X)


@pytest.mark.parametrize(
    ("function", "params", "kind"),
    [
        (jrnn.lstm_cell_step, GRU_CELL, "GRU"),
        (jrnn.lstm_cell_step, RNN_CELL, "RNN"),
        (jrnn.gru_cell_step, LSTM_CELL, "LSTM"),
        (jrnn.gru_cell_step, RNN_CELL, "RNN"),
        (jrnn.cell_step, LSTM_CELL, "LSTM"),
        (jrnn.cell_step, GRU_CELL, "GRU"),
    ],
)
def test_cell_params_of_another_kind(function, params, kind):
    called = function.__name__
    own = {"lstm_cell_step": "LSTM", "gru_cell_step": "GRU", "cell_step": "RNN"}[called]
    call = {"LSTM": "jrnn.lstm_cell_step", "GRU": "jrnn.gru_cell_step", "RNN": "jrnn.cell_step"}
    with raises(
        ValueError,
        f"`jrnn.{called}`",
        f"params are not a torch.nn.{own}Cell state_dict",
        f"These look like torch.nn.{kind}Cell params: call `{call[kind]}`.",
    ):
        function(params, z(2, 4))


@pytest.mark.parametrize(
    ("function", "params", "kind"), [(jrnn.lstm, LSTM_CELL, "LSTM"), (jrnn.gru, GRU_CELL, "GRU")]
)
def test_cell_params_to_network(function, params, kind):
    with raises(
        ValueError,
        f"`jrnn.{kind.lower()}`",
        f"params have torch.nn.{kind}Cell keys ('weight_ih', 'weight_hh', ...)",
        f"needs torch.nn.{kind} keys ('weight_ih_l0', ...)",
        f"Use `jrnn.{kind.lower()}_cell_step` for a single {kind} cell",
        f"or `jrnn.init_{kind.lower()}` to build {kind} params",
    ):
        function(params, X)


@pytest.mark.parametrize(
    ("function", "params", "kind"),
    [
        (jrnn.lstm_cell_step, LSTM, "LSTM"),
        (jrnn.lstm_cell_step, LSTM_PROJ, "LSTM"),
        (jrnn.gru_cell_step, GRU, "GRU"),
    ],
)
def test_network_params_to_cell(function, params, kind):
    with raises(
        ValueError,
        f"`{'jrnn.' + function.__name__}`",
        f"params have torch.nn.{kind} keys ('weight_ih_l0', ...)",
        f"needs torch.nn.{kind}Cell keys ('weight_ih', 'weight_hh', 'bias_ih', 'bias_hh')",
        f"Use `jrnn.{kind.lower()}` for a whole {kind} network",
    ):
        function(params, z(2, 4))


def test_cell_params_of_another_kind_to_network():
    with raises(
        ValueError,
        "`jrnn.lstm`",
        "params have torch.nn.GRUCell keys",
        "Use `jrnn.gru_cell_step` for a single GRU cell",
    ):
        jrnn.lstm(GRU_CELL, X)


def test_network_params_of_another_kind_to_cell():
    with raises(
        ValueError,
        "`jrnn.gru_cell_step`",
        "params have torch.nn.LSTM keys",
        "Use `jrnn.lstm` for a whole LSTM network",
    ):
        jrnn.gru_cell_step(LSTM, z(2, 4))


# ---- proj_size ---------------------------------------------------------------------------------


@pytest.mark.parametrize("proj_size", [3, 4])
def test_proj_size_not_smaller_than_hidden_size(proj_size):
    params = dict(LSTM, weight_hr_l0=z(proj_size, 3), weight_hr_l1=z(proj_size, 3))
    with raises(
        ValueError,
        "proj_size has to be smaller than hidden_size",
        "`jrnn.lstm`",
        f"proj_size={proj_size} (from params['weight_hr_l0']) and hidden_size=3",
    ):
        jrnn.lstm(params, X)


def test_projection_of_the_wrong_hidden_size():
    with raises(
        ValueError,
        "`jrnn.lstm`",
        "not a torch.nn.LSTM state_dict",
        "key 'weight_hr_l0': expected shape (2, 3), got (2, 4)",
    ):
        jrnn.lstm(dict(LSTM_PROJ, weight_hr_l0=z(2, 4)), X)
    with raises(ValueError, "missing key 'weight_hr_l1' (expected shape (2, 3))"):
        jrnn.lstm({k: v for k, v in LSTM_PROJ.items() if k != "weight_hr_l1"}, X)


# ---- dropout and the static options ------------------------------------------------------------


@pytest.mark.parametrize("rate", [0, 0.0, 0.5, 1, 1.0, np.float32(0.25)])
def test_dropout_in_unit_interval_accepted(rate):
    jax.eval_shape(lambda p, x: jrnn.lstm(p, x, dropout=rate, key=KEY), LSTM, X)
    jax.eval_shape(lambda p, x: jrnn.gru(p, x, dropout=rate, key=KEY), GRU, X)


def test_dropout_one_zeroes_the_upper_layers_input():
    """torch's p = 1: layer 1 sees zeros, so the output does not depend on x."""
    out, (h_n, _) = jrnn.lstm(LSTM, X + 1, dropout=1, key=KEY)
    out_0, (h_n_0, _) = jrnn.lstm(LSTM, X, dropout=1, key=KEY)
    np.testing.assert_array_equal(out, out_0)
    assert not np.array_equal(h_n[0], h_n_0[0])  # layer 0 still reads x


@pytest.mark.parametrize(
    ("value", "extra"),
    [(-0.1, ""), (1.5, ""), (float("nan"), ""), (jnp.float32(0.5), "; pass a Python float")],
)
@pytest.mark.parametrize("function", [jrnn.lstm, jrnn.gru])
def test_dropout_outside_unit_interval(function, value, extra):
    params = LSTM if function is jrnn.lstm else GRU
    with raises(
        ValueError,
        f"`jrnn.{function.__name__}`",
        "dropout to be a probability in [0, 1]",
        f"got dropout={value!r}",
        extra,
    ):
        function(params, X, dropout=value, key=KEY)


@pytest.mark.parametrize(
    ("arg", "value"),
    [("dropout", 0.5), ("unroll", 2), ("checkpoint_every", 2), ("batch_first", True)],
)
@pytest.mark.parametrize("function", [jrnn.lstm, jrnn.gru])
def test_traced_option_must_be_static(function, arg, value):
    params = LSTM if function is jrnn.lstm else GRU

    def call(p, x, option):
        return function(p, x, key=KEY, **{arg: option})

    with raises(
        TypeError,
        f"`jrnn.{function.__name__}`",
        f"{arg} must be static",
        "traced JAX value",
        f"static_argnames=({arg!r},)",
    ):
        jax.jit(call)(params, X, value)


@pytest.mark.parametrize("arg", ["unroll", "checkpoint_every"])
def test_knobs_are_positive_integers(arg):
    with raises(ValueError, "`jrnn.lstm`", f"{arg} to be an integer >= 1", f"got {arg}=0"):
        jrnn.lstm(LSTM, X, **{arg: 0})
    with raises(ValueError, "`jrnn.gru`", f"{arg} to be an integer >= 1", f"got {arg}=2.5"):
        jrnn.gru(GRU, X, **{arg: 2.5})


@pytest.mark.parametrize(
    ("function", "params", "x_t"),
    [(jrnn.lstm_cell_step, LSTM_CELL, z(2, 4)), (jrnn.gru_cell_step, GRU_CELL, z(2, 4))],
)
def test_cell_precision(function, params, x_t):
    name = f"`jrnn.{function.__name__}`"
    with raises(ValueError, name, "expected precision to be None, a jax.lax.Precision", "'bogus'"):
        function(params, x_t, precision="bogus")
    with raises(TypeError, name, "expected precision", "got precision=3"):
        function(params, x_t, precision=3)
    with raises(TypeError, name, "precision must be static"):
        jax.jit(lambda p, x, pr: function(p, x, precision=pr))(params, x_t, 1)
    for good in ("highest", ("bfloat16", "highest"), jax.lax.Precision.HIGH):
        jax.eval_shape(lambda p, x, g=good: function(p, x, precision=g), params, x_t)


@pytest.mark.parametrize("function", [jrnn.lstm, jrnn.gru])
def test_network_precision(function):
    params = LSTM if function is jrnn.lstm else GRU
    with raises(ValueError, f"`jrnn.{function.__name__}`", "expected precision", "'bogus'"):
        function(params, X, precision="bogus")
    pair = ["highest", "default"]  # a list is as good as a tuple (the engine needs it hashable)
    as_list = jax.grad(lambda p: function(p, X, precision=pair)[0].sum())(params)
    as_tuple = jax.grad(lambda p: function(p, X, precision=tuple(pair))[0].sum())(params)
    for name, value in as_tuple.items():
        np.testing.assert_array_equal(as_list[name], value)


# ---- x, lengths, key: shared with jrnn.rnn, one case each --------------------------------------


def test_x_rank_names_lstm():
    with raises(ValueError, "`jrnn.lstm`", "x of rank 3", "got x.shape=(4,)"):
        jrnn.lstm(LSTM, z(4))


def test_x_features_names_gru_and_hints_batch_first():
    with raises(
        ValueError,
        "input.size(-1) must be equal to input_size. Expected 4, got 5",
        "`jrnn.gru`",
        "params['weight_ih_l0']",
        "pass batch_first=True",
    ):
        jrnn.gru(GRU, z(2, 4, 5))


def test_x_dtype_names_lstm():
    with raises(TypeError, "`jrnn.lstm`", "expected x.dtype=float32", "got x.dtype=float64"):
        jrnn.lstm(LSTM, z(5, 2, 4, dtype=jnp.float64))


@pytest.mark.parametrize("value", [None, "abc"])
def test_x_not_array_like(value):
    with raises(TypeError, "`jrnn.gru`", "expected x to be an array", f"got {value!r}"):
        jrnn.gru(GRU, value)


def test_empty_sequence_names_gru():
    with raises(ValueError, "`jrnn.gru`", "sequence length to be larger than 0"):
        jrnn.gru(GRU, z(0, 2, 4))


def test_lengths_names_the_function():
    with raises(ValueError, "`jrnn.lstm`", "lengths of shape (2,)", "got lengths.shape=(3,)"):
        jrnn.lstm(LSTM, X, lengths=np.array([1, 2, 3]))
    with raises(TypeError, "`jrnn.gru`", "lengths of an integer dtype", "lengths.dtype=float64"):
        jrnn.gru(GRU, X, lengths=np.array([1.0, 2.0]))
    with raises(ValueError, "`jrnn.lstm`", "lengths in [0, 5]", "got lengths with min=1, max=9"):
        jrnn.lstm(LSTM, X, lengths=np.array([1, 9]))


def test_key_names_the_function():
    with raises(TypeError, "`jrnn.lstm`", "key to be one jax.random key", "got int"):
        jrnn.lstm(LSTM, X, dropout=0.5, key=1)
    with raises(TypeError, "`jrnn.gru`", "key to be one jax.random key", "shape=(2,)"):
        jrnn.gru(GRU, X, dropout=0.5, key=jax.random.split(KEY))


# ---- cells -------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 5), (5,), (1, 2, 4), ()])
@pytest.mark.parametrize(
    ("function", "params"), [(jrnn.lstm_cell_step, LSTM_CELL), (jrnn.gru_cell_step, GRU_CELL)]
)
def test_cell_x_shape(function, params, shape):
    with raises(
        ValueError,
        f"`jrnn.{function.__name__}`",
        "x_t of shape (N, 4) or (4,)",
        "params['weight_ih']",
        f"got x_t.shape={shape}",
    ):
        function(params, z(*shape))


def test_cell_x_not_array_like_or_wrong_dtype():
    with raises(TypeError, "`jrnn.lstm_cell_step`", "expected x_t to be an array", "got None"):
        jrnn.lstm_cell_step(LSTM_CELL, None)
    with raises(TypeError, "`jrnn.gru_cell_step`", "x_t.dtype=float32", "got x_t.dtype=float64"):
        jrnn.gru_cell_step(GRU_CELL, z(2, 4, dtype=jnp.float64))


@pytest.mark.parametrize(
    ("x_shape", "h_shape", "c_shape", "bad"),
    [
        ((2, 4), (1, 3), (2, 3), "h"),  # N=1 does not broadcast
        ((2, 4), (2, 3), (2, 4), "c"),
        ((4,), (3,), (1, 3), "c"),  # unbatched x_t, batched c
        ((2, 4), (3,), (2, 3), "h"),
    ],
)
def test_lstm_cell_h_c_shape(x_shape, h_shape, c_shape, bad):
    expected = (*x_shape[:-1], 3)
    got = h_shape if bad == "h" else c_shape
    with raises(
        ValueError,
        "`jrnn.lstm_cell_step`",
        f"{bad} of shape {expected} to match x_t (no broadcasting)",
        f"got {bad}.shape={got}",
    ):
        jrnn.lstm_cell_step(LSTM_CELL, z(*x_shape), (z(*h_shape), z(*c_shape)))


def test_gru_cell_h_shape():
    with raises(
        ValueError, "`jrnn.gru_cell_step`", "h of shape (2, 3) to match x_t", "got h.shape=(2, 4)"
    ):
        jrnn.gru_cell_step(GRU_CELL, z(2, 4), z(2, 4))


@pytest.mark.parametrize(
    ("state", "got"),
    [
        (z(2, 3), "got an array of shape (2, 3)"),
        ((z(2, 3),) * 3, "got a tuple of 3 items"),
        ([z(2, 3)], "got a list of 1 item"),
    ],
)
def test_lstm_cell_state_not_a_pair(state, got):
    with raises(
        TypeError,
        "`jrnn.lstm_cell_step`",
        "state to be a (h, c) pair",
        got,
        "pass state=(h, c), each of shape (2, 3)",
    ):
        jrnn.lstm_cell_step(LSTM_CELL, z(2, 4), state)


def test_cell_state_dtype_and_type():
    with raises(TypeError, "`jrnn.lstm_cell_step`", "c.dtype=float32", "got c.dtype=float64"):
        jrnn.lstm_cell_step(LSTM_CELL, z(2, 4), (z(2, 3), z(2, 3, dtype=jnp.float64)))
    with raises(TypeError, "`jrnn.lstm_cell_step`", "expected h to be an array", "'abc'"):
        jrnn.lstm_cell_step(LSTM_CELL, z(2, 4), ("abc", z(2, 3)))
    with raises(
        TypeError,
        "`jrnn.gru_cell_step`",
        "expected h to be one array, got a tuple of 2 arrays",
        "for `jrnn.lstm_cell_step`",
    ):
        jrnn.gru_cell_step(GRU_CELL, z(2, 4), (z(2, 3), z(2, 3)))


# ---- under jax.jit: every check fires while tracing ----------------------------------------------

# (function of arrays with the configuration closed over, its array arguments, exception, fragments)
JIT_CASES = {
    "lstm bare state": (
        lambda p, x, s: jrnn.lstm(p, x, s),
        (LSTM, X, z(2, 2, 3)),
        TypeError,
        "(h0, c0) pair",
    ),
    "lstm h0 shape": (
        lambda p, x, s: jrnn.lstm(p, x, s),
        (LSTM_PROJ, X, (z(2, 2, 3), z(2, 2, 3))),
        ValueError,
        "expected h0.shape=(2, 2, 2)",
    ),
    "lstm c0 shape": (
        lambda p, x, s: jrnn.lstm(p, x, s),
        (LSTM, X, (z(2, 2, 3), z(2, 3))),
        ValueError,
        "expected c0.shape=(2, 2, 3)",
    ),
    "lstm c0 dtype": (
        lambda p, x, s: jrnn.lstm(p, x, s),
        (LSTM, X, (z(2, 2, 3), z(2, 2, 3, dtype=jnp.float64))),
        TypeError,
        "got c0.dtype=float64",
    ),
    "lstm given gru params": (
        lambda p, x: jrnn.lstm(p, x),
        (GRU_H4, X),
        ValueError,
        "call `jrnn.gru`",
    ),
    "gru given lstm params": (
        lambda p, x: jrnn.gru(p, x),
        (LSTM_PROJ, X),
        ValueError,
        "call `jrnn.lstm`",
    ),
    "gru given cell params": (
        lambda p, x: jrnn.gru(p, x),
        (GRU_CELL, X),
        ValueError,
        "Use `jrnn.gru_cell_step`",
    ),
    "proj_size": (
        lambda p, x: jrnn.lstm(p, x),
        (dict(LSTM, weight_hr_l0=z(3, 3), weight_hr_l1=z(3, 3)), X),
        ValueError,
        "params['weight_hr_l0']",
    ),
    "dropout": (
        lambda p, x: jrnn.lstm(p, x, dropout=1.5, key=KEY),
        (LSTM, X),
        ValueError,
        "[0, 1]",
    ),
    "gru h0 pair": (
        lambda p, x, h: jrnn.gru(p, x, h),
        (GRU, X, (z(2, 2, 3),) * 2),
        TypeError,
        "one array",
    ),
    "lstm x features": (
        lambda p, x: jrnn.lstm(p, x, batch_first=True),
        (LSTM, z(2, 5, 3)),
        ValueError,
        "x.shape=(2, 5, 3)",
    ),
    "gru lengths shape": (
        lambda p, x, n: jrnn.gru(p, x, lengths=n),
        (GRU, X, jnp.array([1, 2, 3])),
        ValueError,
        "lengths of shape (2,)",
    ),
    "gru key": (
        lambda p, x, k: jrnn.gru(p, x, dropout=0.5, key=k),
        (GRU, X, jax.random.split(KEY)),
        TypeError,
        "key to be one jax.random key",
    ),
    "lstm cell params to network": (
        lambda p, x: jrnn.lstm(p, x),
        (LSTM_CELL, X),
        ValueError,
        "Use `jrnn.lstm_cell_step`",
    ),
    "lstm network params to cell": (
        lambda p, x: jrnn.lstm_cell_step(p, x),
        (LSTM, z(2, 4)),
        ValueError,
        "Use `jrnn.lstm`",
    ),
    "lstm cell x_t": (
        lambda p, x: jrnn.lstm_cell_step(p, x),
        (LSTM_CELL, z(2, 5)),
        ValueError,
        "x_t of shape",
    ),
    "lstm cell state not a pair": (
        lambda p, x, s: jrnn.lstm_cell_step(p, x, s),
        (LSTM_CELL, z(2, 4), z(2, 3)),
        TypeError,
        "(h, c) pair",
    ),
    "lstm cell c shape": (
        lambda p, x, s: jrnn.lstm_cell_step(p, x, s),
        (LSTM_CELL, z(2, 4), (z(2, 3), z(1, 3))),
        ValueError,
        "got c.shape=(1, 3)",
    ),
    "gru cell h shape": (
        lambda p, x, h: jrnn.gru_cell_step(p, x, h),
        (GRU_CELL, z(2, 4), z(2, 4)),
        ValueError,
        "got h.shape=(2, 4)",
    ),
    "gru cell precision": (
        lambda p, x: jrnn.gru_cell_step(p, x, precision="bogus"),
        (GRU_CELL, z(2, 4)),
        ValueError,
        "expected precision",
    ),
}


@pytest.mark.parametrize("case", JIT_CASES)
def test_checked_under_jit(case):
    function, args, exception, fragment = JIT_CASES[case]
    with raises(exception, "`jrnn.", fragment):
        function(*args)
    with raises(exception, "`jrnn.", fragment):
        jax.jit(function)(*args)


def test_checked_under_jit_with_static_config():
    lstm = jax.jit(jrnn.lstm, static_argnames=("dropout", "batch_first", "unroll"))
    with raises(ValueError, "`jrnn.lstm`", "got dropout=-0.5"):
        lstm(LSTM, X, dropout=-0.5, key=KEY)
    with raises(ValueError, "`jrnn.lstm`", "unroll to be an integer >= 1"):
        lstm(LSTM, X, unroll=0)
    with raises(ValueError, "`jrnn.lstm`", "expected h0.shape=(2, 7, 3)"):
        lstm(LSTM, z(7, 5, 4), (z(2, 5, 3), z(2, 7, 3)), batch_first=True)
