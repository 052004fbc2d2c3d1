"""Checkpoint files: atomic safetensors :func:`save`; :func:`load` that never runs file code.

:func:`load` reads safetensors, ``.npz`` (without pickle) and torch ``.pt``/``.pth`` files (through
weights-only unpickling only).

safetensors and torch are imported only inside the functions that read or write their formats.
"""

import contextlib
import io
import json
import os
import secrets
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from . import _errors, _nonlinearity
from ._errors import CheckpointError as CheckpointError
from ._optional import require
from ._torch import check_prefix, checked_arrays, config_of, to_jax, torch_order
from ._tree import flatten, is_nested

# jrnn writes these metadata entries itself; "format": "pt" says the tensors are in torch's
# layout, as Hugging Face tools expect of a safetensors file. A whole model's file has one
# "jrnn_kind.<name>" per recurrent network (and "nonlinearity.<name>") instead of the plain two.
_RESERVED = ("format", "jrnn_version", "jrnn_kind", "nonlinearity")
_RESERVED_PREFIXES = ("jrnn_kind.", "nonlinearity.")

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


def _checked_path(fn: str, path: object) -> str:
    if not isinstance(path, str | os.PathLike):
        raise _errors.path_type(fn, path)
    return os.fsdecode(path)


def _base_header(fn: str, metadata: object) -> dict[str, str]:
    """The user's metadata, checked, with the entries every file gets."""
    from . import __version__  # read at call time: jrnn/__init__ imports this module

    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        raise _errors.metadata_type(fn, metadata)
    for key, value in metadata.items():
        if not (isinstance(key, str) and isinstance(value, str)):
            raise _errors.metadata_entry(fn, key, value)
        if key in _RESERVED or key.startswith(_RESERVED_PREFIXES):
            reserved = _RESERVED + tuple(f"{p}<name>" for p in _RESERVED_PREFIXES)
            raise _errors.metadata_reserved(fn, key, reserved)
    return {**metadata, "format": "pt", "jrnn_version": __version__}


def _header(fn: str, metadata: object, kind: str, nonlinearity: str | None) -> dict[str, str]:
    header = {**_base_header(fn, metadata), "jrnn_kind": kind}
    if nonlinearity is not None:
        if kind not in ("RNN", "RNNCell"):
            raise _errors.nonlinearity_not_elman(fn, kind, nonlinearity)
        header["nonlinearity"] = _nonlinearity.check(fn, nonlinearity)
    return header


def _nested_header(
    fn: str, metadata: object, kinds: Mapping[str, str], nonlinearity: str | None
) -> dict[str, str]:
    header = _base_header(fn, metadata)
    header.update((f"jrnn_kind.{name}", kind) for name, kind in kinds.items())
    if nonlinearity is not None:
        elman = [name for name, kind in kinds.items() if kind in ("RNN", "RNNCell")]
        if len(elman) != 1:
            raise _errors.tree_nonlinearity(fn, kinds, nonlinearity)
        header[f"nonlinearity.{elman[0]}"] = _nonlinearity.check(fn, nonlinearity)
    return header


