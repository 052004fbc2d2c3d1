"""The two nonlinearities torch's RNN offers, and their derivatives written from the output."""

import jax
import jax.numpy as jnp

from . import _errors

_FUNCTIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu}


def check(fn: str, nonlinearity: object) -> str:
    """Return ``nonlinearity`` if it is ``"tanh"`` or ``"relu"``, else raise a ValueError."""
    if not isinstance(nonlinearity, str) or nonlinearity not in _FUNCTIONS:
        raise _errors.nonlinearity(fn, nonlinearity)
    return nonlinearity


def apply(nonlinearity: str, pre: jax.Array) -> jax.Array:
    """``tanh(pre)`` or ``relu(pre)``."""
    return _FUNCTIONS[nonlinearity](pre)


def derivative_from_output(nonlinearity: str, y: jax.Array) -> jax.Array:
    """``f'(pre)`` written in terms of ``y = f(pre)``, so the backward needs only outputs.

    tanh: ``1 - y**2``; relu: ``1`` where ``y > 0`` else ``0`` (torch's choice at 0).
    """
    if nonlinearity == "tanh":
        return 1 - y * y
    return (y > 0).astype(y.dtype)
