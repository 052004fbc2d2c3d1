"""Random calls of jrnn's public functions, each argument drawn valid or broken.

A call is drawn through ``draw(name, options)``, which returns one of ``options``: a seeded NumPy
generator in the script, hypothesis in the test (so failures shrink to the simplest call). Every
option is a :class:`Choice`: the value to pass (or a recipe for it) and whether torch and jrnn
accept it. A call is valid when every choice in it is; a valid network or cell call must give
torch's result, an invalid one a jrnn error.
"""

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Draw = Callable[[str, list], Any]


class Choice(NamedTuple):
    """One option of one argument: ``value`` (a label or a value), and whether it is valid."""

    value: Any
    valid: bool = True


def bad(value: Any) -> Choice:
    """An option jrnn must refuse."""
    return Choice(value, False)


@dataclasses.dataclass
class Call:
    """One drawn call and its choices.

    ``family``: ``"network"`` (``rnn``, ``lstm``, ``gru``), ``"cell"`` (the cell steps),
    ``"init"`` (``init_rnn``, ...), ``"to_torch"`` or ``"from_torch"``.
    """

    family: str
    kind: str  # "rnn", "lstm" or "gru"
    sizes: dict  # input_size, hidden_size, num_layers, proj_size, bidirectional, bias, L, N
    # (N None: unbatched)
    choices: dict  # argument name -> Choice
    jit: bool

    @property
    def valid(self) -> bool:
        """Whether every argument is valid."""
        return all(choice.valid for choice in self.choices.values())

    def describe(self) -> str:
        """The call in one line; a broken argument ends in ``!``."""
        options = ", ".join(
            f"{k}={v.value!r}{'' if v.valid else '!'}" for k, v in self.choices.items()
        )
        return f"{self.family} {self.kind} {self.sizes} jit={self.jit}: {options}"


FLAGS = [Choice(False), Choice(True), bad("False"), bad(1), bad(None)]
SIZES = [Choice(1), Choice(3), bad(0), bad(-2), bad(2.5), bad(True), bad("3"), bad(2**62)]
DTYPES = [Choice(jnp.float32), bad(jnp.int32), bad("foo"), bad(jnp.float8_e4m3fn)]
KEYS = [Choice("key"), Choice("raw key"), bad(0), bad("keys batch"), bad(None)]
DROPOUT_KEYS = [Choice(None), Choice("key"), bad(0)]
PRECISIONS = [
    Choice(None),
    Choice("highest"),
    Choice(jax.lax.Precision.HIGHEST),
    bad("bogus"),
    bad(jax.lax.DotAlgorithmPreset.TF32_TF32_F32),  # not on CPU
    bad({"a": 1}),
]
PARAMS = [
    Choice("valid"),
    Choice("valid"),
    Choice("valid"),
    bad("int key"),
    bad("wrong shape"),
    bad("zero hidden"),
    bad("float8"),
    bad("missing key"),
    bad("extra key"),
    bad("list value"),
    bad("not a dict"),
]
X = [
    Choice("valid"),
    Choice("valid"),
    Choice("valid list"),
    bad("wrong rank"),
    bad("wrong features"),
    bad("float16"),
    bad("string"),
    bad(None),
    bad("ragged"),
    bad("empty sequence"),
]
STATE = [Choice(None), Choice("valid"), Choice("valid"), bad("wrong shape"), bad("string")]
LENGTHS = [
    Choice(None),
    Choice("valid"),
    Choice("valid list"),
    Choice("valid uint32"),
    bad("above L"),
    bad("negative"),
    bad("float"),
    bad("wrong shape"),
]
DROPOUT = [Choice(0.0), Choice(0.5), bad(1.5), bad(-0.1), bad("0.5"), bad(True)]
UNROLL = [Choice(1), Choice(2), bad(0), bad(1.5), bad("2")]
STATE_DICTS = [
    Choice("valid"),
    Choice("valid"),
    Choice("prefixed"),
    bad("meta"),
    bad("sparse"),
    bad("int64"),
    bad("float8"),
    bad("not a dict"),
]
PREFIXES = [Choice(""), bad(3), bad("nope.")]
CHECKPOINT = [Choice(None), Choice(2), Choice(2**70), bad(0), bad(-1), bad(2.0)]


def draw_call(draw: Draw) -> Call:
    """Draw one call of a network, a cell step, an initialiser, ``to_torch`` or ``from_torch``.

    Half the calls are valid; the other half break exactly one argument, as a user's mistake
    usually is one, so each invalid call tests one check.
    """
    family = draw("family", ["network"] * 3 + ["cell", "init", "to_torch", "from_torch"])
    layered = family != "cell"  # a network's params (init draws its own sizes)
    kind = draw("kind", ["rnn", "lstm", "gru"])
    hidden_size = draw("hidden_size", [3, 4] if kind == "lstm" and layered else [1, 4])
    sizes = {
        "input_size": draw("input_size", [1, 3]),
        "hidden_size": hidden_size,
        "num_layers": draw("num_layers", [1, 2]) if layered else 1,
        "proj_size": draw("proj_size", [0, 2])
        if layered and kind == "lstm" and hidden_size > 2
        else 0,
        "bidirectional": layered and draw("bidirectional", [False, True]),
        "bias": draw("bias_value", [True, False]),
        "L": draw("L", [1, 4]),
        "N": draw("N", [None, 1, 3]),
    }
    if family == "init":
        pools = {"key": KEYS, "input_size": SIZES, "hidden_size": SIZES}
        pools.update(dtype=DTYPES, bias=FLAGS)
    elif family == "to_torch":
        pools = {"params": PARAMS}
    elif family == "from_torch":
        pools = {"state_dict": STATE_DICTS, "prefix": PREFIXES}
    else:
        pools = {"params": PARAMS, "x": X, "state": STATE, "precision": PRECISIONS}
    if family == "network":
        pools.update(batch_first=FLAGS, dropout=DROPOUT, key=DROPOUT_KEYS)
        pools.update(unroll=UNROLL, checkpoint_every=CHECKPOINT)
        pools["lengths"] = LENGTHS if sizes["N"] else [Choice(None)]
    broken = draw("broken", [None] * len(pools) + list(pools))
    choices = {}
    for name, pool in pools.items():
        wanted = [choice for choice in pool if choice.valid == (name != broken)]
        choices[name] = draw(name, wanted or pool)
    jit = family in ("network", "cell") and draw("jit", [False, True])
    return Call(family, kind, sizes, choices, jit)


def random_draw(rng: np.random.Generator) -> Draw:
    """``draw`` from a seeded generator."""
    return lambda name, options: options[rng.integers(len(options))]
