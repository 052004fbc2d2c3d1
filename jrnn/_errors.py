"""jrnn's error messages for bad params and call arguments, and the exception types they share.

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


def torch_first(sentence: str, context: str) -> str:
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
        torch_first(_PROJ_SIZE, f"`{fn}`: got {value!r} of type {type(value).__name__}.")
    )


def proj_size_negative(fn: str, value: object) -> ValueError:
    return ValueError(torch_first(_PROJ_SIZE, f"`{fn}`: got proj_size={value!r}."))


def proj_size_not_lstm(fn: str, kind: str) -> ValueError:
    return ValueError(
        torch_first(
            "proj_size argument is only supported for LSTM, not RNN or GRU",
            f"`{fn}`: this is {kind}; pass proj_size=0, or use `jrnn.init_lstm`.",
        )
    )


def proj_size_too_large(fn: str, proj_size: int, hidden_size: int, source: str) -> ValueError:
    return ValueError(
        torch_first(
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
        torch_first(
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
        torch_first(
            f"input.size(-1) must be equal to input_size. Expected {input_size}, got {shape[-1]}",
            f"`{fn}`: x.shape={shape}, input_size={input_size} from params[{source!r}].{hint}",
        )
    )


def x_dtype(fn: str, got: object, want: object) -> TypeAndValueError:
    return TypeAndValueError(
        torch_first(
            f"RNN input dtype (torch.{got}) does not match weight dtype (torch.{want}). Convert "
            f"input: input.to(torch.{want}), or convert model: model.to(torch.{got})",
            f"`{fn}`: expected x.dtype={want} (the params' dtype), got x.dtype={got}. jrnn does "
            f"not promote silently: cast with x.astype({want}) or cast the params.",
        )
    )


def empty_sequence(fn: str, shape: tuple) -> ValueAndRuntimeError:
    return ValueAndRuntimeError(
        torch_first(
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
        torch_first(
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
        torch_first(sentence, f"`{fn}`: expected nonlinearity 'tanh' or 'relu', got {value!r}.")
    )


def dropout(fn: str, value: object) -> ValueError:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    kind = "" if number else f" ({describe(value)}; pass a Python float)"
    return ValueError(
        torch_first(
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
        return ValueAndRuntimeError(torch_first(sentence, context))
    return ValueAndRuntimeError(context)
