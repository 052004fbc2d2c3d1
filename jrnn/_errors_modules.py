"""jrnn's error messages for building networks: sizes, flags, dtypes, keys, cells, Flax wrappers.

As in :mod:`jrnn._errors`: each helper returns the exception, naming the function, the argument,
what was expected and what arrived.
"""

from collections.abc import Mapping

from ._errors import TypeAndValueError, ValueAndRuntimeError, describe, torch_first


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
        return TypeAndValueError(torch_first(sentence, context))
    return ValueError(torch_first(f"{arg} must be greater than zero", context))


def flag_type(fn: str, arg: str, value: object) -> TypeError:
    return TypeError(
        torch_first(
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
        return ValueError(torch_first(sentence, context))
    sentence = f"input has inconsistent input_size: got {shape[-1]} expected {input_size}"
    return ValueAndRuntimeError(torch_first(sentence, context))


def cell_h_shape(fn: str, expected: tuple, got: tuple, arg: str, kind: str) -> ValueError:
    """A cell state of the wrong shape; torch calls the states ``hidden0`` (h), ``hidden1`` (c)."""
    context = (
        f"`{fn}`: expected {arg} of shape {expected} to match x_t (no broadcasting), "
        f"got {arg}.shape={got}."
    )
    state = "hidden1" if arg == "c" else "hidden0"
    if len(got) not in (1, 2) and kind == "LSTM":  # torch's LSTMCell words it its own way
        sentence = f"Expected hx[{state[-1]}] to be 1D or 2D, got {len(got)}D instead"
        return ValueError(torch_first(sentence, context))
    if len(got) not in (1, 2):
        sentence = f"{kind}Cell: Expected hidden to be 1D or 2D, got {len(got)}D instead"
        return ValueError(torch_first(sentence, context))
    if len(got) != len(expected):
        sentence = f"{kind}Cell: Expected {state} to be {len(expected)}D, got {len(got)}D instead"
    elif got[:-1] != expected[:-1]:
        sentence = f"Input batch size {expected[0]} doesn't match {state} batch size {got[0]}"
    else:
        sentence = f"{state} has inconsistent hidden_size: got {got[-1]}, expected {expected[-1]}"
    return ValueAndRuntimeError(torch_first(sentence, context))


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
