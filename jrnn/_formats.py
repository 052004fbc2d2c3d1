"""Reading checkpoint files: safetensors, ``.npz`` without pickle, torch ``.pt`` weights-only.

Every reader takes the file's bytes and returns its entries, unvalidated, and its metadata;
:func:`read` picks the reader by suffix, turns whatever a parser raises on bad bytes into a
:class:`jrnn.CheckpointError` naming the file, and checks the integrity records the file
carries (:mod:`jrnn._digest`). safetensors and torch are imported only when a file needs them.
"""

import io
import json
import os
from collections.abc import Callable, Mapping

import jax.numpy as jnp
import numpy as np

from . import _digest, _errors_files
from ._optional import require

_SAFETENSORS_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "BF16": jnp.bfloat16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U64": np.uint64,
    "U32": np.uint32,
    "U16": np.uint16,
    "U8": np.uint8,
    "BOOL": np.bool_,
    "C64": np.complex64,
}


def _read_safetensors(data: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    safetensors = require(
        "safetensors",
        extra="io",
        feature="reading .safetensors files (`jrnn.load`, `jrnn.load_metadata`, `jrnn.convert`)",
    )
    arrays = {}
    for key, view in safetensors.deserialize(data):  # checks header, offsets and coverage
        if view["dtype"] not in _SAFETENSORS_DTYPES:
            raise _errors_files.safetensors_dtype(key, view["dtype"])
        flat = np.frombuffer(view["data"], _SAFETENSORS_DTYPES[view["dtype"]])
        arrays[key] = flat.reshape(view["shape"])
    header_size = int.from_bytes(data[:8], "little")  # the format's first 8 bytes
    return arrays, json.loads(data[8 : 8 + header_size]).get("__metadata__", {})


def _read_npz(data: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    _digest.check_zip(data)
    archive = np.load(io.BytesIO(data), allow_pickle=False)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise _errors_files.npz_not_an_archive(archive)
    with archive:
        return {key: archive[key] for key in archive.files}, {}


def _read_torch(data: bytes) -> tuple[Mapping[str, object], dict[str, str]]:
    torch = require(
        "torch", extra="torch", feature="reading .pt/.pth files (`jrnn.load`, `jrnn.convert`)"
    )
    _digest.check_zip(data)  # torch.load does not check its archive's CRCs
    state_dict = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if not isinstance(state_dict, Mapping):
        raise _errors_files.pt_not_a_state_dict(state_dict)
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise _errors_files.pt_not_a_tensor(key, value)
    return state_dict, {}


_READERS: dict[str, Callable[[bytes], tuple[Mapping[str, object], dict[str, str]]]] = {
    ".safetensors": _read_safetensors,
    ".npz": _read_npz,
    ".pt": _read_torch,
    ".pth": _read_torch,
}


def suffix(path: str) -> str:
    """The suffix that picks a file's reader, lower-cased; ``""`` for ``.safetensors`` alone."""
    return os.path.splitext(path)[1].lower()


def read(fn: str, path: str) -> tuple[Mapping[str, object], dict[str, str]]:
    """Every entry of a checkpoint file, unvalidated but checked against its digests, if any.

    Returns:
        ``(entries, metadata)``: names to arrays or tensors, and the file's text metadata
        without jrnn's digest entries (``{}`` for ``.npz`` and ``.pt``/``.pth``).
    """
    reader = _READERS.get(suffix(path))
    if reader is None:
        raise _errors_files.load_suffix(fn, path, tuple(_READERS))
    try:
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError as err:
        raise _errors_files.checkpoint_missing(fn, path) from err
    try:
        entries, metadata = reader(data)
    except ImportError:
        raise  # a missing optional package is not a damaged file
    except Exception as err:  # whatever a parser raises on bad bytes: the file is unreadable
        raise _errors_files.checkpoint_unreadable(fn, path, err) from err
    return entries, _digest.verify(fn, path, entries, metadata)
