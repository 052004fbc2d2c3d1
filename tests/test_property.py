"""Random configurations (hypothesis, derandomized) against torch.nn.RNN in float64.

Each example draws layers 1-3, bidirectional, bias, nonlinearity, batched or not, batch_first
(which unbatched input ignores, in torch as in jrnn), sizes 1-5, L 1-6, h0 or None, and
optional lengths in [1, L] (torch cannot pack a length of 0; test_lengths.py covers it), then
compares outputs, h_n and the gradients w.r.t. params, x and h0.

jrnn runs compiled, one program per example (values and gradients together), with LLVM's
optimisations off: with new shapes in nearly every example, compiling dominates, and this costs
about a third of running op by op, where each new shape compiles every operation separately.
"""

import numpy as np
from _torch_reference import assert_tree_close, jrnn_run, random_rnn_params, torch_rnn, torch_run
from hypothesis import given, settings
from hypothesis import strategies as st


@st.composite
def configurations(draw):
    config = {
        "num_layers": draw(st.integers(1, 3)),
        "bidirectional": draw(st.booleans()),
        "bias": draw(st.booleans()),
        "nonlinearity": draw(st.sampled_from(["tanh", "relu"])),
        "batched": draw(st.booleans()),
        "batch_first": draw(st.booleans()),  # torch ignores it for unbatched x, and so must jrnn
        "L": draw(st.integers(1, 6)),
        "N": draw(st.integers(1, 5)),
        "H_in": draw(st.integers(1, 5)),
        "H": draw(st.integers(1, 5)),
        "with_h0": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)),
    }
    lengths = st.integers(1, config["L"])
    if config["batched"]:
        lengths = st.lists(lengths, min_size=config["N"], max_size=config["N"])
    config["lengths"] = draw(st.none() | lengths)
    return config


def torch_reference(module, x, h0, g_out, g_h, lengths, batched, batch_first):
    """torch's results; an unbatched sequence with a length runs on its valid prefix."""
    if not batched and lengths is not None:
        out, h_n, grads = torch_run(
            module, x[:lengths], h0, g_out[:lengths], g_h, batch_first=batch_first
        )
        padding = ((0, x.shape[0] - lengths), (0, 0))
        grads["x"] = np.pad(grads["x"], padding)
        return np.pad(out, padding), h_n, grads
    return torch_run(module, x, h0, g_out, g_h, lengths=lengths, batch_first=batch_first)


@settings(max_examples=40, derandomize=True, deadline=None, database=None)
@given(configurations())
def test_random_configurations_match_torch(config):
    rng = np.random.default_rng(config["seed"])
    L, N, H_in, H = config["L"], config["N"], config["H_in"], config["H"]
    D = 2 if config["bidirectional"] else 1
    S = D * config["num_layers"]
    params = random_rnn_params(
        rng,
        H_in,
        H,
        config["num_layers"],
        bias=config["bias"],
        bidirectional=config["bidirectional"],
    )
    batched, batch_first = config["batched"], config["batch_first"]
    lead = ((N, L) if batch_first else (L, N)) if batched else (L,)
    state_lead = (N,) if batched else ()
    x = rng.uniform(-1, 1, (*lead, H_in))
    h0 = rng.uniform(-1, 1, (S, *state_lead, H)) if config["with_h0"] else None
    g_out = rng.normal(size=(*lead, D * H))
    g_h = rng.normal(size=(S, *state_lead, H))
    lengths = None if config["lengths"] is None else np.array(config["lengths"])

    module = torch_rnn(params, config["nonlinearity"])
    expected = torch_reference(module, x, h0, g_out, g_h, lengths, batched, batch_first)
    actual = jrnn_run(
        params,
        x,
        h0,
        g_out,
        g_h,
        jit=True,
        fast_compile=True,
        lengths=lengths,
        nonlinearity=config["nonlinearity"],
        batch_first=batch_first,
    )
    assert_tree_close(actual, expected, 1e-10)
