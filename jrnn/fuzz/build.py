"""Turning a drawn :class:`~jrnn.fuzz.calls.Call` into the arguments of a jrnn call.

Valid choices become what torch's module would take; broken ones become the mistake they name
(a params dict with an int key, a ragged list for ``x``, ``lengths`` above ``L``, ...).
"""

import jax
import jax.numpy as jnp
import numpy as np

import jrnn

from .calls import Call

INIT = {
    ("network", "rnn"): jrnn.init_rnn,
    ("network", "lstm"): jrnn.init_lstm,
    ("network", "gru"): jrnn.init_gru,
    ("cell", "rnn"): jrnn.init_rnn_cell,
    ("cell", "lstm"): jrnn.init_lstm_cell,
    ("cell", "gru"): jrnn.init_gru_cell,
}


def valid_params(call: Call) -> dict:
    """The params of the call's valid network or cell (float32, drawn from a fixed key)."""
    s = call.sizes
    init = INIT[("cell" if call.family == "cell" else "network", call.kind)]
    if call.family == "cell":
        return init(jax.random.key(0), s["input_size"], s["hidden_size"], bias=s["bias"])
    options = {"proj_size": s["proj_size"]} if call.kind == "lstm" else {}
    return init(
        jax.random.key(0),
        s["input_size"],
        s["hidden_size"],
        s["num_layers"],
        bias=s["bias"],
        bidirectional=s["bidirectional"],
        **options,
    )


def params(call: Call):
    """The call's params: valid, or damaged as its choice says."""
    p = valid_params(call)
    first = next(iter(p))
    label = call.choices["params"].value
    if label == "valid":
        return p
    if label == "int key":
        return {**p, 3: p[first]}
    if label == "wrong shape":
        name = next(k for k in p if k.startswith("weight_hh"))
        return {**p, name: jnp.ones((p[name].shape[0] + 1, p[name].shape[1]))}
    if label == "zero hidden":  # hidden_size = 0: torch refuses to build such a module
        return {k: jnp.zeros(_zero_hidden(k, v.shape), jnp.float32) for k, v in p.items()}
    if label == "float8":
        return jax.tree.map(lambda v: v.astype(jnp.float8_e4m3fn), p)
    if label == "missing key":
        return {k: v for k, v in p.items() if k != first}
    if label == "extra key":
        return {**p, "weight_ih_l9": p[first]}
    if label == "list value":
        return {**p, first: np.asarray(p[first]).tolist()}
    assert label == "not a dict", label
    return list(p.values())


def _zero_hidden(name: str, shape: tuple) -> tuple:
    """The shape of tensor ``name`` with ``hidden_size = 0`` (``weight_ih`` keeps ``H_in``)."""
    if len(shape) == 1:
        return (0,)
    return (0, shape[1] if name.startswith("weight_ih") else 0)


def x_shape(call: Call, seq_len: int) -> tuple:
    """``x``'s shape: ``(L, N, H_in)``, batch-first, unbatched, or a cell's ``(N, H_in)``."""
    s = call.sizes
    batch_first = call.choices.get("batch_first")
    if call.family == "cell":
        return (s["input_size"],) if s["N"] is None else (s["N"], s["input_size"])
    if s["N"] is None:
        return (seq_len, s["input_size"])
    if batch_first is not None and batch_first.value is True:
        return (s["N"], seq_len, s["input_size"])
    return (seq_len, s["N"], s["input_size"])


def x(call: Call):
    """The call's input, as its choice says."""
    label = call.choices["x"].value
    rng = np.random.default_rng(1)
    shape = x_shape(call, call.sizes["L"])
    value = rng.uniform(-1, 1, shape).astype(np.float32)
    if label == "valid":
        return jnp.asarray(value)
    if label == "valid list":
        return value.tolist()
    if label == "wrong rank":
        return jnp.asarray(value[..., None])
    if label == "wrong features":
        return jnp.ones((*shape[:-1], shape[-1] + 1), jnp.float32)
    if label == "float16":
        return jnp.asarray(value, jnp.float16)
    if label == "string":
        return "abc"
    if label is None:
        return None
    if label == "ragged":
        return [[1.0, 2.0], [3.0]]
    assert label == "empty sequence", label
    if call.family == "cell":
        return jnp.zeros((0,), jnp.float32)  # a vector of no features
    return jnp.zeros(x_shape(call, 0), jnp.float32)


