"""Bad input gets torch's exception type and torch's own sentence, then jrnn's context.

Each case runs the same mistake through torch (2.13) and through jrnn: jrnn's exception must be
an instance of the type torch raised (as well as the Python-conventional type jrnn documents),
and its message must start with torch's first sentence, word for word.
"""

import re
import warnings

import jax
import jax.numpy as jnp
import pytest
import torch

import jrnn

KEY = jax.random.key(0)
RNN = jrnn.init_rnn(KEY, 10, 5, 2)
LSTM = jrnn.init_lstm(KEY, 10, 5, 2)
GRU = jrnn.init_gru(KEY, 10, 5, 2)
CELLS = {
    "RNN": jrnn.init_rnn_cell(KEY, 10, 5),
    "LSTM": jrnn.init_lstm_cell(KEY, 10, 5),
    "GRU": jrnn.init_gru_cell(KEY, 10, 5),
}
TORCH = {kind: getattr(torch.nn, kind)(10, 5, 2) for kind in ("RNN", "LSTM", "GRU")}
TORCH_CELLS = {kind: getattr(torch.nn, kind + "Cell")(10, 5) for kind in CELLS}
CELL_STEPS = {"RNN": jrnn.cell_step, "LSTM": jrnn.lstm_cell_step, "GRU": jrnn.gru_cell_step}


def ones(*shape, dtype=jnp.float32):
    return jnp.ones(shape, dtype)


def t(*shape, dtype=torch.float32):
    return torch.ones(shape, dtype=dtype)


# name: (torch's call, jrnn's call, the Python type jrnn documents)
CASES = {
    "h0 shape": (
        lambda: TORCH["RNN"](t(3, 7, 10), t(2, 4, 5)),
        lambda: jrnn.rnn(RNN, ones(3, 7, 10), ones(2, 4, 5)),
        ValueError,
    ),
    "gru h0 shape": (
        lambda: TORCH["GRU"](t(3, 7, 10), t(4, 7, 5)),
        lambda: jrnn.gru(GRU, ones(3, 7, 10), ones(4, 7, 5)),
        ValueError,
    ),
    "lstm h0 shape": (
        lambda: TORCH["LSTM"](t(3, 7, 10), (t(2, 4, 5), t(2, 7, 5))),
        lambda: jrnn.lstm(LSTM, ones(3, 7, 10), (ones(2, 4, 5), ones(2, 7, 5))),
        ValueError,
    ),
    "lstm c0 shape": (
        lambda: TORCH["LSTM"](t(3, 7, 10), (t(2, 7, 5), t(2, 7, 4))),
        lambda: jrnn.lstm(LSTM, ones(3, 7, 10), (ones(2, 7, 5), ones(2, 7, 4))),
        ValueError,
    ),
    "unbatched x, 3-D h0": (
        lambda: TORCH["RNN"](t(3, 10), t(2, 1, 5)),
        lambda: jrnn.rnn(RNN, ones(3, 10), ones(2, 1, 5)),
        ValueError,
    ),
    "batched x, 2-D h0": (
        lambda: TORCH["GRU"](t(3, 7, 10), t(2, 5)),
        lambda: jrnn.gru(GRU, ones(3, 7, 10), ones(2, 5)),
        ValueError,
    ),
    "sequence length 0": (
        lambda: TORCH["LSTM"](t(0, 7, 10)),
        lambda: jrnn.lstm(LSTM, ones(0, 7, 10)),
        ValueError,
    ),
    "input size": (
        lambda: TORCH["RNN"](t(3, 7, 11)),
        lambda: jrnn.rnn(RNN, ones(3, 7, 11)),
        ValueError,
    ),
    "rank 4": (
        lambda: TORCH["RNN"](t(3, 7, 1, 10)),
        lambda: jrnn.rnn(RNN, ones(3, 7, 1, 10)),
        ValueError,
    ),
    "lstm rank 1": (
        lambda: TORCH["LSTM"](t(10)),
        lambda: jrnn.lstm(LSTM, ones(10)),
        ValueError,
    ),
    "x dtype": (
        lambda: TORCH["GRU"](t(3, 7, 10, dtype=torch.float64)),
        lambda: jrnn.gru(GRU, ones(3, 7, 10, dtype=jnp.float64)),
        TypeError,
    ),
    "cell input size": (
        lambda: TORCH_CELLS["RNN"](t(3, 11)),
        lambda: jrnn.cell_step(CELLS["RNN"], ones(3, 11)),
        ValueError,
    ),
    "cell batch": (
        lambda: TORCH_CELLS["GRU"](t(3, 10), t(5, 5)),
        lambda: jrnn.gru_cell_step(CELLS["GRU"], ones(3, 10), ones(5, 5)),
        ValueError,
    ),
    "lstm cell batch": (
        lambda: TORCH_CELLS["LSTM"](t(3, 10), (t(5, 5), t(5, 5))),
        lambda: jrnn.lstm_cell_step(CELLS["LSTM"], ones(3, 10), (ones(5, 5), ones(5, 5))),
        ValueError,
    ),
    "cell hidden size": (
        lambda: TORCH_CELLS["RNN"](t(3, 10), t(3, 4)),
        lambda: jrnn.cell_step(CELLS["RNN"], ones(3, 10), ones(3, 4)),
        ValueError,
    ),
    "lstm cell c size": (
        lambda: TORCH_CELLS["LSTM"](t(3, 10), (t(3, 5), t(3, 4))),
        lambda: jrnn.lstm_cell_step(CELLS["LSTM"], ones(3, 10), (ones(3, 5), ones(3, 4))),
        ValueError,
    ),
    "cell rank": (
        lambda: TORCH_CELLS["LSTM"](t(3, 1, 10)),
        lambda: jrnn.lstm_cell_step(CELLS["LSTM"], ones(3, 1, 10)),
        ValueError,
    ),
    "cell hidden rank": (
        lambda: TORCH_CELLS["GRU"](t(3, 10), t(3, 1, 5)),
        lambda: jrnn.gru_cell_step(CELLS["GRU"], ones(3, 10), ones(3, 1, 5)),
        ValueError,
    ),
    "cell nonlinearity": (
        lambda: torch.nn.RNNCell(10, 5, nonlinearity="gelu")(t(2, 10)),
        lambda: jrnn.cell_step(CELLS["RNN"], ones(2, 10), nonlinearity="gelu"),
        ValueError,
    ),
    "nonlinearity": (
        lambda: torch.nn.RNN(10, 5, nonlinearity="gelu"),
        lambda: jrnn.rnn(RNN, ones(3, 7, 10), nonlinearity="gelu"),
        ValueError,
    ),
    "dropout": (
        lambda: torch.nn.GRU(10, 5, dropout=1.5),
        lambda: jrnn.gru(GRU, ones(3, 7, 10), dropout=1.5, key=KEY),
        ValueError,
    ),
    "hidden_size 0": (
        lambda: torch.nn.LSTM(10, 0),
        lambda: jrnn.init_lstm(KEY, 10, 0),
        ValueError,
    ),
    "num_layers 0": (
        lambda: torch.nn.RNN(10, 5, 0),
        lambda: jrnn.init_rnn(KEY, 10, 5, 0),
        ValueError,
    ),
    "hidden_size float": (
        lambda: torch.nn.GRU(10, 5.0),
        lambda: jrnn.init_gru(KEY, 10, 5.0),
        ValueError,
    ),
    "proj_size on GRU": (
        lambda: torch.nn.GRU(10, 5, proj_size=2),
        lambda: jrnn.init_gru(KEY, 10, 5, proj_size=2),
        ValueError,
    ),
    "negative length": (
        lambda: torch.nn.utils.rnn.pack_padded_sequence(
            t(3, 2, 10), torch.tensor([3, -1]), enforce_sorted=False
        ),
        lambda: jrnn.rnn(RNN, ones(3, 2, 10), lengths=jnp.array([3, -1])),
        ValueError,
    ),
}


