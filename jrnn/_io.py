"""Checkpoint files: atomic safetensors :func:`save`; :func:`load` that never runs file code.

:func:`load` reads safetensors, ``.npz`` (without pickle) and torch ``.pt``/``.pth`` files (through
weights-only unpickling only).

safetensors and torch are imported only inside the functions that read or write their formats.
"""

import os
from collections.abc import Mapping

import jax
import numpy as np

from . import _digest, _errors_files, _formats
from ._atomic import write_atomically
from ._errors_files import CheckpointError as CheckpointError
from ._metadata import header, nested_header
from ._optional import require
from ._torch import check_prefix, checked_arrays, config_of, to_jax, torch_order
from ._tree import flatten, is_nested


def _checked_path(fn: str, path: object) -> str:
    if not isinstance(path, str | os.PathLike):
        raise _errors_files.path_type(fn, path)
    return os.fsdecode(path)


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

    The write is atomic: the data goes to a hidden temporary file in the same directory
    (``.<name>.jrnn-<host>-<pid>-<random>.tmp``), is flushed and fsynced, then renamed over
    ``path`` (and the directory fsynced). On any failure the previous file is untouched and no
    temporary file is left; the temporary files of saves to ``path`` that were killed on this
    host are removed by the next save to ``path`` (never those of a live process). A symlink at
    ``path`` is kept and its target replaced. A replaced file keeps its permission bits; a new
    one gets the usual mode (``0o666`` less the umask, e.g. ``0o644``).

    Each tensor's SHA-256 digest (over its name, dtype, shape and bytes) is recorded in the
    metadata as ``jrnn_digest.<name>``; :func:`load` checks them, so a damaged file raises
    instead of loading wrong values. Other tools ignore these entries.

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
            and those starting with ``jrnn_kind.``, ``nonlinearity.`` or ``jrnn_digest.`` are
            reserved.
        nonlinearity: an Elman network's ``"tanh"`` or ``"relu"``, recorded as metadata
            ``nonlinearity`` when given (``nonlinearity.<name>`` for nested params, which must
            then hold exactly one ``RNN`` or ``RNNCell``); refused for LSTM and GRU params, whose
            nonlinearities are fixed.

    Raises:
        TypeError: ``path`` not a path; ``metadata`` not a mapping of str to str; params not a
            mapping of arrays of one floating dtype; in nested params, a key that is not a str,
            or a leaf that is not a floating array (the message names its dotted key).
        ValueError: ``path`` not ending in ``.safetensors`` after a file name (as
            :func:`load` reads it; ``".safetensors"`` alone is refused); a reserved metadata key;
            unknown
            nonlinearity, or one given for LSTM/GRU params (for nested params, unless they hold
            exactly one Elman network); params keys missing, unexpected or mis-shaped (naming
            the prefix in nested params); in nested params, a key that is empty or holds a
            ``"."``, an empty mapping, or no recurrent network at all.
        OSError: the file could not be written (the previous one is then left as it was): of
            the type and errno the failing call raised, naming ``path`` and the failed step.
            Raised also when, after the rename, the directory's fsync fails: the message then
            says the new file is in place but its directory entry may not be durable.

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
    if _formats.suffix(path) != ".safetensors":  # the rule `jrnn.load` reads the file by
        no_stem = path.lower().endswith(".safetensors")
        raise (_errors_files.save_no_stem if no_stem else _errors_files.save_suffix)(fn, path)
    if is_nested(params):
        arrays, kinds = flatten(fn, params)
        entries = nested_header(fn, metadata, kinds, nonlinearity)
    else:
        kind, config = config_of(fn, params)
        entries = header(fn, metadata, kind, nonlinearity)
        arrays = {key: np.ascontiguousarray(params[key]) for key in torch_order(kind, config)}
    safetensors_numpy = require("safetensors.numpy", extra="io", feature="`jrnn.save`")
    entries.update(_digest.record(arrays))
    write_atomically(fn, path, safetensors_numpy.save(arrays, metadata=entries))


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
            header or bad offsets, fails the digests :func:`save` records (naming the tensor) or,
            for ``.npz`` and ``.pt``/``.pth`` archives, a member's CRC-32 (which ``torch.load``
            does not check), holds a pickle torch's weights-only loader refuses, or does not
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
    entries, _ = _formats.read(fn, path)
    try:
        _, _, arrays = checked_arrays(fn, entries, prefix)
    except (TypeError, ValueError) as err:
        raise _errors_files.checkpoint_contents(path, err) from err
    return to_jax(fn, arrays)


def load_metadata(path: str | os.PathLike) -> dict[str, str]:
    """Read the text metadata of a checkpoint, e.g. ``{"jrnn_version": ..., "nonlinearity": ...}``.

    Only safetensors files carry metadata; for ``.npz`` and ``.pt``/``.pth`` files the result is
    ``{}``. The whole file is read and checked, so a damaged one raises as in :func:`load`. The
    ``jrnn_digest.<name>`` entries :func:`save` records are checked, not returned.

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
    _, metadata = _formats.read(fn, _checked_path(fn, path))
    return dict(metadata)
