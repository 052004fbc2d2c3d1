"""jrnn.save of a whole model's nested params: torch loads the file strictly and predicts the same.

Models are ``Embedding -> RNN/LSTM/GRU -> Linear``, built in torch, flax linen or flax NNX; every
file written is loaded into a fresh torch model with ``load_state_dict(strict=True)``.
"""

import os
import warnings

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import safetensors.torch
import torch
from flax import nnx
from flax.core import FrozenDict

import jrnn
import jrnn.linen
import jrnn.nnx
from jrnn._tree import flatten

V, E, H, L, N = 5, 3, 4, 3, 2  # vocabulary, embedding, hidden, time, batch
FORWARD = {"RNN": jrnn.rnn, "LSTM": jrnn.lstm, "GRU": jrnn.gru}
# The flax wrappers' kinds the linen and NNX tests below run. Once the LSTM and GRU wrappers
# settle, extending this one line to ["RNN", "LSTM", "GRU"] covers them (about 1 s each).
WRAPPER_KINDS = ["RNN", "LSTM", "GRU"]


class Tagger(torch.nn.Module):
    def __init__(self, kind, seed, **options):
        super().__init__()
        torch.manual_seed(seed)
        self.embed = torch.nn.Embedding(V, E)
        self.rnn = getattr(torch.nn, kind)(E, H, num_layers=2, **options)
        directions = 2 if options.get("bidirectional") else 1
        self.head = torch.nn.Linear(directions * (options.get("proj_size") or H), V)

    def forward(self, tokens):  # (L, N) -> (L, N, V)
        return self.head(self.rnn(self.embed(tokens))[0])


def tokens(seed=0):
    return torch.randint(V, (L, N), generator=torch.Generator().manual_seed(seed))


def numpy(tensor):
    return tensor.detach().numpy()


def torch_logits(model, x):
    with torch.no_grad(), warnings.catch_warnings():
        # float32 LSTM with proj_size on CPU: torch says it falls back from oneDNN to its own
        warnings.filterwarnings("ignore", "LSTM with projections is not supported with oneDNN")
        return model(x).numpy()


def load_into_fresh_torch(kind, path, **options):
    fresh = Tagger(kind, 99, **options)
    fresh.load_state_dict(safetensors.torch.load_file(str(path)), strict=True)
    return fresh


CONFIGS = [
    ("RNN", dict(nonlinearity="relu", bidirectional=True)),
    ("LSTM", dict()),
    ("LSTM", dict(proj_size=2, bidirectional=True)),
    ("GRU", dict(bias=False)),
]


@pytest.mark.parametrize(
    ("kind", "options"), CONFIGS, ids=["rnn_relu_bidir", "lstm", "lstm_proj_bidir", "gru_no_bias"]
)
def test_torch_model_weights_saved_from_jax_load_strictly_and_predict_the_same(
    tmp_path, kind, options
):
    model = Tagger(kind, 0, **options)
    tree = {
        "embed": {"weight": jnp.asarray(numpy(model.embed.weight))},
        "rnn": jrnn.from_torch(model.rnn),
        "head": {"weight": numpy(model.head.weight), "bias": jnp.asarray(numpy(model.head.bias))},
    }
    nonlinearity = options.get("nonlinearity")
    path = tmp_path / "model.safetensors"
    jrnn.save(path, tree, nonlinearity=nonlinearity)

    x = tokens()
    want = torch_logits(model, x)
    np.testing.assert_array_equal(
        torch_logits(load_into_fresh_torch(kind, path, **options), x), want
    )
    extra = {"nonlinearity": nonlinearity} if nonlinearity else {}

    @jax.jit  # one compilation instead of one per operation: keeps the file fast
    def logits(tree, x):  # (L, N) -> (L, N, V)
        out = FORWARD[kind](tree["rnn"], tree["embed"]["weight"][x], **extra)[0]  # (L, N, D*P)
        return out @ tree["head"]["weight"].T + tree["head"]["bias"].reshape(1, 1, V)

    np.testing.assert_allclose(logits(tree, x.numpy()), want, rtol=1e-5, atol=1e-5)

    for loaded in (jrnn.load(path, prefix="rnn."), jrnn.load(path)):  # the only network
        assert list(loaded) == list(tree["rnn"])
        for key, value in tree["rnn"].items():
            np.testing.assert_array_equal(loaded[key], value)
    meta = jrnn.load_metadata(path)
    assert meta["jrnn_kind.rnn"] == kind and "jrnn_kind" not in meta
    assert {k: v for k, v in meta.items() if k.startswith("nonlinearity")} == (
        {"nonlinearity.rnn": nonlinearity} if nonlinearity else {}
    )


