"""Every message jrnn raises for bad input, in one place.

Each helper returns an exception (the caller raises it) whose text names the public function,
the argument, what was expected (and where the expectation came from) and what arrived. Where
torch refuses the same input, the message starts with torch's own sentence and the exception is
also an instance of torch's type, so code ported from torch (``except RuntimeError:``,
``assertRaisesRegex(RuntimeError, "Expected hidden size")``) keeps working.
"""

from collections.abc import Mapping

import jax


class ValueAndRuntimeError(ValueError, RuntimeError):
    """A bad value (a shape, a length) that torch refuses with a ``RuntimeError``.

    Catchable as either: ``ValueError`` is Python's convention, ``RuntimeError`` is torch's.
    """

    __module__ = "jrnn"  # as users import it, and as tracebacks show it


class TypeAndValueError(TypeError, ValueError):
    """A bad type or dtype that torch refuses with the other of the two: catchable as either.

    ``TypeError`` for a dtype (or ``ValueError`` for a size of the wrong type) is what jrnn
    raised before; torch raises ``ValueError`` (``TypeError``) for the same input.
    """

    __module__ = "jrnn"


def _torch_first(sentence: str, context: str) -> str:
    """Join torch's sentence for the case and jrnn's context (function, argument, the fix)."""
    return f"{sentence}. {context}"


def not_a_mapping(fn: str, arg: str, value: object) -> TypeError:
    return TypeError(
        f"`{fn}`: expected {arg} to be a dict of arrays keyed like torch's state_dict(), "
        f"got {type(value).__name__}."
    )


def not_an_array(fn: str, key: str, value: object) -> TypeError:
    return TypeError(
        f"`{fn}`: expected params[{key!r}] to be an array, got {type(value).__name__}."
    )


_LISTED = 12  # unexpected keys listed one by one; a whole model's state_dict can hold hundreds


def prefix_hint(prefix: str) -> str:
    """The fix when a whole model's state_dict arrives where one network's params belong."""
    return (
        f"  These look like a whole model's state_dict: take the network's entries with "
        f"`jrnn.from_torch(state_dict, prefix={prefix!r})`."
    )


def params_mismatch(
    fn: str,
    kind: str,
    missing: Mapping[str, tuple],
    unexpected: Mapping[str, tuple],
    misshaped: Mapping[str, tuple[tuple, tuple]],
    hint: str = "",
) -> ValueError:
    lines = [f"`{fn}`: params are not a torch.nn.{kind} state_dict."]
    lines += [f"  missing key {k!r} (expected shape {s})" for k, s in missing.items()]
    listed = list(unexpected.items())[:_LISTED]
    lines += [f"  unexpected key {k!r} (shape {s})" for k, s in listed]
    if len(unexpected) > _LISTED:
        lines.append(f"  ... and {len(unexpected) - _LISTED} more unexpected keys")
    lines += [
        f"  key {k!r}: expected shape {want}, got {got}" for k, (want, got) in misshaped.items()
    ]
    if hint:
        lines.append(hint)
    return ValueError("\n".join(lines))


_FUNCTIONS = {"RNN": "jrnn.rnn", "GRU": "jrnn.gru", "LSTM": "jrnn.lstm"}
_CELL_FUNCTIONS = {
    "RNN": "jrnn.cell_step",
    "GRU": "jrnn.gru_cell_step",
    "LSTM": "jrnn.lstm_cell_step",
}
_INITS = {"RNN": "jrnn.init_rnn", "GRU": "jrnn.init_gru", "LSTM": "jrnn.init_lstm"}


def kind_hint(kind: str, cell: bool) -> str:
    """The fix when params of another cell kind arrive: the function for their kind."""
    call = (_CELL_FUNCTIONS if cell else _FUNCTIONS)[kind]
    module = f"torch.nn.{kind}Cell" if cell else f"torch.nn.{kind}"
    return f"  These look like {module} params: call `{call}`."


