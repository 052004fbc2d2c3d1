"""Checkpoint integrity: jrnn.save's digests, and the CRCs of zip archives, caught on load.

safetensors and torch load these damaged files without a word (each test shows it first); jrnn
raises ``CheckpointError`` naming the file and the damaged tensor (or zip member).
"""

import hashlib
import json

import jax
import numpy as np
import pytest
import safetensors
import safetensors.numpy
import safetensors.torch
import torch

import jrnn
from jrnn._io import CheckpointError, load, load_metadata, save


def params():
    return jrnn.init_rnn(jax.random.key(0), 3, 4, num_layers=2, bidirectional=True)


def split(data):
    size = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + size]), 8 + size


def join(header, body):
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + body


def flip(data, position, mask=0x10):
    return data[:position] + bytes([data[position] ^ mask]) + data[position + 1 :]


@pytest.fixture
def jrnn_file(tmp_path):
    path = tmp_path / "rnn.safetensors"
    save(path, params())
    return path


def test_digests_are_sha256_of_name_dtype_shape_and_bytes(jrnn_file):
    with safetensors.safe_open(str(jrnn_file), framework="np") as file:
        stored, arrays = file.metadata(), {k: file.get_tensor(k) for k in file.keys()}
    for name, array in arrays.items():
        head = json.dumps([name, "float32", list(array.shape)]).encode()
        want = hashlib.sha256(head + array.tobytes()).hexdigest()
        assert stored[f"jrnn_digest.{name}"] == f"sha256:{want}"
    assert not any(k.startswith("jrnn_digest.") for k in load_metadata(jrnn_file))


def test_a_flipped_tensor_byte_is_caught_naming_the_tensor(jrnn_file):
    data = jrnn_file.read_bytes()
    header, start = split(data)
    begin, _ = header["weight_hh_l1"]["data_offsets"]
    jrnn_file.write_bytes(flip(data, start + begin + 5))
    changed = safetensors.numpy.load_file(str(jrnn_file))["weight_hh_l1"]  # no complaint
    assert not np.array_equal(changed, params()["weight_hh_l1"])
    match = rf"checkpoint '{jrnn_file}' is damaged: tensor 'weight_hh_l1' does not match"
    for read in (load, load_metadata):
        with pytest.raises(CheckpointError, match=match):
            read(jrnn_file)


@pytest.mark.parametrize("field", ["data_offsets", "shape"])
def test_swapped_or_reshaped_header_entries_are_caught(jrnn_file, field):
    data = jrnn_file.read_bytes()
    header, start = split(data)
    if field == "data_offsets":  # two same-shaped tensors trade places
        a, b = header["weight_hh_l0"], header["weight_hh_l0_reverse"]
        a["data_offsets"], b["data_offsets"] = b["data_offsets"], a["data_offsets"]
    else:  # (4, 4) read as (2, 8): as many bytes, other values in each row
        header["weight_hh_l0"]["shape"] = [2, 8]
    jrnn_file.write_bytes(join(header, data[start:]))
    safetensors.numpy.load_file(str(jrnn_file))  # no complaint
    with pytest.raises(
        CheckpointError, match="'weight_hh_l0(_reverse)?' does not match its digest"
    ):
        load(jrnn_file)


def test_a_missing_or_extra_digest_is_caught(jrnn_file):
    data = jrnn_file.read_bytes()
    header, start = split(data)
    del header["__metadata__"]["jrnn_digest.bias_ih_l1"]
    jrnn_file.write_bytes(join(header, data[start:]))
    with pytest.raises(CheckpointError, match="tensor 'bias_ih_l1' has no recorded digest"):
        load(jrnn_file)
    header["__metadata__"]["jrnn_digest.bias_ih_l1"] = "sha256:0"
    header["__metadata__"]["jrnn_digest.bias_ih_l2"] = "sha256:0"
    jrnn_file.write_bytes(join(header, data[start:]))
    with pytest.raises(CheckpointError, match="'bias_ih_l1' does not match"):
        load(jrnn_file)
    header["__metadata__"]["jrnn_digest.bias_ih_l1"] = split(data)[0]["__metadata__"][
        "jrnn_digest.bias_ih_l1"
    ]
    jrnn_file.write_bytes(join(header, data[start:]))
    with pytest.raises(CheckpointError, match="'bias_ih_l2' has a digest but is not in the file"):
        load(jrnn_file)


