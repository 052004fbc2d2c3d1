"""save / load / load_metadata: files torch writes and reads, damage, pickles, atomic writes."""

import json
import os
import pickle
import stat
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import safetensors
import safetensors.numpy
import safetensors.torch
import torch
from _io_faults import fail_half_way_through_writing

import jrnn
from jrnn._io import CheckpointError, load, load_metadata, save
from jrnn._torch import from_torch

_SAME_WIDTH_INT = {
    torch.float16: (torch.int16, np.int16),
    torch.bfloat16: (torch.int16, np.int16),
    torch.float32: (torch.int32, np.int32),
    torch.float64: (torch.int64, np.int64),
}


def assert_same_bits(array, tensor):
    """Equal dtype, shape and bit patterns."""
    torch_int, numpy_int = _SAME_WIDTH_INT[tensor.dtype]
    array = np.asarray(array)
    assert array.dtype.name == str(tensor.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(array.view(numpy_int), tensor.detach().view(torch_int).numpy())


def torch_rnn(seed=0, dtype=torch.float32, **config):
    torch.manual_seed(seed)
    config = {"input_size": 3, "hidden_size": 4, "num_layers": 2, "bidirectional": True} | config
    return torch.nn.RNN(**config, dtype=dtype)


def rnn_state(seed=0, dtype=torch.float32, **config):
    return torch_rnn(seed, dtype, **config).state_dict()


@pytest.fixture
def good_file(tmp_path):
    """A valid safetensors checkpoint written by torch's own safetensors binding."""
    path = tmp_path / "rnn.safetensors"
    safetensors.torch.save_file(rnn_state(), str(path))
    return path


# --- files torch writes and reads ------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
@pytest.mark.parametrize(
    "config",
    [
        dict(input_size=1, hidden_size=1, num_layers=1, bidirectional=False),
        dict(num_layers=2, bidirectional=True),
        dict(num_layers=3, bias=False, bidirectional=False),
    ],
)
def test_jrnn_file_loads_into_torch_strictly(tmp_path, config, dtype):
    module = torch_rnn(1, dtype, **config)
    params = from_torch(module)
    path = tmp_path / "rnn.safetensors"
    save(path, params)
    fresh = torch_rnn(99, dtype, **config)
    fresh.load_state_dict(safetensors.torch.load_file(str(path)), strict=True)
    for key, tensor in module.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], tensor)
        assert_same_bits(params[key], fresh.state_dict()[key])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_file_torch_wrote_loads_in_torch_order(tmp_path, dtype):
    state = rnn_state(2, dtype)
    path = tmp_path / "rnn.safetensors"
    safetensors.torch.save_file(state, str(path))
    with safetensors.safe_open(str(path), framework="np") as file:
        assert list(file.keys()) != list(state)  # the file keeps its own (sorted) order
    params = load(path)
    assert list(params) == list(state)
    for key, tensor in state.items():
        assert isinstance(params[key], jax.Array)
        assert_same_bits(params[key], tensor)


@pytest.mark.parametrize("bias", [True, False])
def test_cell_file_round_trips_through_torch(tmp_path, bias):
    torch.manual_seed(3)
    cell = torch.nn.RNNCell(2, 3, bias=bias)
    path = tmp_path / "cell.safetensors"
    safetensors.torch.save_file(cell.state_dict(), str(path))
    params = load(path)
    assert list(params) == list(cell.state_dict())
    out = tmp_path / "again.safetensors"
    save(out, params)
    fresh = torch.nn.RNNCell(2, 3, bias=bias)
    fresh.load_state_dict(safetensors.torch.load_file(str(out)), strict=True)
    for key, tensor in cell.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], tensor)
    assert load_metadata(out)["jrnn_kind"] == "RNNCell"


