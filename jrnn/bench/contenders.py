"""The JAX contenders per kind, each a forward plus maps from and to torch's parameters.

Every contender's ``forward(params, x (L, N, H_in))`` returns what torch returns:
``(output, h_n)``, or ``(output, (h_n, c_n))`` for an LSTM. A contender is a factory of the
kind, returning ``None`` where it has no such network (flax has no LSTM projection).
"""

import ast
import dataclasses
import functools
from collections.abc import Callable

import jax

import jrnn

from . import flax_rnn, scan_rnn
from .cases import Kind
from .layout import named_outputs


def _same(tree):
    return tree


@dataclasses.dataclass(frozen=True)
class JaxContender:
    """A JAX network: ``forward(params, x)`` returns what torch returns.

    ``from_torch`` maps torch's state_dict (jnp arrays) to its params and ``grads_to_torch`` maps
    their gradient back to torch's names, for the parity check.
    """

    forward: Callable
    from_torch: Callable = _same
    grads_to_torch: Callable = _same


JRNN = {"rnn": jrnn.rnn, "lstm": jrnn.lstm, "gru": jrnn.gru}
JRNN_INIT = {"rnn": jrnn.init_rnn, "lstm": jrnn.init_lstm, "gru": jrnn.init_gru}


def _jrnn(kind: Kind, **options) -> JaxContender:
    return JaxContender(functools.partial(JRNN[kind.cell], **options))


def _flax(kind: Kind) -> JaxContender | None:
    if kind.projected:
        return None
    cell = flax_rnn.CELLS[kind.cell]
    return JaxContender(
        functools.partial(flax_rnn.forward, cell=cell),
        functools.partial(flax_rnn.from_torch, cell=cell),
        functools.partial(flax_rnn.grads_to_torch, cell=cell),
    )


def _scan(kind: Kind) -> JaxContender:
    return JaxContender(functools.partial(scan_rnn.forward, cell=kind.cell))


# Add a contender with one line, e.g.
#   "jrnn-ckpt": lambda kind: _jrnn(kind, checkpoint_every=100),
# or from the command line: --jrnn-variant checkpoint_every=100
CONTENDERS: dict[str, Callable[[Kind], JaxContender | None]] = {
    "jrnn": _jrnn,
    "flax": _flax,
    "scan": _scan,
}


def for_kind(kind: Kind, factories: dict[str, Callable]) -> dict[str, JaxContender]:
    """The contenders of ``factories`` that have a network of this kind, by name."""
    built = {name: factory(kind) for name, factory in factories.items()}
    return {name: contender for name, contender in built.items() if contender is not None}


def jrnn_variant(options: str) -> tuple[str, Callable[[Kind], JaxContender]]:
    """``"checkpoint_every=100,unroll=2"`` -> ``("jrnn[checkpoint_every=100,unroll=2]", ...)``."""
    kwargs = {}
    for item in options.split(","):
        name, _, value = item.partition("=")
        kwargs[name.strip()] = ast.literal_eval(value.strip())
    return f"jrnn[{options}]", functools.partial(_jrnn, **kwargs)


def train_step(forward: Callable) -> Callable:
    """``(params, x) -> (loss, (d params, d x))``, ``loss`` the sum of output, h_n [and c_n]."""

    def loss(params, x):
        return sum(value.sum() for value in named_outputs(*forward(params, x)).values())

    return jax.value_and_grad(loss, argnums=(0, 1))