def test_files_without_digests_load_as_before(jrnn_file, tmp_path):
    data = jrnn_file.read_bytes()
    header, start = split(data)
    header["__metadata__"] = {
        k: v for k, v in header["__metadata__"].items() if not k.startswith("jrnn_digest.")
    }
    jrnn_file.write_bytes(join(header, data[start:]))
    for path in (jrnn_file, tmp_path / "torch.safetensors"):
        safetensors.torch.save_file(jrnn.to_torch(params()), str(tmp_path / "torch.safetensors"))
        loaded = load(path)
        for key, value in params().items():
            np.testing.assert_array_equal(loaded[key], value)


def test_digest_keys_are_reserved(tmp_path):
    with pytest.raises(ValueError, match=r"'jrnn_digest\.x' is written by jrnn.*jrnn_digest\."):
        save(tmp_path / "rnn.safetensors", params(), metadata={"jrnn_digest.x": "sha256:0"})


def _write(path):
    state = jrnn.to_torch(params())
    if path.suffix == ".pt":
        torch.save(state, path)
    else:
        np.savez(path, **{k: v.numpy() for k, v in state.items()})


@pytest.mark.parametrize("suffix", [".pt", ".npz"])
def test_a_flipped_byte_in_a_zip_archive_is_caught_by_its_crc(tmp_path, suffix):
    path = tmp_path / f"rnn{suffix}"
    _write(path)
    data = path.read_bytes()
    value = np.asarray(params()["weight_hh_l1"]).tobytes()
    path.write_bytes(flip(data, data.index(value) + 5))
    if suffix == ".pt":  # torch does not check the CRC: it loads a wrong value
        changed = torch.load(path, weights_only=True)["weight_hh_l1"]
        assert not np.array_equal(changed.numpy(), params()["weight_hh_l1"])
    with pytest.raises(CheckpointError, match=rf"'{path}'.*zip member '.*' fails its CRC-32"):
        load(path)


def _central_entry(data, member):
    """Where the central directory entry of a zip member starts (46 bytes before its name)."""
    return data.rindex(member.encode()) - 46


@pytest.mark.parametrize("suffix", [".pt", ".npz"])
@pytest.mark.parametrize(
    ("field", "mask", "match"),
    [
        (26, 0x10, "'{}' fails its CRC-32, header or size check"),  # uncompressed size + 1 MiB
        (38, 0x10, "'{}' fails its CRC-32, header or size check"),  # MS-DOS directory attribute
        (33, 0x10, r"end record counts \d+ members, but its central directory lists \d+"),
    ],
    ids=["size", "directory", "comment"],
)
def test_damage_to_a_zip_directory_entry_is_caught(tmp_path, suffix, field, mask, match):
    path = tmp_path / f"rnn{suffix}"
    _write(path)
    data = path.read_bytes()
    member = "rnn/data/4" if suffix == ".pt" else "bias_hh_l0.npy"
    path.write_bytes(flip(data, _central_entry(data, member) + field, mask))
    with pytest.raises(CheckpointError, match=match.format(member)):
        load(path)


def _sweep(path, flips=200):
    """Flip one random byte at a time; count loads that raise and that return the original."""
    data, original = path.read_bytes(), params()
    counts = {"CheckpointError": 0, "original values": 0}
    rng = np.random.default_rng(0)
    positions, masks = rng.integers(0, len(data), flips), rng.integers(1, 256, flips)
    for position, mask in zip(positions, masks, strict=True):
        path.write_bytes(flip(data, int(position), int(mask)))
        try:
            loaded = load(path)
        except CheckpointError:
            counts["CheckpointError"] += 1
            continue
        assert list(loaded) == list(original)
        for key, value in original.items():
            np.testing.assert_array_equal(loaded[key], value)  # anything else: silent damage
        counts["original values"] += 1
    return counts


@pytest.mark.parametrize("suffix", [".safetensors", ".pt", ".npz"])
def test_random_byte_flips_never_load_wrong_values(tmp_path, suffix):
    path = tmp_path / f"rnn{suffix}"
    save(path, params()) if suffix == ".safetensors" else _write(path)
    counts = _sweep(path)
    print(suffix, counts)
    assert sum(counts.values()) == 200 and counts["CheckpointError"] > 100