def test_save_load_round_trip_of_jrnn_params(tmp_path):
    params = jrnn.init_rnn(jax.random.key(0), 2, 3, num_layers=2, dtype=jnp.float64)
    save(str(tmp_path / "p.safetensors"), params)
    again = load(tmp_path / "p.safetensors")
    assert list(again) == list(params)
    for key in params:
        assert again[key].dtype == params[key].dtype
        np.testing.assert_array_equal(
            np.asarray(again[key]).view(np.int64), np.asarray(params[key]).view(np.int64)
        )


def test_save_writes_non_contiguous_arrays_correctly(tmp_path):
    state = rnn_state(4)
    fortran = {k: np.asfortranarray(v.numpy()) for k, v in state.items()}
    transposed_view = {k: np.ascontiguousarray(v.T).T for k, v in fortran.items()}
    assert not transposed_view["weight_ih_l0"].flags.c_contiguous
    for arrays in (fortran, transposed_view):
        save(tmp_path / "p.safetensors", arrays)
        loaded = safetensors.torch.load_file(str(tmp_path / "p.safetensors"))
        for key, tensor in state.items():
            assert torch.equal(loaded[key], tensor)


def test_save_replaces_an_existing_file_and_leaves_nothing_else(tmp_path):
    path = tmp_path / "rnn.safetensors"
    save(path, jrnn.init_rnn(jax.random.key(0), 2, 3))
    new = jrnn.init_rnn(jax.random.key(1), 2, 3)
    save(path, new)
    assert os.listdir(tmp_path) == ["rnn.safetensors"]
    for key, value in load(path).items():
        np.testing.assert_array_equal(value, new[key])


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_saved_file_gets_the_mode_of_any_new_file(tmp_path, umask):
    previous = os.umask(umask)
    try:
        save(tmp_path / "rnn.safetensors", jrnn.init_rnn(jax.random.key(0), 2, 3))
        with open(tmp_path / "reference", "w"):  # what open() gives a new file under this umask
            pass
    finally:
        os.umask(previous)
    mode = stat.S_IMODE(os.stat(tmp_path / "rnn.safetensors").st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "reference").st_mode)


def test_metadata_is_stored_with_the_jrnn_version(tmp_path):
    path = tmp_path / "rnn.safetensors"
    params = jrnn.init_rnn(jax.random.key(0), 2, 3)
    save(path, params, metadata={"task": "copy", "epoch": "3"}, nonlinearity="relu")
    with safetensors.safe_open(str(path), framework="np") as file:
        stored = file.metadata()
    digests = {k: v for k, v in stored.items() if k.startswith("jrnn_digest.")}
    assert sorted(digests) == sorted(f"jrnn_digest.{k}" for k in params)
    assert {k: v for k, v in stored.items() if k not in digests} == load_metadata(path)
    assert stored["task"] == "copy" and stored["epoch"] == "3"
    assert stored["jrnn_version"] == jrnn.__version__
    assert stored["nonlinearity"] == "relu"
    assert stored["jrnn_kind"] == "RNN"
    save(path, params)
    assert "nonlinearity" not in load_metadata(path)


# --- .npz and .pt ----------------------------------------------------------------------------


def test_npz_loads(tmp_path):
    state = rnn_state(5, torch.float64)
    path = tmp_path / "rnn.npz"
    np.savez(path, **{k: v.numpy() for k, v in reversed(list(state.items()))})
    params = load(path)
    assert list(params) == list(state)
    for key, tensor in state.items():
        assert_same_bits(params[key], tensor)
    assert load_metadata(path) == {}


@pytest.mark.parametrize("suffix", [".pt", ".pth"])
def test_pt_loads(tmp_path, suffix):
    state = rnn_state(6)
    path = tmp_path / f"rnn{suffix}"
    torch.save(state, path)
    params = load(path)
    assert list(params) == list(state)
    for key, tensor in state.items():
        assert_same_bits(params[key], tensor)
    assert load_metadata(path) == {}