def torch_error(call) -> Exception:
    with warnings.catch_warnings(), pytest.raises(Exception) as caught:
        warnings.simplefilter("ignore")
        call()
    return caught.value


@pytest.mark.parametrize("case", CASES)
def test_torch_type_and_sentence_then_jrnns_context(case):
    torch_call, jrnn_call, documented = CASES[case]
    expected = torch_error(torch_call)
    sentence = re.split(r"\.( |$)", str(expected))[0]  # torch's first sentence
    with pytest.raises(type(expected)) as caught:
        jrnn_call()
    assert isinstance(caught.value, documented)
    message = str(caught.value)
    assert message.startswith(sentence), (message, sentence)
    assert "`jrnn." in message[len(sentence) :]  # then jrnn's context: the function


def test_the_two_types_are_exported_and_catch_both_ways():
    with pytest.raises(jrnn.ValueAndRuntimeError):
        jrnn.rnn(RNN, ones(3, 7, 10), ones(2, 4, 5))
    with pytest.raises(jrnn.TypeAndValueError):
        jrnn.rnn(RNN, ones(3, 7, 10, dtype=jnp.float64))
    assert issubclass(jrnn.ValueAndRuntimeError, ValueError | RuntimeError)
    assert issubclass(jrnn.TypeAndValueError, TypeError | ValueError)


def test_torch_tensors_are_accepted_as_inputs_and_a_whole_model_gets_the_prefix_hint():
    torch.manual_seed(0)
    module = torch.nn.GRU(10, 5, 2)
    x, h0 = torch.randn(3, 7, 10, requires_grad=True), torch.randn(2, 7, 5)
    output, h_n = jrnn.gru(jrnn.from_torch(module), x, h0)  # tensors in, as NumPy arrays are
    want_output, want_h_n = module(x, h0)
    assert jnp.allclose(output, want_output.detach().numpy(), atol=1e-6)
    assert jnp.allclose(h_n, want_h_n.detach().numpy(), atol=1e-6)

    model = torch.nn.ModuleDict({"embed": torch.nn.Embedding(4, 10), "rnn": module})
    with pytest.raises(ValueError, match=r"unexpected key 'rnn.weight_ih_l0'(.|\n)*prefix='rnn.'"):
        jrnn.gru(dict(model.state_dict()), x)