def state_shapes(call: Call) -> list[tuple]:
    """``h0`` (and LSTM's ``c0``) shapes: ``(S, N, P)`` for networks, ``(N, H)`` for cells."""
    s = call.sizes
    hidden = s["hidden_size"]
    out = s["proj_size"] or hidden
    batch = () if s["N"] is None else (s["N"],)
    if call.family == "cell":
        lead = batch
    else:
        lead = ((2 if s["bidirectional"] else 1) * s["num_layers"], *batch)
    shapes = [(*lead, out)]
    if call.kind == "lstm":
        shapes.append((*lead, hidden))
    return shapes


def state(call: Call):
    """The call's initial state (``h0``, LSTM's pair, a cell's ``h``), as its choice says."""
    label = call.choices["state"].value
    if label is None:
        return None
    if label == "string":
        return "abc"
    rng = np.random.default_rng(2)
    shapes = state_shapes(call)
    if label == "wrong shape":
        shapes = [(*shape[:-1], shape[-1] + 1) for shape in shapes]
    arrays = [jnp.asarray(rng.uniform(-1, 1, shape), jnp.float32) for shape in shapes]
    return tuple(arrays) if call.kind == "lstm" else arrays[0]


def lengths(call: Call):
    """The call's ``lengths``, as its choice says (``None`` for unbatched input)."""
    label = call.choices["lengths"].value
    if label is None:
        return None
    L, N = call.sizes["L"], call.sizes["N"]
    valid = (np.arange(N) % L) + 1  # (N,) in [1, L]
    if label == "valid":
        return valid.astype(np.int32)
    if label == "valid list":
        return [int(v) for v in valid]
    if label == "valid uint32":
        return valid.astype(np.uint32)
    if label == "above L":
        return np.full(N, L + 1, np.int32)
    if label == "negative":
        return np.full(N, -1, np.int32)
    if label == "float":
        return valid.astype(np.float32)
    assert label == "wrong shape", label
    return np.ones(N + 1, np.int32)


def options(call: Call) -> dict:
    """The keyword arguments of the call, with recipes such as ``"key"`` made into values."""
    kwargs = {}
    for name in ("batch_first", "dropout", "unroll", "checkpoint_every", "precision"):
        if name in call.choices:
            kwargs[name] = call.choices[name].value
    if "key" in call.choices:
        key = call.choices["key"].value
        kwargs["key"] = jax.random.key(3) if key == "key" else key
    return kwargs


def init_arguments(call: Call) -> tuple[tuple, dict]:
    """``(key, input_size, hidden_size)`` and ``dtype``/``bias`` for an initialiser."""
    labels = {name: choice.value for name, choice in call.choices.items()}
    key = {"key": jax.random.key(0), "raw key": jax.random.PRNGKey(0)}.get(labels["key"])
    if labels["key"] == "keys batch":
        key = jax.random.split(jax.random.key(0), 2)
    elif key is None:
        key = labels["key"]
    args = (key, labels["input_size"], labels["hidden_size"])
    return args, {"dtype": labels["dtype"], "bias": labels["bias"]}


def state_dict(call: Call):
    """A torch state_dict holding the call's valid params, or damaged as its choice says."""
    import torch

    label = call.choices["state_dict"].value
    tensors = {k: torch.from_numpy(np.array(v)) for k, v in valid_params(call).items()}
    if label == "valid":
        return tensors
    if label == "prefixed":  # a network inside a bigger model: found without a prefix
        return {"rnn." + k: v for k, v in tensors.items()}
    if label == "meta":
        return {k: v.to("meta") for k, v in tensors.items()}
    if label == "sparse":
        return {k: v.to_sparse() for k, v in tensors.items()}
    if label == "int64":
        return {k: v.long() for k, v in tensors.items()}
    if label == "float8":
        return {k: v.to(torch.float8_e4m3fn) for k, v in tensors.items()}
    assert label == "not a dict", label
    return list(tensors.values())