def test_pt_of_a_whole_model_loads_with_a_prefix(tmp_path):
    torch.manual_seed(7)
    model = torch.nn.Sequential(
        torch.nn.Embedding(10, 3),
        torch.nn.BatchNorm1d(3),
        torch.nn.RNN(3, 4),
        torch.nn.Linear(4, 2),
    )
    assert model.state_dict()["1.num_batches_tracked"].dtype == torch.int64
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    for params in (load(path, prefix="2."), load(path)):
        assert list(params) == list(model[2].state_dict())
        for key, tensor in model[2].state_dict().items():
            assert_same_bits(params[key], tensor)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (torch.ones(3), "holds a Tensor, not a state_dict"),
        ({"model": rnn_state(), "epoch": 3}, r"entry 'model' is a \w+, not a tensor"),
    ],
)
def test_pt_that_is_not_a_state_dict_is_refused(tmp_path, content, match):
    path = tmp_path / "ckpt.pt"
    torch.save(content, path)
    with pytest.raises(CheckpointError, match=match):
        load(path)


def test_npz_with_an_object_array_is_refused(tmp_path):
    path = tmp_path / "rnn.npz"
    np.savez(path, weight_ih_l0=np.array([{"a": 1}], dtype=object))
    with pytest.raises(CheckpointError, match=r"rnn\.npz.*Object arrays cannot be loaded"):
        load(path)


def test_npy_under_an_npz_name_is_refused(tmp_path):
    path = tmp_path / "rnn.npz"
    with open(path, "wb") as file:
        np.save(file, np.ones(3))
    with pytest.raises(CheckpointError, match="not an .npz archive"):
        load(path)


# --- malicious pickles -----------------------------------------------------------------------