def test_deeper_trees_of_torch_tensors_and_frozen_dicts_keep_torch_names(tmp_path):
    torch.manual_seed(1)
    model = torch.nn.ModuleDict(
        {
            "encoder": torch.nn.ModuleDict(
                {"embed": torch.nn.Embedding(V, E), "lstm": torch.nn.LSTM(E, H, proj_size=2)}
            ),
            "decoder": torch.nn.GRUCell(2, H),
            "head": torch.nn.Linear(H, V),
        }
    )
    state = model.state_dict()
    tree = FrozenDict(
        {
            "encoder": {
                "embed": {"weight": model["encoder"]["embed"].weight},  # a Parameter
                "lstm": dict(model["encoder"]["lstm"].state_dict()),  # torch tensors
            },
            "decoder": jrnn.from_torch(model["decoder"]),
            "head": {"weight": numpy(model["head"].weight), "bias": model["head"].bias},
        }
    )
    path = tmp_path / "model.safetensors"
    jrnn.save(path, tree, metadata={"task": "demo"})
    loaded = safetensors.torch.load_file(str(path))
    assert sorted(loaded) == sorted(state)
    for key, tensor in state.items():
        assert torch.equal(loaded[key], tensor)
    model.load_state_dict(loaded, strict=True)

    meta = jrnn.load_metadata(path)
    assert meta["task"] == "demo" and meta["format"] == "pt"
    assert {k: v for k, v in meta.items() if k.startswith("jrnn_kind")} == {
        "jrnn_kind.encoder.lstm": "LSTM",
        "jrnn_kind.decoder": "GRUCell",
    }
    assert list(jrnn.load(path, prefix="encoder.lstm")) == list(
        model["encoder"]["lstm"].state_dict()
    )
    assert list(jrnn.load(path, prefix="decoder.")) == [
        "weight_ih",
        "weight_hh",
        "bias_ih",
        "bias_hh",
    ]
    with pytest.raises(jrnn.CheckpointError, match=r"2 recurrent networks.*'encoder\.lstm\.'"):
        jrnn.load(path)


def test_names_keep_the_tree_order_and_torch_order_inside_networks():
    rnn = jrnn.from_torch(torch.nn.GRU(2, 3))
    tree = {
        "z": {"b": np.ones(1), "a": np.ones(1)},
        "rnn": dict(reversed(rnn.items())),
        "m": np.ones(1),
    }
    arrays, kinds = flatten("f", tree)
    assert list(arrays) == ["z.b", "z.a", *(f"rnn.{k}" for k in rnn), "m"]
    assert kinds == {"rnn": "GRU"}


# --- flax composites -------------------------------------------------------------------------


class LinenTagger(nn.Module):
    kind: str

    @nn.compact
    def __call__(self, tokens):  # (L, N) -> (L, N, V)
        x = nn.Embed(V, E, name="embed")(tokens)  # (L, N, E)
        out = getattr(jrnn.linen, self.kind)(H, num_layers=2, name="rnn")(x)[0]  # (L, N, H)
        return nn.Dense(V, name="head")(out)


@pytest.mark.parametrize("kind", WRAPPER_KINDS)
def test_linen_composite_exports_to_torch(tmp_path, kind):
    x = tokens(1)
    module = LinenTagger(kind)
    ids = jnp.asarray(x.numpy())
    # linen's own variables tree, with values standing for trained ones: eval_shape traces init
    # without compiling it, which keeps this file fast.
    rng = np.random.default_rng(0)
    variables = jax.tree.map(
        lambda leaf: rng.uniform(-0.5, 0.5, leaf.shape).astype(leaf.dtype),
        jax.eval_shape(module.init, jax.random.key(0), ids),
    )
    p = variables["params"]
    tree = {
        "embed": {"weight": p["embed"]["embedding"]},  # nn.Embed: torch's Embedding.weight
        "rnn": p["rnn"],  # already torch's state_dict
        "head": {"weight": p["head"]["kernel"].T, "bias": p["head"]["bias"]},  # (in, out) -> .T
    }
    path = tmp_path / "linen.safetensors"
    jrnn.save(path, tree)
    got = torch_logits(load_into_fresh_torch(kind, path), x)
    want = jax.jit(module.apply)(variables, ids)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert jrnn.load_metadata(path)["jrnn_kind.rnn"] == kind


class NNXTagger(nnx.Module):
    def __init__(self, kind, rngs):
        self.embed = nnx.Embed(V, E, rngs=rngs)
        self.rnn = getattr(jrnn.nnx, kind)(E, H, num_layers=2, rngs=rngs)
        self.head = nnx.Linear(H, V, rngs=rngs)

    def __call__(self, tokens):  # (L, N) -> (L, N, V)
        return self.head(self.rnn(self.embed(tokens))[0])


