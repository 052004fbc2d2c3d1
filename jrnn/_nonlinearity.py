"""The two nonlinearities torch's Elman RNN offers."""

import jax
import jax.numpy as jnp

from . import _errors

FUNCTIONS = {"tanh": jnp.tanh, "relu": jax.nn.relu}


def check(fn: str, nonlinearity: object, cell: bool = False) -> str:
    """Return ``nonlinearity`` if it is ``"tanh"`` or ``"relu"``, else raise a ValueError.

    ``cell``: the caller is a cell, whose torch counterpart words the error differently.
    """
    if not isinstance(nonlinearity, str) or nonlinearity not in FUNCTIONS:
        raise _errors.nonlinearity(fn, nonlinearity, cell)
    return nonlinearity
