"""Every message jrnn raises for bad input, in one place.

Each helper returns an exception (the caller raises it) whose text names the public function,
the argument, what was expected (and where the expectation came from) and what arrived.
"""

from collections.abc import Mapping

_GATE_HINTS = {4: "LSTM", 3: "GRU"}


def not_a_mapping(fn: str, arg: str, value: object) -> TypeError:
    return TypeError(
        f"`{fn}`: expected {arg} to be a dict of arrays keyed like torch's state_dict(), "
        f"got {type(value).__name__}."
    )


def not_an_array(fn: str, key: str, value: object) -> TypeError:
    return TypeError(
        f"`{fn}`: expected params[{key!r}] to be an array, got {type(value).__name__}."
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
    lines += [f"  unexpected key {k!r} (shape {s})" for k, s in unexpected.items()]
    lines += [
        f"  key {k!r}: expected shape {want}, got {got}" for k, (want, got) in misshaped.items()
    ]
    if hint:
        lines.append(hint)
    return ValueError("\n".join(lines))


def gate_hint(key: str, rows: int, hidden_size: int) -> str:
    """A hint when `key` has a multiple of hidden_size rows, as another cell kind would."""
    if hidden_size and rows % hidden_size == 0 and rows // hidden_size in _GATE_HINTS:
        kind = _GATE_HINTS[rows // hidden_size]
        return (
            f"  params[{key!r}] has {rows} = {rows // hidden_size}*{hidden_size} rows: "
            f"these look like {kind} params, not a plain RNN's."
        )
    return ""


def cell_params_passed_to_rnn(fn: str) -> ValueError:
    return ValueError(
        f"`{fn}`: params have RNNCell keys ('weight_ih', 'weight_hh', ...) but `{fn}` needs "
        "torch.nn.RNN keys ('weight_ih_l0', ...). Use `jrnn.cell_step` for a single cell, "
        "or `jrnn.init_rnn` to build RNN params."
    )


def rnn_params_passed_to_cell(fn: str) -> ValueError:
    return ValueError(
        f"`{fn}`: params have torch.nn.RNN keys ('weight_ih_l0', ...) but `{fn}` needs "
        "torch.nn.RNNCell keys ('weight_ih', 'weight_hh', 'bias_ih', 'bias_hh'). Use `jrnn.rnn` "
        "for a whole network."
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


def x_rank(fn: str, shape: tuple) -> ValueError:
    return ValueError(
        f"`{fn}`: expected x of rank 3, (L, N, H_in) or (N, L, H_in) with batch_first=True, "
        f"or rank 2, unbatched (L, H_in); got x.shape={shape}."
    )


def x_features(fn: str, shape: tuple, input_size: int, source: str, batch_first: bool) -> ValueError:
    hint = ""
    if len(shape) == 3 and not batch_first and shape[1] == input_size:
        hint = " If your data is (N, L, H_in), pass batch_first=True."
    return ValueError(
        f"`{fn}`: input.size(-1) must be equal to input_size. Expected {input_size}, "
        f"got {shape[-1]} (input_size from params[{source!r}], x.shape={shape}).{hint}"
    )


def empty_sequence(fn: str, shape: tuple) -> ValueError:
    return ValueError(
        f"`{fn}`: expected sequence length to be larger than 0, got x.shape={shape}."
    )


def h0_shape(fn: str, expected: tuple, got: tuple, unbatched: bool) -> ValueError:
    if unbatched and len(got) == 3:
        hint = " For unbatched 2-D x, h0 must be 2-D (D*num_layers, H) as well."
    elif not unbatched and len(got) == 2:
        hint = " For batched 3-D x, h0 must be 3-D (D*num_layers, N, H), also when batch_first."
    else:
        hint = ""
    return ValueError(
        f"`{fn}`: expected h0.shape={expected} (D*num_layers, [N,] H), got h0.shape={got}.{hint}"
    )


def nonlinearity(fn: str, value: object) -> ValueError:
    return ValueError(f"`{fn}`: expected nonlinearity 'tanh' or 'relu', got {value!r}.")


def dropout(fn: str, value: object) -> ValueError:
    return ValueError(
        f"`{fn}`: expected dropout to be a probability in [0, 1), got dropout={value!r}."
    )


def lengths_shape(fn: str, expected: tuple, got: tuple) -> ValueError:
    return ValueError(
        f"`{fn}`: expected lengths of shape {expected} (one length per sequence), "
        f"got lengths.shape={got}."
    )


def lengths_dtype(fn: str, got: object) -> TypeError:
    return TypeError(f"`{fn}`: expected lengths of an integer dtype, got lengths.dtype={got}.")


def lengths_range(fn: str, seq_len: int, low: int, high: int) -> ValueError:
    return ValueError(
        f"`{fn}`: expected every length in [0, {seq_len}] (L={seq_len} from x), "
        f"got min={low}, max={high}."
    )


def positive_int(fn: str, arg: str, value: object) -> ValueError:
    return ValueError(f"`{fn}`: expected {arg} to be an integer >= 1, got {arg}={value!r}.")


def init_size(fn: str, arg: str, value: object, minimum: int) -> ValueError:
    return ValueError(f"`{fn}`: expected {arg} to be an integer >= {minimum}, got {value!r}.")


def init_dtype(fn: str, value: object) -> TypeError:
    return TypeError(f"`{fn}`: expected a floating dtype, got dtype={value!r}.")


def cell_x_shape(fn: str, shape: tuple, input_size: int) -> ValueError:
    return ValueError(
        f"`{fn}`: expected x_t of shape (N, {input_size}) or ({input_size},) "
        f"(input_size from params['weight_ih']), got x_t.shape={shape}."
    )


def cell_h_shape(fn: str, expected: tuple, got: tuple) -> ValueError:
    return ValueError(
        f"`{fn}`: expected h of shape {expected} to match x_t (no broadcasting), "
        f"got h.shape={got}."
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
        f"`{fn}`: expected params of dtype {want} (the model's dtype), got {got}. jrnn does not "
        "cast silently: cast the params, or build the model with `.from_params(params, rngs=...)`."
    )


def dropout_rng_missing(fn: str, dropout: float) -> ValueError:
    return ValueError(
        f"`{fn}`: dropout={dropout} in training mode needs random keys, but the model holds no "
        "'dropout' stream and none was passed. Build it with rngs=nnx.Rngs(...), call it with "
        "rngs=..., or switch dropout off with model.eval()."
    )


def dropout_rngs_type(fn: str, value: object) -> TypeError:
    return TypeError(
        f"`{fn}`: expected rngs to be an nnx.Rngs, an nnx.RngStream or a jax.random key, "
        f"got {type(value).__name__}."
    )