@pytest.mark.parametrize("kind", WRAPPER_KINDS)
def test_nnx_composite_exports_to_torch_from_its_state_or_a_pure_dict(tmp_path, kind):
    x = tokens(2)
    # The model, with values standing for trained ones: built abstractly (nothing compiled),
    # then filled, which keeps this file fast.
    model = nnx.eval_shape(lambda: NNXTagger(kind, nnx.Rngs(0)))
    rng = np.random.default_rng(0)
    nnx.update(
        model,
        jax.tree.map(
            lambda leaf: jnp.asarray(rng.uniform(-0.5, 0.5, leaf.shape).astype(leaf.dtype)),
            nnx.state(model, nnx.Param),
        ),
    )
    want = nnx.jit(lambda model, x: model(x))(model, jnp.asarray(x.numpy()))  # (L, N, V)
    state = nnx.state(model, nnx.Param)  # a Mapping of nnx.Param variables
    pure = nnx.to_pure_dict(state)  # the same, as plain dicts of arrays
    trees = {
        "state": {
            "embed": {"weight": state["embed"]["embedding"]},
            "rnn": state["rnn"],
            "head": {"weight": state["head"]["kernel"][...].T, "bias": state["head"]["bias"]},
        },
        "pure": {
            "embed": {"weight": pure["embed"]["embedding"]},
            "rnn": model.rnn.to_params(),
            "head": {"weight": pure["head"]["kernel"].T, "bias": pure["head"]["bias"]},
        },
    }
    for name, tree in trees.items():
        path = tmp_path / f"{name}.safetensors"
        jrnn.save(path, tree)
        got = torch_logits(load_into_fresh_torch(kind, path), x)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        assert list(jrnn.load(path)) == list(model.rnn.to_params())


# --- errors: nothing is written ---------------------------------------------------------------


# Small params from torch modules: copying them compiles nothing, unlike jrnn.init_* per shape.
RNN_PARAMS = jrnn.from_torch(torch.nn.RNN(2, 3, num_layers=2))
GRU_PARAMS = jrnn.from_torch(torch.nn.GRU(2, 3))
LSTM_PARAMS = jrnn.from_torch(torch.nn.LSTM(2, 3))


def _rnn():
    return dict(RNN_PARAMS)


def _without(params, key):
    return {k: v for k, v in params.items() if k != key}


W = np.ones((2, 3), np.float32)
BAD_TREES = [
    ({"rnn": _rnn(), "step": np.zeros((), np.int64)}, TypeError, r"'step' .*dtype int64"),
    ({"rnn": _rnn(), "rngs": {"key": jax.random.key(0)}}, TypeError, r"'rngs\.key' .*key<fry>"),
    ({"rnn": _rnn(), "head": {"mask": np.ones(3, bool)}}, TypeError, r"'head\.mask' .*dtype bool"),
    (
        {"rnn": _rnn(), "bn": {"num_batches_tracked": torch.tensor(0)}},
        TypeError,
        r"'bn\.num_batches_tracked' of nested params has dtype torch\.int64",
    ),
    (
        {"rnn": {**_rnn(), "weight_hh_l0": np.ones((3, 3), np.int32)}},
        TypeError,
        r"'rnn\.weight_hh_l0' of nested params has dtype int32; jrnn writes floating tensors",
    ),
    ({"rnn": _rnn(), 3: {"w": W}}, TypeError, r"without '\.'.*got 3 \(int\) at the top level"),
    ({"rnn": _rnn(), "head": {0: W}}, TypeError, r"got 0 \(int\) under 'head'"),
    ({"rnn": {**_rnn(), 1: W}}, TypeError, r"got 1 \(int\) under 'rnn'"),
    ({"rnn": _rnn(), "head.weight": W}, ValueError, r"got 'head\.weight' \(str\) at the top"),
    ({"enc": {"": W, "rnn": _rnn()}}, ValueError, r"got '' \(str\) under 'enc'"),
    ({"rnn": _rnn(), "head": {"weight": [[1.0]]}}, TypeError, r"'head\.weight' .*array.*got list"),
    ({"rnn": {**_rnn(), "extra": {"w": W}}}, TypeError, r"'rnn\.extra' .*array.*got dict"),
    ({"rnn": _rnn(), "head": {}}, ValueError, r"entry 'head' of nested params is an empty mapping"),
    (
        {"rnn": _without(_rnn(), "bias_hh_l1")},
        ValueError,
        r"missing key 'bias_hh_l1'[\s\S]*network 'rnn' of nested params, prefix 'rnn\.'",
    ),
    (
        {"encoder": {"gru": _without(GRU_PARAMS, "bias_ih_l0")}},
        ValueError,
        r"torch\.nn\.GRU state_dict[\s\S]*missing key 'bias_ih_l0'[\s\S]*prefix 'encoder\.gru\.'",
    ),
    (
        {"rnn": {**_rnn(), "bias_hh_l0": np.ones(3)}},
        TypeError,
        r"share one floating dtype[\s\S]*prefix 'rnn\.'",
    ),
    (
        {"embed": {"weight": W}, "head": {"weight": W}},
        ValueError,
        r"no recurrent network.*Entries: 'embed\.weight', 'head\.weight'",
    ),
]