def params_key_type(fn: str, key: object) -> TypeError:
    return TypeError(
        f"`{fn}`: expected params keys to be str (torch's state_dict names), "
        f"got {key!r} ({type(key).__name__})."
    )


def cell_params_passed_to_rnn(fn: str, kind: str = "RNN", found: str | None = None) -> ValueError:
    """Cell keys reached network ``fn`` of ``kind``; ``found`` is the kind they look like."""
    found = found or kind
    return ValueError(
        f"`{fn}`: params have torch.nn.{found}Cell keys ('weight_ih', 'weight_hh', ...) but "
        f"`{fn}` needs torch.nn.{kind} keys ('weight_ih_l0', ...). Use "
        f"`{_CELL_FUNCTIONS[found]}` for a single {found} cell, or `{_INITS[kind]}` to build "
        f"{kind} params."
    )


def rnn_params_passed_to_cell(fn: str, kind: str = "RNN", found: str | None = None) -> ValueError:
    """Network keys reached cell ``fn`` of ``kind``; ``found`` is the kind they look like."""
    found = found or kind
    return ValueError(
        f"`{fn}`: params have torch.nn.{found} keys ('weight_ih_l0', ...) but `{fn}` needs "
        f"torch.nn.{kind}Cell keys ('weight_ih', 'weight_hh', 'bias_ih', 'bias_hh'). "
        f"Use `{_FUNCTIONS[found]}` for a whole {found} network."
    )


_PROJ_SIZE = "proj_size should be a positive integer or zero to disable projections"


def proj_size_type(fn: str, value: object) -> TypeError:
    return TypeError(
        _torch_first(_PROJ_SIZE, f"`{fn}`: got {value!r} of type {type(value).__name__}.")
    )


def proj_size_negative(fn: str, value: object) -> ValueError:
    return ValueError(_torch_first(_PROJ_SIZE, f"`{fn}`: got proj_size={value!r}."))


def proj_size_not_lstm(fn: str, kind: str) -> ValueError:
    return ValueError(
        _torch_first(
            "proj_size argument is only supported for LSTM, not RNN or GRU",
            f"`{fn}`: this is {kind}; pass proj_size=0, or use `jrnn.init_lstm`.",
        )
    )


def proj_size_too_large(fn: str, proj_size: int, hidden_size: int, source: str) -> ValueError:
    return ValueError(
        _torch_first(
            "proj_size has to be smaller than hidden_size",
            f"`{fn}`: got proj_size={proj_size} (from {source}) and hidden_size={hidden_size}.",
        )
    )


def params_dtype(fn: str, dtypes: Mapping[str, object]) -> TypeError:
    listing = ", ".join(f"{k}: {d}" for k, d in dtypes.items())
    return TypeError(
        f"`{fn}`: expected every params entry to share one floating dtype, got {listing}."
    )


def array_dtype(fn: str, arg: str, got: object, want: object) -> TypeError:
    return TypeError(
        f"`{fn}`: expected {arg}.dtype={want} (the params' dtype), got {arg}.dtype={got}. "
        f"jrnn does not promote silently: cast with {arg}.astype({want}) or cast the params."
    )


def describe(value: object) -> str:
    """What a user passed, in a few words: its shape for an array, its length for a sequence."""
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"an array of shape {tuple(shape)}"
    if isinstance(value, tuple | list):
        items = "item" if len(value) == 1 else "items"
        return f"a {type(value).__name__} of {len(value)} {items}"
    return type(value).__name__


def not_array_like(fn: str, arg: str, value: object) -> TypeError:
    return TypeError(
        f"`{fn}`: expected {arg} to be an array (a jax.Array, a NumPy array, or nested lists of "
        f"numbers), got {value!r:.60} ({type(value).__name__})."
    )


