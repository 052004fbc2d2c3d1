"""The text entries :func:`jrnn.save` writes in a safetensors header, and the keys it reserves.

Every file gets ``format`` (``"pt"``: the tensors are in torch's layout, as Hugging Face tools
expect of a safetensors file), ``jrnn_version``, the kind of its network (``jrnn_kind``, or one
``jrnn_kind.<name>`` per network of a whole model), an Elman network's ``nonlinearity`` when given
(``nonlinearity.<name>``), and one ``jrnn_digest.<tensor>`` per tensor (see :mod:`jrnn._digest`).
"""

from collections.abc import Mapping

from . import _errors_files, _nonlinearity
from ._digest import PREFIX as DIGEST_PREFIX

_RESERVED = ("format", "jrnn_version", "jrnn_kind", "nonlinearity")
_RESERVED_PREFIXES = ("jrnn_kind.", "nonlinearity.", DIGEST_PREFIX)


def _base_header(fn: str, metadata: object) -> dict[str, str]:
    """The user's metadata, checked, with the entries every file gets."""
    from . import __version__  # read at call time: jrnn/__init__ imports this module

    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        raise _errors_files.metadata_type(fn, metadata)
    for key, value in metadata.items():
        if not (isinstance(key, str) and isinstance(value, str)):
            raise _errors_files.metadata_entry(fn, key, value)
        if key in _RESERVED or key.startswith(_RESERVED_PREFIXES):
            reserved = _RESERVED + tuple(f"{p}<name>" for p in _RESERVED_PREFIXES)
            raise _errors_files.metadata_reserved(fn, key, reserved)
    return {**metadata, "format": "pt", "jrnn_version": __version__}


def header(fn: str, metadata: object, kind: str, nonlinearity: str | None) -> dict[str, str]:
    """The header entries of one network's file (``kind`` as torch names its module)."""
    entries = {**_base_header(fn, metadata), "jrnn_kind": kind}
    if nonlinearity is not None:
        if kind not in ("RNN", "RNNCell"):
            raise _errors_files.nonlinearity_not_elman(fn, kind, nonlinearity)
        entries["nonlinearity"] = _nonlinearity.check(fn, nonlinearity)
    return entries


def nested_header(
    fn: str, metadata: object, kinds: Mapping[str, str], nonlinearity: str | None
) -> dict[str, str]:
    """The header entries of a whole model's file; ``kinds`` maps network names to kinds."""
    entries = _base_header(fn, metadata)
    entries.update((f"jrnn_kind.{name}", kind) for name, kind in kinds.items())
    if nonlinearity is not None:
        elman = [name for name, kind in kinds.items() if kind in ("RNN", "RNNCell")]
        if len(elman) != 1:
            raise _errors_files.tree_nonlinearity(fn, kinds, nonlinearity)
        entries[f"nonlinearity.{elman[0]}"] = _nonlinearity.check(fn, nonlinearity)
    return entries