def _fsync_directory(directory: str) -> None:
    """Make a rename inside ``directory`` durable (POSIX only: Windows cannot open a directory)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomically(path: str, data: bytes) -> None:
    """Replace ``path`` by a file holding ``data``: all of it, or (on any failure) nothing."""
    directory = os.path.dirname(os.path.abspath(path))
    temp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(8)}.tmp")
    # mode 0o666 filtered by the umask, as open() gives any new file (mkstemp would give 0o600)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_directory(directory)


def save(
    path: str | os.PathLike,
    params: Mapping[str, object],
    *,
    metadata: Mapping[str, str] | None = None,
    nonlinearity: str | None = None,
) -> None:
    """Write params, or a whole model's, to a safetensors file torch reads as its state_dict.

    ``module.load_state_dict(safetensors.torch.load_file(path), strict=True)`` works on the
    result for the matching ``torch.nn.RNN``, ``LSTM``, ``GRU`` or cell; the kind is read from
    the keys and shapes as in :func:`jrnn.from_torch`, and recorded in the metadata.

    A whole model's params, as nested mappings (dicts, flax ``FrozenDict``, ``nnx.State``), are
    written under torch's dotted names: ``{"embed": {"weight": E}, "rnn": rnn_params}`` gives
    ``embed.weight``, ``rnn.weight_ih_l0``, ..., so the torch model with submodules ``embed``
    and ``rnn`` loads the file strictly. Every sub-mapping with a ``weight_ih_l0`` or
    ``weight_ih`` key is a recurrent network or cell, checked as flat params are; its kind is
    recorded as ``jrnn_kind.<name>`` (``jrnn_kind.rnn``, ``jrnn_kind.encoder.lstm``), and
    ``jrnn.load(path, prefix="<name>.")`` reads it back (no prefix needed for exactly one).
    Flax names differ from torch's; rename them yourself: a ``Dense``/``nnx.Linear``
    ``kernel (in, out)`` is ``Linear.weight`` transposed (``kernel.T``), an ``Embed``'s
    ``embedding`` is ``Embedding.weight`` as it is. jrnn's linen and NNX RNN params are torch's
    already (``model.rnn.to_params()`` for NNX).

    The write is atomic: the data goes to a temporary file in the same directory, is flushed and
    fsynced, then renamed over ``path`` (and the directory fsynced). On any failure the previous
    file is untouched and no temporary file is left. The new file's mode is the usual one
    (``0o666`` less the umask, e.g. ``0o644``).

    Shapes:
        Stored unchanged under torch's names: ``weight_ih_l0 (G*H, H_in)``, ... (``G`` gate
        blocks: 1 RNN, 3 GRU, 4 LSTM).

    Args:
        path: where to write; must end in ``.safetensors``.
        params: params of any kind (e.g. from :func:`jrnn.init_rnn`, :func:`jrnn.init_lstm`),
            or a whole model's nested params: keys non-empty str without ``"."``, leaves
            floating JAX, NumPy or torch arrays (or ``nnx.Variable`` s of them), at least one
            recurrent network among them.
        metadata: extra text entries (str to str) for the file's header. jrnn always records
            ``jrnn_version``, ``format`` (``"pt"``) and ``jrnn_kind`` (``"RNN"``, ``"RNNCell"``,
            ``"LSTM"``, ``"LSTMCell"``, ``"GRU"`` or ``"GRUCell"``); for nested params one
            ``jrnn_kind.<name>`` per recurrent network instead. These keys, ``nonlinearity``
            and those starting with ``jrnn_kind.`` or ``nonlinearity.`` are reserved.
        nonlinearity: an Elman network's ``"tanh"`` or ``"relu"``, recorded as metadata
            ``nonlinearity`` when given (``nonlinearity.<name>`` for nested params, which must
            then hold exactly one ``RNN`` or ``RNNCell``); refused for LSTM and GRU params, whose
            nonlinearities are fixed.

    Raises:
        TypeError: ``path`` not a path; ``metadata`` not a mapping of str to str; params not a
            mapping of arrays of one floating dtype; in nested params, a key that is not a str,
            or a leaf that is not a floating array (the message names its dotted key).
        ValueError: ``path`` not ending in ``.safetensors``; a reserved metadata key; unknown
            nonlinearity, or one given for LSTM/GRU params (for nested params, unless they hold
            exactly one Elman network); params keys missing, unexpected or mis-shaped (naming
            the prefix in nested params); in nested params, a key that is empty or holds a
            ``"."``, an empty mapping, or no recurrent network at all.
        OSError: the file could not be written (the previous one is then left as it was).

    Example:
        >>> import os, tempfile, jax, numpy as np, jrnn
        >>> params = jrnn.init_rnn(jax.random.key(0), input_size=3, hidden_size=4)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "rnn.safetensors")
        ...     jrnn.save(path, params, nonlinearity="tanh")
        ...     print(sorted(os.listdir(tmp)), list(jrnn.load(path)) == list(params))
        ['rnn.safetensors'] True
        >>> gru = jrnn.init_gru(jax.random.key(0), input_size=3, hidden_size=4)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "gru.safetensors")
        ...     jrnn.save(path, gru)
        ...     print(jrnn.load_metadata(path)["jrnn_kind"], list(jrnn.load(path)) == list(gru))
        GRU True
        >>> from safetensors.numpy import load_file
        >>> model = {"rnn": gru, "head": {"weight": np.ones((2, 4), np.float32)}}  # Linear(4, 2)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "model.safetensors")
        ...     jrnn.save(path, model)
        ...     names = sorted(load_file(path))  # the names torch's load_file gives too
        ...     kind = jrnn.load_metadata(path)["jrnn_kind.rnn"]
        ...     again = jrnn.load(path, prefix="rnn.")
        >>> names  # doctest: +NORMALIZE_WHITESPACE
        ['head.weight', 'rnn.bias_hh_l0', 'rnn.bias_ih_l0', 'rnn.weight_hh_l0',
         'rnn.weight_ih_l0']
        >>> kind, list(again) == list(gru)
        ('GRU', True)

    """
    fn = "jrnn.save"
    path = _checked_path(fn, path)
    if not path.endswith(".safetensors"):
        raise _errors.save_suffix(fn, path)
    if is_nested(params):
        arrays, kinds = flatten(fn, params)
        header = _nested_header(fn, metadata, kinds, nonlinearity)
    else:
        kind, config = config_of(fn, params)
        header = _header(fn, metadata, kind, nonlinearity)
        arrays = {key: np.ascontiguousarray(params[key]) for key in torch_order(kind, config)}
    safetensors_numpy = require("safetensors.numpy", extra="io", feature="`jrnn.save`")
    _write_atomically(path, safetensors_numpy.save(arrays, metadata=header))


def _read_safetensors(data: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    safetensors = require(
        "safetensors",
        extra="io",
        feature="reading .safetensors files (`jrnn.load`, `jrnn.load_metadata`, `jrnn.convert`)",
    )
    arrays = {}
    for key, view in safetensors.deserialize(data):  # checks header, offsets and coverage
        if view["dtype"] not in _SAFETENSORS_DTYPES:
            raise _errors.safetensors_dtype(key, view["dtype"])
        flat = np.frombuffer(view["data"], _SAFETENSORS_DTYPES[view["dtype"]])
        arrays[key] = flat.reshape(view["shape"])
    header_size = int.from_bytes(data[:8], "little")  # the format's first 8 bytes
    return arrays, json.loads(data[8 : 8 + header_size]).get("__metadata__", {})


def _read_npz(data: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    archive = np.load(io.BytesIO(data), allow_pickle=False)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise _errors.npz_not_an_archive(archive)
    with archive:
        return {key: archive[key] for key in archive.files}, {}


def _read_torch(data: bytes) -> tuple[Mapping[str, object], dict[str, str]]:
    torch = require(
        "torch", extra="torch", feature="reading .pt/.pth files (`jrnn.load`, `jrnn.convert`)"
    )
    state_dict = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if not isinstance(state_dict, Mapping):
        raise _errors.pt_not_a_state_dict(state_dict)
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise _errors.pt_not_a_tensor(key, value)
    return state_dict, {}


_READERS: dict[str, Callable[[bytes], tuple[Mapping[str, object], dict[str, str]]]] = {
    ".safetensors": _read_safetensors,
    ".npz": _read_npz,
    ".pt": _read_torch,
    ".pth": _read_torch,
}


def _read(fn: str, path: str) -> tuple[Mapping[str, object], dict[str, str]]:
    """Every entry of a checkpoint file, unvalidated, and its metadata."""
    reader = _READERS.get(os.path.splitext(path)[1].lower())
    if reader is None:
        raise _errors.load_suffix(fn, path, tuple(_READERS))
    try:
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError as err:
        raise _errors.checkpoint_missing(fn, path) from err
    try:
        return reader(data)
    except ImportError:
        raise  # a missing optional package is not a damaged file
    except Exception as err:  # whatever a parser raises on bad bytes: the file is unreadable
        raise _errors.checkpoint_unreadable(fn, path, err) from err


def load(path: str | os.PathLike, *, prefix: str = "") -> dict[str, jax.Array]:
    """Read params of any kind from a ``.safetensors``, ``.npz`` or torch ``.pt``/``.pth`` file.

    The file is read whole and checked before anything is returned. ``.npz`` files are read
    without pickle and ``.pt``/``.pth`` only through ``torch.load(weights_only=True)``, with no
    fallback, so loading never runs code from the file. Keys come back in torch's ``state_dict``
    order whatever order the file keeps them in; dtypes are kept. The kind (RNN, LSTM, GRU or
    a cell) is read from the keys and shapes as in :func:`jrnn.from_torch`.

    Shapes:
        As stored: ``weight_ih_l0 (G*H, H_in)``, ``weight_hh_l0 (G*H, P)``, ...

    Args:
        path: the checkpoint; its suffix picks the reader.
        prefix: read only the entries under this prefix, stripped, e.g. ``"encoder.lstm."``
            for a whole model's state_dict (see :func:`jrnn.from_torch`), or for a file
            :func:`save` wrote from a whole model's nested params.

    Returns:
        A dict from torch's parameter names to JAX arrays.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: (a ``ValueError``) the file is truncated, empty, garbage, has a damaged
            header or bad offsets, holds a pickle torch's weights-only loader refuses, or does not
            hold one recurrent network's or cell's floating params (the message names the file
            and, where one is at fault, the key; the underlying error is chained).
        ValueError: ``path`` has none of the suffixes above.
        TypeError: ``path`` or ``prefix`` of the wrong type; float64 tensors while JAX's x64
            mode is off.

    Example:
        >>> import os, tempfile, torch, jrnn
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "cell.pt")
        ...     torch.save(torch.nn.RNNCell(3, 4).state_dict(), path)
        ...     print(list(jrnn.load(path)))
        ['weight_ih', 'weight_hh', 'bias_ih', 'bias_hh']

    """
    fn = "jrnn.load"
    path = _checked_path(fn, path)
    prefix = check_prefix(fn, prefix)
    entries, _ = _read(fn, path)
    try:
        _, _, arrays = checked_arrays(fn, entries, prefix)
    except (TypeError, ValueError) as err:
        raise _errors.checkpoint_contents(path, err) from err
    return to_jax(fn, arrays)


def load_metadata(path: str | os.PathLike) -> dict[str, str]:
    """Read the text metadata of a checkpoint, e.g. ``{"jrnn_version": ..., "nonlinearity": ...}``.

    Only safetensors files carry metadata; for ``.npz`` and ``.pt``/``.pth`` files the result is
    ``{}``. The whole file is read, so a damaged one raises as in :func:`load`.

    Args:
        path: the checkpoint.

    Returns:
        A dict from str to str.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file cannot be read (see :func:`load`).
        ValueError: ``path`` has an unknown suffix.
        TypeError: ``path`` is not a path.

    Example:
        >>> import os, tempfile, jax, jrnn
        >>> params = jrnn.init_rnn(jax.random.key(0), input_size=3, hidden_size=4)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "rnn.safetensors")
        ...     jrnn.save(path, params, metadata={"task": "demo"}, nonlinearity="relu")
        ...     meta = jrnn.load_metadata(path)
        >>> meta["task"], meta["nonlinearity"], meta["jrnn_kind"]
        ('demo', 'relu', 'RNN')

    """
    fn = "jrnn.load_metadata"
    _, metadata = _read(fn, _checked_path(fn, path))
    return dict(metadata)