def state_not_one_array(fn: str, arg: str, value: object, kind: str) -> TypeError:
    if kind != "LSTM" and len(value) == 2:
        lstm = _CELL_FUNCTIONS["LSTM"] if fn.endswith("cell_step") else _FUNCTIONS["LSTM"]
        fix = f"A {kind} carries one state; a (h, c) pair is an LSTM's, for `{lstm}`."
    else:
        fix = f"If these are per-layer states, stack them: {arg}=jnp.stack({arg})."
    return TypeError(
        f"`{fn}`: expected {arg} to be one array, got a {type(value).__name__} of "
        f"{len(value)} arrays. {fix}"
    )


def x_rank(fn: str, kind: str, shape: tuple) -> ValueError:
    return ValueError(
        _torch_first(
            # torch's RNN says "4D tensor instead", its LSTM and GRU "4D instead"
            f"{kind}: Expected input to be 2D or 3D, got {len(shape)}D"
            + (" tensor instead" if kind == "RNN" else " instead"),
            f"`{fn}`: expected x of rank 3, (L, N, H_in) or (N, L, H_in) with batch_first=True, "
            f"or rank 2, unbatched (L, H_in); got x.shape={shape}.",
        )
    )


def x_features(
    fn: str, shape: tuple, input_size: int, source: str, batch_first: bool
) -> ValueAndRuntimeError:
    hint = ""
    if len(shape) == 3 and not batch_first and shape[1] == input_size:
        hint = " If your data is (N, L, H_in), pass batch_first=True."
    return ValueAndRuntimeError(
        _torch_first(
            f"input.size(-1) must be equal to input_size. Expected {input_size}, got {shape[-1]}",
            f"`{fn}`: x.shape={shape}, input_size={input_size} from params[{source!r}].{hint}",
        )
    )


def x_dtype(fn: str, got: object, want: object) -> TypeAndValueError:
    return TypeAndValueError(
        _torch_first(
            f"RNN input dtype (torch.{got}) does not match weight dtype (torch.{want}). Convert "
            f"input: input.to(torch.{want}), or convert model: model.to(torch.{got})",
            f"`{fn}`: expected x.dtype={want} (the params' dtype), got x.dtype={got}. jrnn does "
            f"not promote silently: cast with x.astype({want}) or cast the params.",
        )
    )


def empty_sequence(fn: str, shape: tuple) -> ValueAndRuntimeError:
    return ValueAndRuntimeError(
        _torch_first(
            "Expected sequence length to be larger than 0 in RNN",
            f"`{fn}`: expected sequence length to be larger than 0, got x.shape={shape}.",
        )
    )


def h0_shape(
    fn: str,
    expected: tuple,
    got: tuple,
    unbatched: bool,
    arg: str = "h0",
    source: str = "",
    hint: str = "",
    lstm: bool = False,
) -> ValueAndRuntimeError:
    """A network's initial state of the wrong shape, in torch's words and then jrnn's.

    ``source`` says where the last axis' size came from; ``hint`` is appended; ``lstm`` names
    the states torch's way, ``hidden[0]`` and ``hidden[1]``.
    """
    size = "H" if arg == "c0" else "H_out"
    layout = f"(D*num_layers, {size})" if unbatched else f"(D*num_layers, N, {size})"
    if unbatched and len(got) == 3:
        rank_hint = f" For unbatched 2-D x, {arg} must be 2-D (D*num_layers, {size}) as well."
    elif not unbatched and len(got) == 2:
        rank_hint = (
            f" For batched 3-D x, {arg} must be 3-D (D*num_layers, N, {size}), also when "
            "batch_first."
        )
    else:
        rank_hint = ""
    source = f" with {size}={expected[-1]} {source}" if source else ""
    if len(got) != len(expected):
        inputs = "unbatched 2-D" if unbatched else "batched 3-D"
        sentence = (
            f"For {inputs} input, hx should also be {len(expected)}-D but got {len(got)}-D tensor"
        )
    else:
        name = {"h0": "hidden[0]", "c0": "hidden[1]"}[arg] if lstm else "hidden"
        sentence = f"Expected {name} size {expected}, got {list(got)}"
    return ValueAndRuntimeError(
        _torch_first(
            sentence,
            f"`{fn}`: expected {arg}.shape={expected} {layout}{source}, "
            f"got {arg}.shape={got}.{rank_hint}{hint}",
        )
    )


