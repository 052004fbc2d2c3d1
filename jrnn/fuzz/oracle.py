"""Running one drawn call through jrnn and torch, and naming its outcome.

Outcomes: ``"correct"`` (valid, and torch's result), ``"clean error"`` (invalid, and a
``ValueError``/``TypeError`` whose message names the jrnn function), ``"raw error"`` (any other
exception), ``"silent difference"`` (an invalid call accepted, a valid one refused, or a result
unlike torch's). A crash cannot be seen from inside the process: :mod:`jrnn.fuzz.cli` runs the
calls in child processes and counts the ones that die.
"""

import warnings

import jax
import numpy as np
import torch

import jrnn

from . import build
from .calls import Call

OUTCOMES = ("correct", "clean error", "raw error", "silent difference", "crash")
MODULES = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
CELLS = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}
FUNCTIONS = {
    ("network", "rnn"): jrnn.rnn,
    ("network", "lstm"): jrnn.lstm,
    ("network", "gru"): jrnn.gru,
    ("cell", "rnn"): jrnn.cell_step,
    ("cell", "lstm"): jrnn.lstm_cell_step,
    ("cell", "gru"): jrnn.gru_cell_step,
}


def outcome(call: Call) -> tuple[str, str]:
    """``(outcome, detail)`` of one call."""
    try:
        result = jax.block_until_ready(_run_jrnn(call))
    except Exception as err:  # noqa: BLE001 - every exception is an outcome here
        detail = f"{type(err).__name__}: {str(err)[:300]}"
        if call.valid:
            return "silent difference", f"refused a valid call: {detail}"
        clean = isinstance(err, ValueError | TypeError) and "`jrnn." in str(err)
        return ("clean error" if clean else "raw error"), detail
    if not call.valid:
        return "silent difference", "accepted an invalid call"
    problem = _compare(result, _run_torch(call), call)
    return ("correct", "") if problem is None else ("silent difference", problem)


def _run_jrnn(call: Call):
    if call.family == "init":
        args, kwargs = build.init_arguments(call)
        return build.INIT[("network", call.kind)](*args, **kwargs)
    if call.family == "to_torch":
        return jrnn.to_torch(build.params(call))
    if call.family == "from_torch":
        return jrnn.from_torch(build.state_dict(call), prefix=call.choices["prefix"].value)
    fn = FUNCTIONS[(call.family, call.kind)]
    arguments = {"params": build.params(call), "x": build.x(call), "state": build.state(call)}
    if call.family == "network":
        arguments["lengths"] = build.lengths(call)
    kwargs = build.options(call)
    if not call.jit:
        return _apply(fn, arguments, kwargs)
    # Traced lengths are clipped to [0, L], not checked (documented): trace only valid ones.
    traced = {
        name: value
        for name, value in arguments.items()
        if _traceable(value) and (name != "lengths" or call.choices["lengths"].valid)
    }
    fixed = {name: value for name, value in arguments.items() if name not in traced}
    return jax.jit(lambda traced: _apply(fn, {**fixed, **traced}, kwargs))(traced)


def _apply(fn, arguments: dict, kwargs: dict):
    positional = (arguments["params"], arguments["x"], arguments["state"])
    if "lengths" in arguments:
        kwargs = {**kwargs, "lengths": arguments["lengths"]}
    return fn(*positional, **kwargs)


def _traceable(value) -> bool:
    """Whether ``jax.jit`` can take ``value`` as an argument (else it is closed over)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _traceable(v) for k, v in value.items())
    if isinstance(value, tuple | list):
        return all(_traceable(v) for v in value)
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, jax.Array | np.ndarray) and value.dtype.kind in "iuf"


def _run_torch(call: Call):
    """Return torch's result for a valid call: its outputs, or an init's ``state_dict`` shapes."""
    s = call.sizes
    if call.family == "init":
        sizes = (call.choices["input_size"].value, call.choices["hidden_size"].value)
        module = MODULES[call.kind](*sizes, bias=call.choices["bias"].value)
        return {k: tuple(v.shape) for k, v in module.state_dict().items()}
    if call.family in ("to_torch", "from_torch"):  # a lossless move: the params themselves
        return {k: np.asarray(v) for k, v in build.valid_params(call).items()}
    params = build.params(call)
    x = torch.from_numpy(np.array(build.x(call), np.float32))
    state = build.state(call)
    if state is not None:
        state = tuple(_tensor(a) for a in state) if call.kind == "lstm" else _tensor(state)
    if call.family == "cell":
        module = CELLS[call.kind](s["input_size"], s["hidden_size"], bias=s["bias"])
        module.load_state_dict(jrnn.to_torch(params))
        with torch.no_grad():
            return module(x, state)
    options = build.options(call)
    proj = {"proj_size": s["proj_size"]} if call.kind == "lstm" else {}
    with warnings.catch_warnings():  # torch warns of dropout on a one-layer module
        warnings.simplefilter("ignore")
        module = MODULES[call.kind](
            s["input_size"],
            s["hidden_size"],
            s["num_layers"],
            bias=s["bias"],
            batch_first=options["batch_first"],
            dropout=options["dropout"],
            bidirectional=s["bidirectional"],
            **proj,
        )
    module.load_state_dict(jrnn.to_torch(params))
    module.eval()  # jrnn without a key is deterministic: torch's eval mode
    lengths = build.lengths(call)
    with torch.no_grad():
        if lengths is None:
            return module(x, state)
        pack = torch.nn.utils.rnn
        lengths = torch.as_tensor(np.asarray(lengths, np.int64))
        bf = options["batch_first"]
        packed = pack.pack_padded_sequence(x, lengths, batch_first=bf, enforce_sorted=False)
        output, final = module(packed, state)
        output, _ = pack.pad_packed_sequence(output, batch_first=bf, total_length=s["L"])
        return output, final


def _tensor(array) -> torch.Tensor:
    return torch.from_numpy(np.array(array))


def _compare(result, expected, call: Call) -> str | None:
    """``None`` if jrnn's result is torch's, else what differs."""
    if call.family == "init":
        got = {k: tuple(v.shape) for k, v in result.items()}
        return None if got == expected else f"params {got}, torch's state_dict {expected}"
    if call.family in ("to_torch", "from_torch"):
        got = {k: np.asarray(v) for k, v in result.items()}
        if list(got) != list(expected):
            return f"keys {list(got)}, expected {list(expected)}"
        same = all(
            np.array_equal(got[k], v) and got[k].dtype == v.dtype for k, v in expected.items()
        )
        return None if same else "values or dtypes changed on the way"
    ours = [np.asarray(a) for a in jax.tree.leaves(result)]
    theirs = [t.numpy() for t in jax.tree.leaves(expected, is_leaf=torch.is_tensor)]
    if [a.shape for a in ours] != [t.shape for t in theirs]:
        return f"shapes {[a.shape for a in ours]}, torch's {[t.shape for t in theirs]}"
    options = build.options(call)
    if options.get("dropout") and options.get("key") is not None and call.sizes["num_layers"] > 1:
        return None  # dropout masks are drawn differently: the shapes are what can agree
    for a, t in zip(ours, theirs, strict=True):
        if not np.allclose(a, t, rtol=1e-4, atol=1e-5):
            return f"values differ from torch's by {np.max(np.abs(a - t)):.3g}"
    return None