@pytest.mark.parametrize(("tree", "error", "match"), BAD_TREES)
def test_bad_nested_params_are_refused_and_nothing_is_written(tmp_path, tree, error, match):
    with pytest.raises(error, match=match):
        jrnn.save(tmp_path / "model.safetensors", tree)
    assert os.listdir(tmp_path) == []


BAD_ARGUMENTS = [
    (dict(metadata={"jrnn_kind.rnn": "GRU"}), r"'jrnn_kind\.rnn' is written by jrnn"),
    (dict(metadata={"nonlinearity.rnn": "relu"}), r"'nonlinearity\.rnn' is written by jrnn"),
    (dict(metadata={"jrnn_kind": "RNN"}), r"'jrnn_kind' is written by jrnn"),
    (dict(nonlinearity="gelu"), "expected nonlinearity 'tanh' or 'relu'"),
]


@pytest.mark.parametrize(("kwargs", "match"), BAD_ARGUMENTS)
def test_reserved_metadata_and_bad_nonlinearity_are_refused(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        jrnn.save(tmp_path / "model.safetensors", {"rnn": _rnn(), "lstm": LSTM_PARAMS}, **kwargs)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("tree", "match"),
    [
        (
            {"lstm": LSTM_PARAMS},
            r"exactly one Elman .*hold 0 \(networks: 'lstm': LSTM\); drop",
        ),
        (
            {"a": _rnn(), "b": {"c": _rnn()}, "lstm": LSTM_PARAMS},
            r"hold 2 \(networks: 'a': RNN, 'b\.c': RNN, 'lstm': LSTM\); record each",
        ),
    ],
)
def test_nonlinearity_needs_exactly_one_elman_network(tmp_path, tree, match):
    with pytest.raises(ValueError, match=match):
        jrnn.save(tmp_path / "model.safetensors", tree, nonlinearity="tanh")
    assert os.listdir(tmp_path) == []


def test_nonlinearity_is_recorded_for_the_one_elman_network(tmp_path):
    path = tmp_path / "model.safetensors"
    jrnn.save(path, {"lstm": LSTM_PARAMS, "enc": {"rnn": _rnn()}}, nonlinearity="relu")
    meta = jrnn.load_metadata(path)
    assert {k: v for k, v in meta.items() if k.startswith(("nonlinearity", "jrnn_kind"))} == {
        "jrnn_kind.lstm": "LSTM",
        "jrnn_kind.enc.rnn": "RNN",
        "nonlinearity.enc.rnn": "relu",
    }


def test_flat_params_keep_the_flat_path(tmp_path):
    path = tmp_path / "rnn.safetensors"
    with pytest.raises(ValueError, match=r"'jrnn_kind\.rnn' is written by jrnn"):
        jrnn.save(path, _rnn(), metadata={"jrnn_kind.rnn": "GRU"})
    with pytest.raises(ValueError, match="missing key 'weight_ih_l0'"):  # no sub-mapping: flat
        jrnn.save(path, {"weight": W})
    with pytest.raises(TypeError, match=r"params\['head'\] to be an array, got dict"):
        jrnn.save(path, {**_rnn(), "head": {"weight": W}})  # an anchor key: flat
    assert os.listdir(tmp_path) == []
    jrnn.save(path, _rnn(), nonlinearity="relu")
    meta = jrnn.load_metadata(path)
    assert (meta["jrnn_kind"], meta["nonlinearity"]) == ("RNN", "relu")
    assert not [k for k in meta if "." in k]


def test_failed_nested_save_leaves_nothing(tmp_path, monkeypatch):
    def fail(source, target):
        raise OSError("simulated failure")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="simulated failure"):
        jrnn.save(tmp_path / "model.safetensors", {"rnn": _rnn(), "head": {"weight": W}})
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


def test_every_tensor_of_a_whole_model_has_a_digest_load_checks(tmp_path):
    path = tmp_path / "model.safetensors"
    jrnn.save(path, {"rnn": _rnn(), "head": {"weight": W}})
    with safetensors.safe_open(str(path), framework="np") as file:
        names, stored = list(file.keys()), file.metadata()
    assert sorted(k for k in stored if k.startswith("jrnn_digest.")) == sorted(
        f"jrnn_digest.{name}" for name in names
    )
    data = bytearray(path.read_bytes())
    data[data.index(np.asarray(W).tobytes()) + 1] ^= 1  # a byte of head.weight, outside the RNN
    path.write_bytes(bytes(data))
    with pytest.raises(jrnn.CheckpointError, match="tensor 'head.weight' does not match"):
        jrnn.load(path, prefix="rnn.")
