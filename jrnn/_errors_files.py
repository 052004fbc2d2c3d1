"""jrnn's error messages for torch interop, checkpoint files, whole-model trees and the demo.

As in :mod:`jrnn._errors`: each helper returns the exception, naming the function, the path or
key, what was expected and what arrived.
"""

from collections.abc import Mapping


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, or that does not hold RNN/LSTM/GRU params.

    The message names the file; the error it stems from is chained as ``__cause__``.
    """


def state_dict_type(fn: str, value: object) -> TypeError:
    return TypeError(
        f"`{fn}`: expected a torch.nn.Module or a state_dict (a mapping from names to torch "
        f"tensors or NumPy arrays), got {type(value).__name__}."
    )


def state_dict_key(fn: str, key: object) -> TypeError:
    return TypeError(
        f"`{fn}`: expected state_dict keys to be str, got {key!r} ({type(key).__name__})."
    )


def state_dict_value(fn: str, key: str, value: object) -> TypeError:
    return TypeError(
        f"`{fn}`: expected state_dict[{key!r}] to be a torch tensor or a NumPy array, "
        f"got {type(value).__name__}."
    )


def prefix_type(fn: str, value: object) -> TypeError:
    return TypeError(f"`{fn}`: expected prefix to be a str, got {type(value).__name__}.")


def _listing(prefixes: list[str]) -> str:
    return ", ".join(repr(p) for p in prefixes) if prefixes else "none"


def prefix_not_found(fn: str, prefix: str, candidates: list[str]) -> ValueError:
    return ValueError(
        f"`{fn}`: no state_dict entry starts with prefix={prefix!r}. "
        "Prefixes of the recurrent networks (RNN, LSTM or GRU) found (keys ending in "
        f"'weight_ih_l0' or 'weight_ih'): {_listing(candidates)}."
    )


def several_networks(fn: str, candidates: list[str]) -> ValueError:
    return ValueError(
        f"`{fn}`: the state_dict holds {len(candidates)} recurrent networks, at prefixes "
        f"{_listing(candidates)}; pass prefix=... to choose one, e.g. prefix={candidates[0]!r}."
    )


def no_network(fn: str, keys: list[str]) -> ValueError:
    shown = ", ".join(repr(k) for k in keys[:8]) + (", ..." if len(keys) > 8 else "")
    return ValueError(
        f"`{fn}`: found no recurrent network (RNN, LSTM or GRU) in the state_dict: no key is "
        "'weight_ih_l0' (torch.nn.RNN/LSTM/GRU) or 'weight_ih' (torch.nn.RNNCell/LSTMCell/"
        f"GRUCell), with or without a prefix. Keys: {shown or 'none'}."
    )


def tensor_dtype(fn: str, key: str, dtype: object) -> TypeError:
    return TypeError(
        f"`{fn}`: state_dict[{key!r}] has dtype {dtype}; recurrent weights must be floating "
        "(float16, bfloat16, float32 or float64). Integer, bool and complex tensors are refused."
    )


def x64_disabled(fn: str, key: str, container: str = "state_dict") -> TypeError:
    return TypeError(
        f"`{fn}`: {container}[{key!r}] is float64 but JAX's 64-bit mode is off, so it would be "
        "cast to float32 silently. Call jax.config.update('jax_enable_x64', True) first, or cast "
        "the tensors to float32 yourself."
    )


def nonlinearity_not_elman(fn: str, kind: str, value: object) -> ValueError:
    return ValueError(
        f"`{fn}`: nonlinearity={value!r} is recorded only for Elman networks (torch.nn.RNN, "
        f"RNNCell), but params are a torch.nn.{kind}'s, whose nonlinearities are fixed by the "
        "kind; drop nonlinearity=."
    )


def path_type(fn: str, value: object) -> TypeError:
    return TypeError(
        f"`{fn}`: expected path to be a str or os.PathLike, got {type(value).__name__}."
    )


def save_suffix(fn: str, path: str) -> ValueError:
    return ValueError(
        f"`{fn}`: writes safetensors files, so path must end in '.safetensors', got {path!r}."
    )


def save_no_stem(fn: str, path: str) -> ValueError:
    return ValueError(
        f"`{fn}`: writes safetensors files, so path must end in '.safetensors' after a file name, "
        f"got {path!r}: a name that is only '.safetensors' has no suffix to `jrnn.load` (nor to "
        "os.path.splitext), which would refuse the file. Name it, e.g. 'model.safetensors'."
    )


def _same_os_error(err: OSError, message: str) -> OSError:
    """An error of ``err``'s type and errno (``except PermissionError:`` still works)."""
    return type(err)(err.errno, message) if err.errno is not None else type(err)(message)