def lstm_state(fn: str, value: object, h0_shape: tuple, c0_shape: tuple) -> TypeError:
    return TypeError(
        f"`{fn}`: expected state to be a (h0, c0) pair (or None for zeros), got "
        f"{describe(value)}. An LSTM carries two states: pass state=(h0, c0) with h0 of shape "
        f"{h0_shape} (D*num_layers, N, H_out) and c0 of shape {c0_shape} (D*num_layers, N, H)."
    )


def traced_config(fn: str, arg: str) -> TypeError:
    return TypeError(
        f"`{fn}`: {arg} must be static (a Python value), but it is a traced JAX value: it shapes "
        f"the computation, so under jax.jit pass it with static_argnames=({arg!r},) or close "
        "over it."
    )


def nonlinearity(fn: str, value: object, cell: bool) -> ValueAndRuntimeError:
    """Refused by torch's network with a ValueError, by its cell with a RuntimeError."""
    if cell:
        sentence = f"Unknown nonlinearity: {value}"
    else:
        sentence = f"Unknown nonlinearity '{value}'. Select from 'tanh' or 'relu'"
    return ValueAndRuntimeError(
        _torch_first(sentence, f"`{fn}`: expected nonlinearity 'tanh' or 'relu', got {value!r}.")
    )


def dropout(fn: str, value: object) -> ValueError:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    kind = "" if number else f" ({describe(value)}; pass a Python float)"
    return ValueError(
        _torch_first(
            "dropout should be a number in range [0, 1] representing the probability of an "
            "element being zeroed",
            f"`{fn}`: expected dropout to be a probability in [0, 1], got dropout={value!r}{kind}.",
        )
    )


def precision(fn: str, value: object, err: Exception) -> ValueError | TypeError:
    if isinstance(value, jax.lax.DotAlgorithm | jax.lax.DotAlgorithmPreset):
        return ValueError(
            f"`{fn}`: precision={value!r} is not supported on JAX's {jax.default_backend()} "
            f"backend ({err}). Pass another jax.lax.DotAlgorithmPreset, or a jax.lax.Precision."
        )
    error = ValueError if isinstance(value, str | tuple | list) else TypeError
    return error(
        f"`{fn}`: expected precision to be None, a jax.lax.Precision or its name ('default', "
        "'high', 'highest'), a pair of those, or a jax.lax.DotAlgorithmPreset or its name, "
        f"got precision={value!r}."
    )


def lengths_shape(fn: str, expected: tuple, got: tuple) -> ValueError:
    return ValueError(
        f"`{fn}`: expected lengths of shape {expected} (one length per sequence), "
        f"got lengths.shape={got}."
    )


def lengths_dtype(fn: str, got: object) -> TypeError:
    return TypeError(f"`{fn}`: expected lengths of an integer dtype, got lengths.dtype={got}.")


def lengths_range(fn: str, seq_len: int, low: int, high: int) -> ValueAndRuntimeError:
    context = (
        f"`{fn}`: expected every entry of lengths in [0, {seq_len}] (L={seq_len} from x), got "
        f"lengths with min={low}, max={high}."
    )
    if low < 0:
        sentence = (
            "Length of all samples has to be greater than 0, but found an element in 'lengths' "
            "that is <= 0"
        )
        return ValueAndRuntimeError(_torch_first(sentence, context))
    return ValueAndRuntimeError(context)


def random_key(fn: str, key: object) -> TypeError:
    shape = getattr(key, "shape", None)
    dtype = getattr(key, "dtype", None)
    return TypeError(
        f"`{fn}`: expected key to be one jax.random key (jax.random.key(seed), or a "
        f"PRNGKey of shape (2,) uint32), got {type(key).__name__} with shape={shape}, "
        f"dtype={dtype}. Split a batch of keys before calling."
    )


