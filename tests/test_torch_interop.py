"""from_torch / to_torch against real torch modules: bits, order, dtypes, outputs, prefixes."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import jrnn
from jrnn._torch import from_torch, to_torch

_SAME_WIDTH_INT = {
    torch.float16: (torch.int16, np.int16),
    torch.bfloat16: (torch.int16, np.int16),
    torch.float32: (torch.int32, np.int32),
    torch.float64: (torch.int64, np.int64),
}

RNN_CONFIGS = [
    dict(input_size=1, hidden_size=1, num_layers=1, bias=True, bidirectional=False),
    dict(input_size=3, hidden_size=4, num_layers=2, bias=True, bidirectional=True),
    dict(input_size=2, hidden_size=3, num_layers=3, bias=False, bidirectional=False),
    dict(input_size=2, hidden_size=5, num_layers=1, bias=False, bidirectional=True),
]
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]


def assert_same_bits(array, tensor):
    """Equal dtype, shape and bit patterns (so NaN payloads and -0.0 count too)."""
    torch_int, numpy_int = _SAME_WIDTH_INT[tensor.dtype]
    array = np.asarray(array)
    assert array.dtype.name == str(tensor.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(array.view(numpy_int), tensor.detach().view(torch_int).numpy())


def torch_rnn(seed, dtype=torch.float32, **config):
    torch.manual_seed(seed)
    return torch.nn.RNN(**config, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("config", RNN_CONFIGS)
def test_rnn_round_trip_is_bit_for_bit(config, dtype):
    module = torch_rnn(0, dtype, **config)
    params = from_torch(module)
    assert list(params) == list(module.state_dict())
    for key, tensor in module.state_dict().items():
        assert isinstance(params[key], jax.Array)
        assert_same_bits(params[key], tensor)

    back = to_torch(params)
    assert list(back) == list(module.state_dict())
    fresh = torch.nn.RNN(**config, dtype=dtype)
    fresh.load_state_dict(back, strict=True)
    for key, tensor in module.state_dict().items():
        assert_same_bits(params[key], fresh.state_dict()[key])
        assert torch.equal(fresh.state_dict()[key], tensor)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
def test_cell_round_trip_is_bit_for_bit(bias, dtype):
    torch.manual_seed(1)
    cell = torch.nn.RNNCell(3, 2, bias=bias, dtype=dtype)
    params = from_torch(cell)
    assert list(params) == list(cell.state_dict())
    for key, tensor in cell.state_dict().items():
        assert_same_bits(params[key], tensor)
    fresh = torch.nn.RNNCell(3, 2, bias=bias, dtype=dtype)
    fresh.load_state_dict(to_torch(params), strict=True)
    for key, tensor in cell.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], tensor)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float32, 1e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize("config", RNN_CONFIGS)
def test_rnn_outputs_equal_the_torch_module(config, dtype, tol, nonlinearity):
    torch.manual_seed(2)
    module = torch.nn.RNN(**config, nonlinearity=nonlinearity, dtype=dtype)
    num_states = config["num_layers"] * (2 if config["bidirectional"] else 1)
    x = torch.randn(4, 2, config["input_size"], dtype=dtype)  # (L, N, H_in)
    h0 = torch.randn(num_states, 2, config["hidden_size"], dtype=dtype)  # (S, N, H)
    with torch.no_grad():
        want_out, want_h = module(x, h0)

    params = from_torch(module)
    out, h_n = jrnn.rnn(
        params, jnp.asarray(x.numpy()), jnp.asarray(h0.numpy()), nonlinearity=nonlinearity
    )
    np.testing.assert_allclose(out, want_out.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(h_n, want_h.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_cell_outputs_equal_the_torch_cell(nonlinearity):
    torch.manual_seed(3)
    cell = torch.nn.RNNCell(3, 4, nonlinearity=nonlinearity, dtype=torch.float64)
    x, h = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    with torch.no_grad():
        want = cell(x, h)
    got = jrnn.cell_step(
        from_torch(cell), jnp.asarray(x.numpy()), jnp.asarray(h.numpy()), nonlinearity=nonlinearity
    )
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-12, atol=1e-12)


def test_jrnn_params_to_torch_module_outputs_match():
    params = jrnn.init_rnn(jax.random.key(0), 3, 4, num_layers=2, dtype=jnp.float64)
    module = torch.nn.RNN(3, 4, num_layers=2, dtype=torch.float64)
    module.load_state_dict(to_torch(params), strict=True)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))  # (L, N, H_in)
    with torch.no_grad():
        want_out, want_h = module(torch.from_numpy(x))
    out, h_n = jrnn.rnn(params, jnp.asarray(x))
    np.testing.assert_allclose(out, want_out.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_n, want_h.numpy(), rtol=1e-12, atol=1e-12)


def test_state_dicts_of_numpy_and_jax_arrays_give_the_same_params():
    module = torch_rnn(4, **RNN_CONFIGS[1])
    numpy_dict = {k: v.numpy() for k, v in module.state_dict().items()}
    jax_dict = {k: jnp.asarray(v) for k, v in numpy_dict.items()}
    for params in (from_torch(numpy_dict), from_torch(jax_dict)):
        assert list(params) == list(module.state_dict())
        for key, tensor in module.state_dict().items():
            assert_same_bits(params[key], tensor)


def test_keys_come_back_in_torch_order_whatever_order_they_arrive_in():
    module = torch_rnn(5, **RNN_CONFIGS[1])
    shuffled = dict(reversed(list(module.state_dict().items())))
    assert list(from_torch(shuffled)) == list(module.state_dict())
    params = from_torch(module)
    assert list(to_torch(dict(reversed(list(params.items()))))) == list(module.state_dict())


def test_params_are_copies_not_views_of_torch_memory():
    module = torch_rnn(6, **RNN_CONFIGS[0])
    params = from_torch(module)
    before = {k: np.array(v) for k, v in params.items()}
    with torch.no_grad():
        for tensor in module.parameters():
            tensor.add_(1.0)
    tensors = to_torch(params)
    for tensor in tensors.values():
        tensor.add_(1.0)
    for key, value in params.items():
        np.testing.assert_array_equal(value, before[key])


class Tagger(torch.nn.Module):
    """An embedding, an RNN and a linear head: the usual shape of a model holding an RNN."""

    def __init__(self):
        super().__init__()
        self.embedding = torch.nn.Embedding(10, 3)
        self.rnn = torch.nn.RNN(3, 4, num_layers=2, batch_first=True)
        self.head = torch.nn.Linear(4, 5)

    def forward(self, tokens):
        return self.head(self.rnn(self.embedding(tokens))[0])


class Seq2Seq(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Tagger()
        self.decoder = torch.nn.RNNCell(5, 4)


def test_prefix_extracts_the_rnn_of_a_model():
    torch.manual_seed(7)
    model = Tagger()
    want = model.rnn.state_dict()
    for params in (
        from_torch(model, prefix="rnn."),
        from_torch(model.state_dict(), prefix="rnn."),
        from_torch(model.state_dict(), prefix="rnn"),  # the trailing dot is optional
        from_torch(model),  # the only RNN in the model
        from_torch(
            Seq2Seq().state_dict() | {f"encoder.{k}": v for k, v in model.state_dict().items()},
            prefix="encoder.rnn.",
        ),
    ):
        assert list(params) == list(want)
        for key, tensor in want.items():
            assert_same_bits(params[key], tensor)

    tokens = torch.tensor([[1, 2, 3], [4, 5, 6]])  # (N, L)
    with torch.no_grad():
        embedded = model.embedding(tokens)  # (N, L, H_in)
        want_out, _ = model.rnn(embedded)
    out, _ = jrnn.rnn(from_torch(model), jnp.asarray(embedded.numpy()), batch_first=True)
    np.testing.assert_allclose(out, want_out.numpy(), rtol=1e-5, atol=1e-5)


def test_prefix_picks_one_of_several_networks():
    model = Seq2Seq()
    cell = from_torch(model, prefix="decoder.")
    assert list(cell) == list(model.decoder.state_dict())
    for key, tensor in model.decoder.state_dict().items():
        assert_same_bits(cell[key], tensor)


def test_several_networks_without_prefix_lists_the_candidates():
    with pytest.raises(
        ValueError, match=r"2 recurrent networks, at prefixes 'encoder\.rnn\.', 'decoder\.'"
    ):
        from_torch(Seq2Seq())


def test_unknown_prefix_lists_the_candidates():
    with pytest.raises(ValueError, match=r"prefix='encoder\.'.*found.*'rnn\.'"):
        from_torch(Tagger(), prefix="encoder")


def test_state_dict_without_an_rnn_is_refused():
    model = torch.nn.Sequential(torch.nn.Embedding(3, 2), torch.nn.Linear(2, 2))
    with pytest.raises(
        ValueError, match=r"found no recurrent network.*'0\.weight', '1\.weight', '1\.bias'"
    ):
        from_torch(model)
    with pytest.raises(ValueError, match=r"found no recurrent network.*'weight_ih_l0'.*'weight'"):
        from_torch(torch.nn.Linear(3, 2).state_dict())


def test_missing_and_unexpected_keys_are_listed():
    state = torch_rnn(8, **RNN_CONFIGS[1]).state_dict()
    del state["bias_hh_l1_reverse"]
    state["weight_ih_l7"] = torch.zeros(4, 8)
    with pytest.raises(ValueError, match=r"missing key 'bias_hh_l1_reverse'[\s\S]*'weight_ih_l7'"):
        from_torch(state)


def test_params_of_no_known_kind_are_refused_as_rnn_params():
    state = {"weight_ih_l0": torch.zeros(6, 2), "weight_hh_l0": torch.zeros(6, 3)}  # 2 gates
    match = r"not a torch\.nn\.RNN state_dict\.\n  key 'weight_hh_l0': expected shape \(6, 6\)"
    with pytest.raises(ValueError, match=match):
        from_torch(state)


@pytest.mark.parametrize(
    "bad",
    [
        torch.zeros(3, 1, dtype=torch.int32),
        torch.zeros(3, 1, dtype=torch.bool),
        torch.zeros(3, 1, dtype=torch.complex64),
        np.zeros((3, 1), np.int64),
    ],
)
def test_non_floating_tensor_is_refused_naming_the_key(bad):
    state = dict(torch.nn.RNN(1, 3).state_dict())
    state["weight_ih_l0"] = bad
    with pytest.raises(
        TypeError, match=r"state_dict\['weight_ih_l0'\] has dtype .*(int|bool|complex)"
    ):
        from_torch(state)


def test_non_floating_tensor_outside_the_prefix_is_fine():
    model = torch.nn.Sequential(torch.nn.BatchNorm1d(3), torch.nn.RNN(3, 2))
    assert model.state_dict()["0.num_batches_tracked"].dtype == torch.int64
    params = from_torch(model)
    assert list(params) == list(model[1].state_dict())


def test_float64_with_jax_x64_off_is_refused_not_downcast():
    module = torch_rnn(9, torch.float64, **RNN_CONFIGS[0])
    with jax.enable_x64(False):
        with pytest.raises(TypeError, match=r"'weight_ih_l0'\] is float64 but JAX's 64-bit mode"):
            from_torch(module)
        assert from_torch(module.float())["weight_ih_l0"].dtype == jnp.float32


@pytest.mark.parametrize(
    ("obj", "prefix", "match"),
    [
        ([1.0, 2.0], "", "expected a torch.nn.Module or a state_dict.*got list"),
        ({0: torch.zeros(1)}, "", "expected state_dict keys to be str, got 0"),
        ({"weight_ih_l0": [[1.0]]}, "", r"state_dict\['weight_ih_l0'\] to be a torch tensor.*list"),
        ({}, 1, "expected prefix to be a str, got int"),
    ],
)
def test_wrong_types_are_refused(obj, prefix, match):
    with pytest.raises(TypeError, match=match):
        from_torch(obj, prefix=prefix)


def test_to_torch_validates_params():
    params = jrnn.init_rnn(jax.random.key(0), 2, 3)
    del params["weight_hh_l0"]
    with pytest.raises(ValueError, match="missing key 'weight_hh_l0'"):
        to_torch(params)
    with pytest.raises(TypeError, match="expected params to be a dict"):
        to_torch([1])


def test_importing_the_modules_does_not_import_torch_or_safetensors():
    code = (
        "import sys, jrnn, jrnn._torch, jrnn._io, jrnn.convert\n"
        "print(sorted(m for m in ('torch', 'safetensors') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
