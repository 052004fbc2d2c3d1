"""Damaged checkpoint files: write one, damage it at random, load it, name the outcome.

A file is written in one of the formats ``jrnn.load`` reads (``.safetensors`` by ``jrnn.save``,
``.npz`` by NumPy, ``.pt`` by ``torch.save``), then damaged one way: a byte flipped, the file
cut short, a run of bytes zeroed, junk appended, or (safetensors) two same-shaped tensors'
header entries swapped. Loading must give exactly the saved values ("correct": the damage hit
nothing that matters) or a jrnn error naming the path ("clean error"); anything else is a raw
error or, for wrong values loaded without complaint, a silent difference.
"""

import json
import os

import jax
import numpy as np
import torch

import jrnn

from .build import INIT
from .calls import Draw

FORMATS = (".safetensors", ".npz", ".pt")
DAMAGES = ("flip", "flip", "flip", "truncate", "zero run", "append", "swap entries")


def _write(path: str, params: dict) -> None:
    arrays = {k: np.array(v) for k, v in params.items()}  # writable copies, as torch asks
    if path.endswith(".safetensors"):
        jrnn.save(path, params)
    elif path.endswith(".npz"):
        with open(path, "wb") as file:
            np.savez(file, **arrays)
    else:
        torch.save({k: torch.from_numpy(v) for k, v in arrays.items()}, path)


def _swap_entries(data: bytes, draw: Draw) -> bytes:
    """Swap the data offsets of two same-shaped tensors in a safetensors header."""
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    by_shape = {}
    for name, entry in header.items():
        if name != "__metadata__":
            by_shape.setdefault(tuple(entry["shape"]), []).append(name)
    pairs = [names for names in by_shape.values() if len(names) > 1]
    if not pairs:
        return data
    a, b = draw("swap", pairs)[:2]
    header[a]["data_offsets"], header[b]["data_offsets"] = (
        header[b]["data_offsets"],
        header[a]["data_offsets"],
    )
    text = json.dumps(header, separators=(",", ":")).encode()
    if len(text) > size:  # the offsets' digits add up to more: leave the file as it was
        return data
    return data[:8] + text.ljust(size) + data[8 + size :]  # padded with spaces, as written


def damage(data: bytes, how: str, draw: Draw) -> bytes:
    """``data`` damaged ``how`` (one of :data:`DAMAGES`) at a drawn place."""
    place = draw("place", range(len(data)))
    if how == "flip":
        return data[:place] + bytes([data[place] ^ draw("mask", range(1, 256))]) + data[place + 1 :]
    if how == "truncate":
        return data[:place]
    if how == "zero run":
        return data[:place] + bytes(min(64, len(data) - place)) + data[place + 64 :]
    if how == "append":
        return data + bytes(draw("junk", range(256)) for _ in range(16))
    assert how == "swap entries", how
    return _swap_entries(data, draw)


def outcome(directory: str, draw: Draw) -> tuple[str, str]:
    """Write, damage and load one file: ``(outcome, detail)``."""
    kind = draw("file kind", ["rnn", "lstm", "gru"])
    init = INIT[("network", kind)]
    params = init(jax.random.key(draw("seed", range(1000))), 3, 4, draw("layers", [1, 2]))
    suffix = draw("format", FORMATS)
    how = draw("damage", [d for d in DAMAGES if suffix == ".safetensors" or d != "swap entries"])
    path = os.path.join(directory, "checkpoint" + suffix)
    _write(path, params)
    with open(path, "rb") as file:
        data = file.read()
    with open(path, "wb") as file:
        file.write(damage(data, how, draw))
    try:
        loaded = jrnn.load(path)
    except Exception as err:  # noqa: BLE001 - every exception is an outcome here
        clean = isinstance(err, ValueError | TypeError) and path in str(err)
        return ("clean error" if clean else "raw error"), f"{how} {suffix}: {err!r}"[:300]
    same = loaded.keys() == params.keys() and all(
        np.array_equal(np.asarray(loaded[k]), np.asarray(v)) for k, v in params.items()
    )
    return ("correct", "") if same else ("silent difference", f"{how} {suffix}: wrong values")