def positive_int(fn: str, arg: str, value: object) -> ValueError:
    return ValueError(f"`{fn}`: expected {arg} to be an integer >= 1, got {arg}={value!r}.")


def init_size(fn: str, arg: str, value: object, minimum: int) -> ValueError:
    """Refused by torch with a TypeError for another type, a ValueError for a small size."""
    context = f"`{fn}`: expected {arg} to be an integer >= {minimum}, got {value!r}."
    if isinstance(value, bool) or not isinstance(value, int) and not hasattr(value, "__index__"):
        sentence = f"{arg} should be of type int, got: {type(value).__name__}"
        return TypeAndValueError(_torch_first(sentence, context))
    return ValueError(_torch_first(f"{arg} must be greater than zero", context))


def flag_type(fn: str, arg: str, value: object) -> TypeError:
    return TypeError(
        _torch_first(
            f"{arg} should be of type bool, got: {type(value).__name__}",
            f"`{fn}`: pass {arg}=True or {arg}=False, not {value!r} (read as a flag, a string "
            "such as 'False' would be true).",
        )
    )


def init_dtype(fn: str, value: object, arg: str = "dtype") -> TypeError:
    return TypeError(
        f"`{fn}`: expected a floating dtype, got {arg}={value!r}; jrnn supports float16, "
        "bfloat16, float32 and float64."
    )


def init_dtype_x64(fn: str, arg: str) -> TypeError:
    return TypeError(
        f"`{fn}`: {arg}=float64 needs JAX's 64-bit mode, which is off (JAX would make float32 "
        "arrays silently). Call jax.config.update('jax_enable_x64', True) first, or use float32."
    )


def params_too_large(fn: str, needed: int, available: int) -> ValueError:
    return ValueError(
        f"`{fn}`: these sizes need {needed / 2**30:.3g} GiB of params, more than the "
        f"{available / 2**30:.3g} GiB of memory JAX's device has; check input_size, hidden_size "
        "and num_layers."
    )


def cell_x_shape(fn: str, kind: str, shape: tuple, input_size: int) -> ValueError:
    """A rank torch refuses with a ValueError, or a feature size it refuses with a RuntimeError."""
    context = (
        f"`{fn}`: expected x_t of shape (N, {input_size}) or ({input_size},) "
        f"(input_size from params['weight_ih']), got x_t.shape={shape}."
    )
    if len(shape) not in (1, 2):
        sentence = f"{kind}Cell: Expected input to be 1D or 2D, got {len(shape)}D instead"
        return ValueError(_torch_first(sentence, context))
    sentence = f"input has inconsistent input_size: got {shape[-1]} expected {input_size}"
    return ValueAndRuntimeError(_torch_first(sentence, context))


def cell_h_shape(fn: str, expected: tuple, got: tuple, arg: str, kind: str) -> ValueError:
    """A cell state of the wrong shape; torch calls the states ``hidden0`` (h), ``hidden1`` (c)."""
    context = (
        f"`{fn}`: expected {arg} of shape {expected} to match x_t (no broadcasting), "
        f"got {arg}.shape={got}."
    )
    state = "hidden1" if arg == "c" else "hidden0"
    if len(got) not in (1, 2) and kind == "LSTM":  # torch's LSTMCell words it its own way
        sentence = f"Expected hx[{state[-1]}] to be 1D or 2D, got {len(got)}D instead"
        return ValueError(_torch_first(sentence, context))
    if len(got) not in (1, 2):
        sentence = f"{kind}Cell: Expected hidden to be 1D or 2D, got {len(got)}D instead"
        return ValueError(_torch_first(sentence, context))
    if len(got) != len(expected):
        sentence = f"{kind}Cell: Expected {state} to be {len(expected)}D, got {len(got)}D instead"
    elif got[:-1] != expected[:-1]:
        sentence = f"Input batch size {expected[0]} doesn't match {state} batch size {got[0]}"
    else:
        sentence = f"{state} has inconsistent hidden_size: got {got[-1]}, expected {expected[-1]}"
    return ValueAndRuntimeError(_torch_first(sentence, context))


