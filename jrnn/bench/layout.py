"""torch's layout, shared by the contenders: key suffixes, stacked states, named outputs."""

import jax.numpy as jnp


def suffix(layer: int, direction: int) -> str:
    """The key suffix torch uses: ``_l1`` for layer 1 forward, ``_l1_reverse`` for its reverse."""
    return f"_l{layer}" + ("_reverse" if direction else "")


def layer_suffixes(params) -> list[list[str]]:
    """Key suffixes per layer, from a state_dict: ``[["_l0"], ["_l1"]]`` or with ``_reverse``."""
    layers = sum(k.startswith("weight_ih_l") and not k.endswith("_reverse") for k in params)
    directions = 2 if "weight_ih_l0_reverse" in params else 1
    return [[suffix(k, d) for d in range(directions)] for k in range(layers)]


def stacked_state(finals):
    """Final states, one ``(h,)`` or ``(h, c)`` per layer and direction -> torch's state.

    ``h`` ``(N, P)`` and ``c`` ``(N, H)`` each, in torch's order ``layer * D + direction`` ->
    ``h_n`` ``(S, N, P)``, or ``(h_n, c_n)`` with ``c_n`` ``(S, N, H)``.
    """
    stacked = tuple(jnp.stack(parts) for parts in zip(*finals, strict=True))
    return stacked if len(stacked) > 1 else stacked[0]


def named_outputs(output, state) -> dict:
    """``(output, h_n)`` or ``(output, (h_n, c_n))`` -> ``{"output", "h_n"[, "c_n"]}``.

    Works for torch tensors and JAX arrays alike.
    """
    if isinstance(state, tuple):
        h_n, c_n = state
        return {"output": output, "h_n": h_n, "c_n": c_n}
    return {"output": output, "h_n": state}