def save_failed(fn: str, path: str, step: str, err: OSError) -> OSError:
    return _same_os_error(
        err,
        f"`{fn}`: could not write {path!r}: {step} failed: {err.strerror or err}. The previous "
        "file, if there was one, is unchanged.",
    )


def save_not_durable(fn: str, path: str, directory: str, err: OSError) -> OSError:
    return _same_os_error(
        err,
        f"`{fn}`: wrote {path!r} completely and renamed it into place, but the fsync of its "
        f"directory {directory!r} failed: {err.strerror or err}. The new file is there, but its "
        "directory entry may not survive a crash or power loss; sync the file system (or save "
        "again) if that matters.",
    )


def load_suffix(fn: str, path: str, suffixes: tuple[str, ...]) -> ValueError:
    return ValueError(
        f"`{fn}`: expected a path ending in one of {', '.join(suffixes)} (the suffix picks the "
        f"reader), got {path!r}."
    )


def metadata_type(fn: str, value: object) -> TypeError:
    return TypeError(
        f"`{fn}`: expected metadata to be a dict from str to str, got {type(value).__name__}."
    )


def metadata_entry(fn: str, key: object, value: object) -> TypeError:
    return TypeError(
        f"`{fn}`: metadata keys and values must be str (safetensors stores text only), "
        f"got {key!r}: {value!r} ({type(key).__name__}: {type(value).__name__})."
    )


def metadata_reserved(fn: str, key: str, reserved: tuple[str, ...]) -> ValueError:
    return ValueError(
        f"`{fn}`: metadata key {key!r} is written by jrnn itself (reserved: "
        f"{', '.join(reserved)}); pass the nonlinearity as nonlinearity=..., and rename others."
    )


def checkpoint_missing(fn: str, path: str) -> FileNotFoundError:
    return FileNotFoundError(2, f"`{fn}`: no such checkpoint file", path)


def checkpoint_unreadable(fn: str, path: str, err: Exception) -> CheckpointError:
    import pickle  # stdlib; imported here because this section is appended to the module

    if isinstance(err, pickle.UnpicklingError):
        reason = (
            "torch.load(weights_only=True) refused its pickle: the file is damaged, or it asks "
            "for objects outside torch's weights-only allow-list, which could run code. jrnn "
            "never retries with full unpickling; load it yourself only if you trust its source"
        )
    else:
        lines = str(err).strip().splitlines()
        reason = f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__
    return CheckpointError(f"`{fn}`: cannot read checkpoint {path!r}: {reason}.")


def checkpoint_damaged(fn: str, path: str, tensor: str, problem: str) -> CheckpointError:
    return CheckpointError(
        f"`{fn}`: checkpoint {path!r} is damaged: tensor {tensor!r} {problem} (jrnn.save records "
        "a SHA-256 digest of each tensor's name, dtype, shape and bytes in the file's metadata). "
        "If you changed the tensors on purpose with a tool that copied jrnn's metadata, drop its "
        "'jrnn_digest.<name>' entries."
    )


def zip_member_damaged(member: str) -> ValueError:
    return ValueError(
        f"the file is damaged: its zip member {member!r} fails its CRC-32, header or size check "
        "(torch.load does not check these)"
    )


def zip_members_hidden(total: int, listed: int) -> ValueError:
    return ValueError(
        f"the file is damaged: its zip archive's end record counts {total} members, but its "
        f"central directory lists {listed}"
    )


def checkpoint_contents(path: str, err: Exception) -> CheckpointError:
    return CheckpointError(f"{err}\n  (in checkpoint file {path!r})")


def safetensors_dtype(key: str, dtype: str) -> ValueError:
    return ValueError(f"tensor {key!r} has dtype {dtype}, which jrnn cannot represent")


def npz_not_an_archive(found: object) -> ValueError:
    return ValueError(f"found a single {type(found).__name__}, not an .npz archive of named arrays")


