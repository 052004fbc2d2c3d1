"""from_torch / to_torch / save / load / convert for LSTM (with proj_size), GRU and their cells.

Every case starts from a real torch module and ends in one: torch's keys, order, shapes and bits
in, ``load_state_dict(strict=True)`` out. The RNN kind is covered by test_torch_interop.py,
test_io.py and test_convert.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import safetensors
import safetensors.torch
import torch

import jrnn
from jrnn.convert import main as convert

_SAME_WIDTH_INT = {
    torch.float16: (torch.int16, np.int16),
    torch.bfloat16: (torch.int16, np.int16),
    torch.float32: (torch.int32, np.int32),
    torch.float64: (torch.int64, np.int64),
}

# (id, torch module class, kwargs, the jrnn_kind save records); sizes kept small, grid spread.
CASES = [
    ("lstm", torch.nn.LSTM, dict(input_size=3, hidden_size=4), "LSTM"),
    (
        "lstm_proj_bidir_2layers",
        torch.nn.LSTM,
        dict(input_size=3, hidden_size=5, num_layers=2, bidirectional=True, proj_size=2),
        "LSTM",
    ),
    (
        "lstm_proj_no_bias",
        torch.nn.LSTM,
        dict(input_size=1, hidden_size=2, bias=False, proj_size=1),
        "LSTM",
    ),
    (
        "gru_bidir_2layers_no_bias",
        torch.nn.GRU,
        dict(input_size=2, hidden_size=3, num_layers=2, bidirectional=True, bias=False),
        "GRU",
    ),
    ("gru_size_1", torch.nn.GRU, dict(input_size=1, hidden_size=1), "GRU"),
    ("lstm_cell", torch.nn.LSTMCell, dict(input_size=3, hidden_size=2), "LSTMCell"),
    (
        "gru_cell_no_bias",
        torch.nn.GRUCell,
        dict(input_size=2, hidden_size=3, bias=False),
        "GRUCell",
    ),
]
IDS = [case[0] for case in CASES]


def assert_same_bits(array, tensor):
    """Equal dtype, shape and bit patterns."""
    torch_int, numpy_int = _SAME_WIDTH_INT[tensor.dtype]
    array = np.asarray(array)
    assert array.dtype.name == str(tensor.dtype).removeprefix("torch.")
    assert array.shape == tuple(tensor.shape)
    np.testing.assert_array_equal(array.view(numpy_int), tensor.detach().view(torch_int).numpy())


def assert_holds(params, module):
    """``params`` has ``module``'s state_dict keys, in order, with its shapes and bits."""
    state = module.state_dict()
    assert list(params) == list(state)
    for key, tensor in state.items():
        assert isinstance(params[key], jax.Array)
        assert_same_bits(params[key], tensor)


def make(cls, kwargs, seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return cls(**kwargs, dtype=dtype)


@pytest.mark.parametrize(("cls", "kwargs", "kind"), [c[1:] for c in CASES], ids=IDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_from_torch_and_to_torch_round_trip_bit_for_bit(cls, kwargs, kind, dtype):
    module = make(cls, kwargs, 0, dtype)
    params = jrnn.from_torch(module)
    assert_holds(params, module)
    assert_holds(jrnn.from_torch(module.state_dict()), module)  # a bare state_dict too

    back = jrnn.to_torch(params)
    assert list(back) == list(module.state_dict())
    fresh = make(cls, kwargs, 1, dtype)
    fresh.load_state_dict(back, strict=True)
    assert_holds(params, fresh)


@pytest.mark.parametrize(("cls", "kwargs", "kind"), [c[1:] for c in CASES], ids=IDS)
def test_save_gives_a_file_torch_loads_strictly_and_jrnn_loads_back(tmp_path, cls, kwargs, kind):
    module = make(cls, kwargs, 2, torch.float64)
    params = jrnn.from_torch(module)
    path = tmp_path / "net.safetensors"
    jrnn.save(path, params, metadata={"task": "t"})
    assert jrnn.load_metadata(path)["jrnn_kind"] == kind
    assert jrnn.load_metadata(path)["task"] == "t"
    assert "nonlinearity" not in jrnn.load_metadata(path)

    fresh = make(cls, kwargs, 3, torch.float64)
    fresh.load_state_dict(safetensors.torch.load_file(str(path)), strict=True)
    assert_holds(params, fresh)
    assert_holds(jrnn.load(path), module)


@pytest.mark.parametrize(("cls", "kwargs", "kind"), [c[1:] for c in CASES], ids=IDS)
def test_pt_file_of_every_kind_loads(tmp_path, cls, kwargs, kind):
    module = make(cls, kwargs, 4)
    path = tmp_path / "net.pt"
    torch.save(module.state_dict(), path)
    assert_holds(jrnn.load(path), module)


class Tagger(torch.nn.Module):
    """A whole model: embedding, a 2-layer bidirectional LSTM with projection, a linear head."""

    def __init__(self):
        super().__init__()
        self.embedding = torch.nn.Embedding(10, 3, dtype=torch.float64)
        self.lstm = torch.nn.LSTM(
            3,
            4,
            num_layers=2,
            bidirectional=True,
            proj_size=2,
            batch_first=True,
            dtype=torch.float64,
        )
        self.head = torch.nn.Linear(4, 5, dtype=torch.float64)


@pytest.fixture
def tagger():
    torch.manual_seed(5)
    return Tagger()


def test_whole_model_lstm_is_picked_automatically_and_by_prefix(tagger):
    for params in (
        jrnn.from_torch(tagger),
        jrnn.from_torch(tagger.state_dict(), prefix="lstm"),
        jrnn.from_torch(tagger, prefix="lstm."),
    ):
        assert_holds(params, tagger.lstm)


def test_lstm_import_reproduces_torchs_output(tagger):
    params = jrnn.from_torch(tagger)
    tokens = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])  # (N, L)
    with torch.no_grad():
        embedded = tagger.embedding(tokens)  # (N, L, H_in)
        want_out, (want_h, want_c) = tagger.lstm(embedded)
    out, (h_n, c_n) = jrnn.lstm(params, jnp.asarray(embedded.numpy()), batch_first=True)
    assert out.shape == (2, 4, 4)  # (N, L, D*P)
    for got, want in ((out, want_out), (h_n, want_h), (c_n, want_c)):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-10, atol=1e-10)


