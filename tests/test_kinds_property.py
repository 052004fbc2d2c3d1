"""Random configurations (hypothesis, derandomized) against torch.nn.LSTM and GRU in float64.

Each example draws layers 1-3, bidirectional, bias, LSTM's proj_size (0 to H-1), batched or
not, batch_first (which unbatched input ignores, in torch as in jrnn), sizes 1-4, an initial
state or None, and optional lengths in [0, L] with NaN in the padding (rows of length 0, which
torch cannot pack, get what an empty sequence must give: see ``torch_reference``), then
compares outputs, the final state and the gradients w.r.t. params, x and the initial state.

jrnn runs compiled, one program per example with LLVM's optimisations off (about 1 s each
here): 8 examples per kind keep the file within its share of the suite's time.
"""

import numpy as np
from _torch_reference import (
    assert_tree_close,
    jrnn_run,
    random_params,
    torch_module,
    torch_reference,
)
from hypothesis import given, settings
from hypothesis import strategies as st


@st.composite
def configurations(draw, kind):
    config = {
        "num_layers": draw(st.integers(1, 3)),
        "bidirectional": draw(st.booleans()),
        "bias": draw(st.booleans()),
        "batched": draw(st.booleans()),
        "batch_first": draw(st.booleans()),
        "L": draw(st.integers(1, 4)),
        "N": draw(st.integers(1, 4)),
        "H_in": draw(st.integers(1, 4)),
        "H": draw(st.integers(1, 4)),
        "with_state": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)),
    }
    config["proj_size"] = draw(st.integers(0, config["H"] - 1)) if kind == "LSTM" else 0
    lengths = st.integers(0, config["L"])
    if config["batched"]:
        lengths = st.lists(lengths, min_size=config["N"], max_size=config["N"])
    config["lengths"] = draw(st.none() | lengths)
    return config


def check(kind, config):
    rng = np.random.default_rng(config["seed"])
    L, N, H_in, H, P = config["L"], config["N"], config["H_in"], config["H"], config["proj_size"]
    D = 2 if config["bidirectional"] else 1
    S = D * config["num_layers"]
    params = random_params(
        rng,
        kind,
        H_in,
        H,
        config["num_layers"],
        bias=config["bias"],
        bidirectional=config["bidirectional"],
        proj_size=P,
    )
    batched, batch_first = config["batched"], config["batch_first"]
    lengths = None if config["lengths"] is None else np.array(config["lengths"])
    x = rng.uniform(-1, 1, (L, N, H_in) if batched else (L, H_in))  # time-major first
    if lengths is not None:  # NaN in the padding
        padding = np.arange(L)[:, None] >= np.reshape(lengths, (1, -1))  # (L, N) or (L, 1)
        x[padding if batched else padding[:, 0]] = np.nan
    g_out = rng.normal(size=(*x.shape[:-1], D * (P or H)))
    if batched and batch_first:
        x, g_out = x.swapaxes(0, 1), g_out.swapaxes(0, 1)
    state_lead = (N,) if batched else ()
    sizes = [P or H, H] if kind == "LSTM" else [P or H]
    state = tuple(rng.uniform(-1, 1, (S, *state_lead, size)) for size in sizes)
    g_state = tuple(rng.normal(size=(S, *state_lead, size)) for size in sizes)
    if kind != "LSTM":
        state, g_state = state[0], g_state[0]
    state = state if config["with_state"] else None

    module = torch_module(kind, params)
    expected = torch_reference(module, x, state, g_out, g_state, lengths, batch_first)
    actual = jrnn_run(
        params,
        x,
        state,
        g_out,
        g_state,
        kind=kind,
        lengths=lengths,
        batch_first=batch_first,
        jit=True,
        fast_compile=True,
    )
    assert_tree_close(actual, expected, 1e-10)


@settings(max_examples=8, derandomize=True, deadline=None, database=None)
@given(configurations("LSTM"))
def test_lstm_random_configurations_match_torch(config):
    check("LSTM", config)


@settings(max_examples=8, derandomize=True, deadline=None, database=None)
@given(configurations("GRU"))
def test_gru_random_configurations_match_torch(config):
    check("GRU", config)