def pt_not_a_state_dict(found: object) -> ValueError:
    return ValueError(f"it holds a {type(found).__name__}, not a state_dict")


def pt_not_a_tensor(key: object, value: object) -> ValueError:
    return ValueError(
        f"entry {key!r} is a {type(value).__name__}, not a tensor. For a training checkpoint "
        "that wraps a state_dict, load it with torch.load(path, weights_only=True) and pass the "
        "state_dict to jrnn.from_torch"
    )


# jrnn.save of a whole model's nested params (jrnn._tree)


def tree_key(fn: str, parent: str, key: object) -> TypeError | ValueError:
    where = f"under {parent!r}" if parent else "at the top level"
    error = ValueError if isinstance(key, str) else TypeError
    return error(
        f"`{fn}`: expected the keys of nested params to be non-empty str without '.' (they are "
        f"joined with '.' into torch's state_dict names, which a '.' inside a key would make "
        f"ambiguous), got {key!r} ({type(key).__name__}) {where}."
    )


def tree_empty(fn: str, name: str) -> ValueError:
    return ValueError(
        f"`{fn}`: the entry {name!r} of nested params is an empty mapping, which a state_dict "
        "has no name for. Drop it, or fill it."
    )


def tree_leaf_type(fn: str, name: str, value: object) -> TypeError:
    return TypeError(
        f"`{fn}`: expected the entry {name!r} of nested params to be an array (JAX, NumPy or a "
        f"torch tensor), got {type(value).__name__}."
    )


def tree_leaf_dtype(fn: str, name: str, dtype: object) -> TypeError:
    return TypeError(
        f"`{fn}`: the entry {name!r} of nested params has dtype {dtype}; jrnn writes floating "
        "tensors only (float16, bfloat16, float32 or float64), integer, bool and complex ones "
        "are refused. Leave it out of the params (e.g. a BatchNorm's num_batches_tracked, or "
        "an NNX model's rng state: take nnx.state(model, nnx.Param)), or cast it."
    )


def tree_network(name: str, err: Exception) -> TypeError | ValueError:
    error = TypeError if isinstance(err, TypeError) else ValueError
    prefix = name + "."
    return error(
        f"{err}\n  (in the recurrent network {name!r} of nested params, prefix {prefix!r})"
    )


def tree_no_network(fn: str, names: list[str]) -> ValueError:
    shown = ", ".join(repr(k) for k in names[:8]) + (", ..." if len(names) > 8 else "")
    return ValueError(
        f"`{fn}`: nested params hold no recurrent network: no sub-mapping has a key "
        "'weight_ih_l0' (torch.nn.RNN/LSTM/GRU) or 'weight_ih' (a cell). "
        f"Entries: {shown}."
    )


def tree_nonlinearity(fn: str, kinds: Mapping[str, str], value: object) -> ValueError:
    elman = [name for name, kind in kinds.items() if kind in ("RNN", "RNNCell")]
    listing = ", ".join(f"{name!r}: {kind}" for name, kind in kinds.items())
    fix = (
        "record each one's under a metadata key of your own"
        if elman
        else "drop nonlinearity= (LSTM and GRU nonlinearities are fixed by the kind)"
    )
    return ValueError(
        f"`{fn}`: nonlinearity={value!r} is recorded for nested params holding exactly one Elman "
        f"network (torch.nn.RNN or RNNCell), but they hold {len(elman)} (networks: {listing}); "
        f"{fix}."
    )


def demo_setting(fn: str, name: str, value: object, requirement: str) -> ValueError:
    flag = "--" + name.replace("_", "-")
    return ValueError(f"`{fn}`: expected {name} ({flag}) to be {requirement}, got {value!r}.")


def demo_setting_type(fn: str, name: str, value: object, requirement: str) -> TypeError:
    return TypeError(
        f"`{fn}`: expected {name} to be {requirement}, "
        f"got {value!r} of type {type(value).__name__}."
    )


def demo_torch_mismatch(diff: float, tolerance: float) -> RuntimeError:
    return RuntimeError(
        "`jrnn.demo`: torch.nn.RNN loaded from the saved IRNN predicts differently from jrnn: "
        f"max |torch - jrnn| = {diff:.3g} > {tolerance:.3g}. Please report this as a jrnn bug."
    )