def test_gru_import_reproduces_torchs_output(tmp_path):
    torch.manual_seed(6)
    gru = torch.nn.GRU(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64)
    path = tmp_path / "gru.pt"
    torch.save(torch.nn.Sequential(torch.nn.Linear(2, 3), gru).state_dict(), path)
    params = jrnn.load(path)  # picks the GRU out of the whole model's state_dict
    x = torch.randn(5, 2, 3, dtype=torch.float64)  # (L, N, H_in)
    h0 = torch.randn(4, 2, 4, dtype=torch.float64)  # (D*num_layers, N, H)
    with torch.no_grad():
        want_out, want_h = gru(x, h0)
    out, h_n = jrnn.gru(params, jnp.asarray(x.numpy()), jnp.asarray(h0.numpy()))
    np.testing.assert_allclose(out, want_out.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(h_n, want_h.numpy(), rtol=1e-10, atol=1e-10)


def test_several_kinds_in_one_model_need_a_prefix():
    model = torch.nn.ModuleDict({"enc": torch.nn.GRU(2, 3), "dec": torch.nn.LSTMCell(3, 3)})
    with pytest.raises(
        ValueError, match=r"holds 2 recurrent networks, at prefixes 'enc\.', 'dec\.'"
    ):
        jrnn.from_torch(model)
    assert_holds(jrnn.from_torch(model, prefix="dec"), model["dec"])
    with pytest.raises(
        ValueError, match=r"prefix='lstm\.'.*\(RNN, LSTM or GRU\).*'enc\.', 'dec\.'"
    ):
        jrnn.from_torch(model, prefix="lstm")


def test_no_recurrent_network_message_names_every_kind_and_the_anchors():
    match = (
        r"found no recurrent network \(RNN, LSTM or GRU\).*'weight_ih_l0' "
        r"\(torch\.nn\.RNN/LSTM/GRU\) or 'weight_ih' \(torch\.nn\.RNNCell/LSTMCell/GRUCell\)"
    )
    with pytest.raises(ValueError, match=match):
        jrnn.from_torch(torch.nn.Linear(2, 3))


def test_damaged_params_are_refused_as_the_kind_they_show():
    state = dict(torch.nn.LSTM(3, 4, proj_size=2, num_layers=2).state_dict())
    del state["weight_hr_l1"]
    match = (
        r"not a torch\.nn\.LSTM state_dict\.\n  missing key 'weight_hr_l1' \(expected shape \(2, 4"
    )
    with pytest.raises(ValueError, match=match):
        jrnn.from_torch(state)
    params = jrnn.from_torch(torch.nn.GRUCell(3, 4))
    params["bias_hh"] = jnp.zeros(4, jnp.float32)
    match = r"not a torch\.nn\.GRUCell state_dict\.\n  key 'bias_hh': expected shape \(12,\)"
    with pytest.raises(ValueError, match=match):
        jrnn.to_torch(params)


@pytest.mark.parametrize(("cls", "kind"), [(torch.nn.LSTM, "LSTM"), (torch.nn.GRUCell, "GRUCell")])
def test_nonlinearity_is_refused_for_lstm_and_gru(tmp_path, cls, kind):
    params = jrnn.from_torch(cls(2, 3))
    path = tmp_path / "net.safetensors"
    match = (
        rf"`jrnn\.save`: nonlinearity='tanh' is recorded only for Elman networks.*"
        rf"torch\.nn\.{kind}'s.*drop nonlinearity="
    )
    with pytest.raises(ValueError, match=match):
        jrnn.save(path, params, nonlinearity="tanh")
    assert not path.exists()


def summary_rows(text):
    return dict(line.split(maxsplit=1) for line in text.splitlines() if line.startswith("  "))


def test_convert_prints_the_kind_and_proj_size_and_writes_a_loadable_file(tagger, tmp_path):
    src, dst = tmp_path / "tagger.pt", tmp_path / "lstm.safetensors"
    torch.save(tagger.state_dict(), src)
    rows = summary_rows(convert(src, dst, prefix="lstm."))
    assert rows == {
        "kind": "torch.nn.LSTM",
        "num_layers": "2",
        "directions": "2 (bidirectional)",
        "input_size": "3",
        "hidden_size": "4",
        "proj_size": "2",
        "bias": "True",
        "dtype": "float64",
    }
    fresh = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, dtype=torch.float64)
    fresh.load_state_dict(safetensors.torch.load_file(str(dst)), strict=True)
    assert_holds(jrnn.from_torch(tagger.lstm), fresh)
    with safetensors.safe_open(str(dst), framework="np") as file:
        assert file.metadata()["jrnn_kind"] == "LSTM"


def test_convert_has_no_proj_size_row_without_a_projection(tmp_path):
    src, dst = tmp_path / "cell.pt", tmp_path / "cell.safetensors"
    torch.save(torch.nn.GRUCell(2, 3).state_dict(), src)
    rows = summary_rows(convert(src, dst))
    assert rows["kind"] == "torch.nn.GRUCell" and "proj_size" not in rows
    with pytest.raises(ValueError, match="only for Elman networks"):
        convert(src, dst, nonlinearity="relu")