class _RunsOnUnpickle:
    """A pickle payload that calls ``function(*args)`` when unpickled."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _payloads(target):
    return [
        _RunsOnUnpickle(os.mkdir, str(target)),
        _RunsOnUnpickle(exec, f"open({str(target)!r}, 'w').close()"),
    ]


@pytest.mark.parametrize("payload_index", [0, 1])
@pytest.mark.parametrize("writer", ["torch.save", "raw pickle"])
def test_malicious_pt_is_refused_and_runs_nothing(tmp_path, writer, payload_index):
    def write(path, target):
        content = {"weight_ih_l0": _payloads(target)[payload_index]}
        if writer == "torch.save":
            torch.save(content, path)
        else:
            path.write_bytes(pickle.dumps(content, protocol=2))

    # The payload is live: an ordinary unpickle of the same kind of file creates its marker.
    control, control_marker = tmp_path / "control.pt", tmp_path / "control-marker"
    write(control, control_marker)
    if writer == "torch.save":
        torch.load(control, weights_only=False)
    else:
        pickle.loads(control.read_bytes())
    assert control_marker.exists()

    evil, marker = tmp_path / "evil.pt", tmp_path / "marker"
    write(evil, marker)
    with pytest.raises(CheckpointError, match=r"evil\.pt.*refused its pickle") as info:
        load(evil)
    assert isinstance(info.value.__cause__, pickle.UnpicklingError)
    assert not marker.exists()


# --- damaged files ---------------------------------------------------------------------------


def _header_and_data(data):
    size = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + size]), data[8 + size :]


def _with_header(header, body):
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + body


def _bad_offsets(data):
    header, body = _header_and_data(data)
    header["weight_ih_l0"]["data_offsets"][1] += 4096
    return _with_header(header, body)


def _overlapping_offsets(data):
    header, body = _header_and_data(data)
    first, second = [k for k in header if k != "__metadata__"][:2]
    header[second]["data_offsets"] = list(header[first]["data_offsets"])
    return _with_header(header, body)


def _corrupt_header(data):
    size = int.from_bytes(data[:8], "little")
    return data[:8] + b"#" + data[9 : 8 + size] + data[8 + size :]


SAFETENSORS_DAMAGE = {
    "truncated": lambda data: data[: len(data) - 7],
    "truncated header": lambda data: data[:20],
    "empty": lambda data: b"",
    "random bytes": lambda data: np.random.default_rng(0).bytes(len(data)),
    "corrupted header": _corrupt_header,
    "header length past the end": lambda data: (len(data) * 2).to_bytes(8, "little") + data[8:],
    "bad offsets": _bad_offsets,
    "overlapping offsets": _overlapping_offsets,
}
OTHER_DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "random bytes": lambda data: np.random.default_rng(1).bytes(len(data)),
}


def _assert_unreadable(path):
    with pytest.raises(CheckpointError, match=f"cannot read checkpoint '{path}'") as info:
        load(path)
    assert isinstance(info.value, ValueError)
    assert info.value.__cause__ is not None
    with pytest.raises(CheckpointError, match=f"'{path}'"):
        load_metadata(path)


@pytest.mark.parametrize("damage", SAFETENSORS_DAMAGE)
def test_damaged_safetensors_raises_checkpoint_error(good_file, damage):
    good_file.write_bytes(SAFETENSORS_DAMAGE[damage](good_file.read_bytes()))
    _assert_unreadable(str(good_file))


@pytest.mark.parametrize("damage", OTHER_DAMAGE)
@pytest.mark.parametrize("suffix", [".pt", ".npz"])
def test_damaged_pt_and_npz_raise_checkpoint_error(tmp_path, suffix, damage):
    path = tmp_path / f"rnn{suffix}"
    state = rnn_state()
    if suffix == ".pt":
        torch.save(state, path)
    else:
        np.savez(path, **{k: v.numpy() for k, v in state.items()})
    path.write_bytes(OTHER_DAMAGE[damage](path.read_bytes()))
    _assert_unreadable(str(path))


def test_unknown_safetensors_dtype_is_refused_naming_the_key(tmp_path):
    header = {"weight_ih_l0": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}}
    path = tmp_path / "f8.safetensors"
    path.write_bytes(_with_header(header, b"\x00" * 4))
    with pytest.raises(CheckpointError, match="'weight_ih_l0' has dtype F8_E4M3"):
        load(path)


@pytest.mark.parametrize("dtype", [np.int32, np.bool_, np.complex64])
def test_non_floating_tensor_in_a_file_is_refused_naming_the_key(tmp_path, dtype):
    arrays = {k: v.numpy() for k, v in rnn_state().items()}
    arrays["weight_hh_l1"] = arrays["weight_hh_l1"].astype(dtype)
    path = tmp_path / "rnn.safetensors"
    safetensors.numpy.save_file(arrays, str(path))
    with pytest.raises(
        CheckpointError, match=r"\['weight_hh_l1'\] has dtype (int32|bool|complex64)"
    ):
        load(path)


def test_file_with_wrong_keys_is_refused_naming_the_file_and_key(tmp_path):
    state = rnn_state()
    del state["bias_ih_l1"]
    path = tmp_path / "rnn.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=r"missing key 'bias_ih_l1'[\s\S]*rnn\.pt") as info:
        load(path)
    assert isinstance(info.value.__cause__, ValueError)


def test_float64_file_with_jax_x64_off_is_refused(tmp_path):
    path = tmp_path / "rnn.safetensors"
    safetensors.torch.save_file(rnn_state(dtype=torch.float64), str(path))
    with jax.enable_x64(False):
        with pytest.raises(TypeError, match="float64 but JAX's 64-bit mode is off"):
            load(path)


@pytest.mark.parametrize("suffix", [".safetensors", ".npz", ".pt", ".pth"])
def test_missing_file_raises_file_not_found_naming_the_path(tmp_path, suffix):
    path = str(tmp_path / f"absent{suffix}")
    with pytest.raises(FileNotFoundError, match=f"no such checkpoint file: '{path}'"):
        load(path)
    with pytest.raises(FileNotFoundError, match=f"'{path}'"):
        load_metadata(path)


def test_missing_optional_package_is_an_import_error(good_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    with pytest.raises(ImportError):
        load(good_file)


# --- failed saves ----------------------------------------------------------------------------


def _fail_in_fsync(monkeypatch, error):
    def fail(fd):
        raise error

    monkeypatch.setattr(os, "fsync", fail)


def _fail_in_replace(monkeypatch, error):
    def fail(source, target):
        raise error

    monkeypatch.setattr(os, "replace", fail)


@pytest.mark.parametrize(
    "error", [OSError("simulated failure"), KeyboardInterrupt("simulated failure")]
)
@pytest.mark.parametrize("fail", [_fail_in_fsync, _fail_in_replace, fail_half_way_through_writing])
def test_failed_save_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch, fail, error):
    path = tmp_path / "rnn.safetensors"
    old = jrnn.init_rnn(jax.random.key(0), 2, 3)
    save(path, old)
    before = path.read_bytes()
    fail(monkeypatch, error)
    with pytest.raises(type(error), match="simulated failure"):
        save(path, jrnn.init_rnn(jax.random.key(1), 2, 3))
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["rnn.safetensors"]
    assert path.read_bytes() == before
    for key, value in load(path).items():
        np.testing.assert_array_equal(value, old[key])


def test_failed_first_save_leaves_nothing(tmp_path, monkeypatch):
    fail_half_way_through_writing(monkeypatch, OSError("simulated failure"))
    with pytest.raises(OSError, match="simulated failure"):
        save(tmp_path / "rnn.safetensors", jrnn.init_rnn(jax.random.key(0), 2, 3))
    assert os.listdir(tmp_path) == []


# --- argument errors -------------------------------------------------------------------------


@pytest.fixture
def params():
    return jrnn.init_rnn(jax.random.key(0), 2, 3)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            dict(metadata=["a"]),
            TypeError,
            "expected metadata to be a dict from str to str, got list",
        ),
        (dict(metadata={"epoch": 3}), TypeError, "must be str.*'epoch': 3"),
        (dict(metadata={1: "a"}), TypeError, "must be str.*1: 'a'"),
        (dict(metadata={"jrnn_version": "9"}), ValueError, "'jrnn_version' is written by jrnn"),
        (dict(metadata={"nonlinearity": "relu"}), ValueError, "pass the nonlinearity as"),
        (dict(nonlinearity="gelu"), ValueError, "expected nonlinearity 'tanh' or 'relu'"),
    ],
)
def test_bad_save_arguments(tmp_path, params, kwargs, error, match):
    with pytest.raises(error, match=match):
        save(tmp_path / "rnn.safetensors", params, **kwargs)
    assert os.listdir(tmp_path) == []


def test_save_refuses_other_suffixes_and_bad_params(tmp_path, params):
    with pytest.raises(ValueError, match=r"path must end in '\.safetensors', got '.*rnn\.pt'"):
        save(tmp_path / "rnn.pt", params)
    with pytest.raises(TypeError, match="`jrnn.save`: expected path to be a str or os.PathLike"):
        save(3, params)
    del params["bias_hh_l0"]
    with pytest.raises(ValueError, match="missing key 'bias_hh_l0'"):
        save(tmp_path / "rnn.safetensors", params)
    assert os.listdir(tmp_path) == []


def test_load_refuses_unknown_suffixes_and_bad_arguments(good_file, tmp_path):
    with pytest.raises(ValueError, match=r"one of \.safetensors, \.npz, \.pt, \.pth.*rnn\.bin"):
        load(tmp_path / "rnn.bin")
    with pytest.raises(TypeError, match="`jrnn.load`: expected path to be a str"):
        load(None)
    with pytest.raises(TypeError, match="`jrnn.load_metadata`: expected path to be a str"):
        load_metadata(1)
    with pytest.raises(TypeError, match="expected prefix to be a str, got int"):
        load(good_file, prefix=1)


def test_unknown_prefix_in_a_file_lists_the_candidates(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Sequential(torch.nn.RNN(2, 3), torch.nn.RNNCell(3, 3)).state_dict(), path)
    with pytest.raises(
        CheckpointError, match=r"holds 2 recurrent networks, at prefixes '0\.', '1\.'"
    ):
        load(path)
    with pytest.raises(CheckpointError, match=r"prefix='2\.'"):
        load(path, prefix="2")
    assert list(load(path, prefix="1")) == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