def lstm_cell_state(fn: str, value: object, shape: tuple) -> TypeError:
    return TypeError(
        f"`{fn}`: expected state to be a (h, c) pair (or None for zeros), got "
        f"{describe(value)}. An LSTM cell carries two states: pass state=(h, c), each of shape "
        f"{shape}."
    )


def flax_x_rank(fn: str, arg: str, ranks: str, shape: tuple) -> ValueError:
    return ValueError(f"`{fn}`: expected {arg} of shape {ranks}, got {arg}.shape={shape}.")


def params_do_not_fit(
    fn: str, model: Mapping[str, object], params: Mapping[str, object]
) -> ValueError:
    want = ", ".join(f"{k}={v!r}" for k, v in model.items())
    got = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return ValueError(
        f"`{fn}`: params do not fit this model: the model has {want}, the params describe "
        f"{got}. Build a model from the params instead with `.from_params(params, rngs=...)`."
    )


def params_dtype_does_not_fit(fn: str, got: object, want: object) -> TypeError:
    return TypeError(
        f"`{fn}`: expected params of dtype {want} (the model's param_dtype), got {got}. jrnn "
        "does not cast stored params silently: cast them, or build the model with "
        "`.from_params(params, rngs=...)`, which keeps their dtype."
    )


def wrapper_dtype(fn: str, promoted: object) -> TypeError:
    return TypeError(
        f"`{fn}`: the inputs and params promote to {promoted}, not a floating dtype. Pass "
        "floating inputs, or set the module's dtype (e.g. dtype=jnp.float32) to compute in it."
    )


def wrapper_kind_hint(namespace: str, kind: str, cell: bool) -> str:
    """The fix when a wrapper gets params of another kind: the wrapper for their kind."""
    name = kind + ("Cell" if cell else "")
    return f"  These look like torch.nn.{name} params: use `{namespace}.{name}`."


def dropout_rng_missing(fn: str, dropout: float) -> ValueError:
    return ValueError(
        f"`{fn}`: dropout={dropout} in training mode needs random keys, but the model holds no "
        "'dropout' stream and none was passed. Build it with rngs=nnx.Rngs(...), call it with "
        "rngs=..., or switch dropout off with model.eval()."
    )


def linen_dropout_rng_missing(fn: str, dropout: float) -> ValueError:
    return ValueError(
        f"`{fn}`: dropout={dropout} with deterministic=False needs a 'dropout' rng, and none "
        "was given: call apply(..., rngs={'dropout': key}), or pass deterministic=True."
    )


def tensor_without_data(fn: str, name: str, tensor: object) -> TypeError:
    if tensor.is_meta:
        what, fix = "is on the meta device, with no values", "materialise it first"
    else:
        what, fix = f"has layout {tensor.layout}", "call .to_dense() first"
    return TypeError(f"`{fn}`: the torch tensor {name!r} {what}; jrnn needs a dense tensor: {fix}.")


def init_rngs_type(fn: str, value: object) -> TypeError:
    return TypeError(
        f"`{fn}`: expected rngs to be an nnx.Rngs (e.g. rngs=nnx.Rngs(0)), got "
        f"{type(value).__name__}; a bare key or seed goes inside it: nnx.Rngs(key)."
    )


def dropout_stream(fn: str, rate: float) -> ValueError:
    return ValueError(
        f"`{fn}`: dropout={rate} needs a 'dropout' (or 'default') stream in rngs to draw its "
        "masks from, and rngs has neither: pass e.g. nnx.Rngs(params=0, dropout=1)."
    )


def dropout_rngs_type(fn: str, value: object) -> TypeError:
    return TypeError(
        f"`{fn}`: expected rngs to be an nnx.Rngs, an nnx.RngStream or a jax.random key, "
        f"got {type(value).__name__}."
    )


# --- torch interop and checkpoint files (jrnn._torch, jrnn._io, jrnn.convert) ---


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
