"""One case measured: parity with torch first, then first calls, memory and paired timings."""

import jax
import jax.numpy as jnp
import numpy as np

from .cases import Case
from .contenders import JaxContender, train_step
from .layout import named_outputs
from .timing import calibrate, first_call, jax_call, paired_rounds, summarize
from .torch_reference import TorchReference, torch_module


class ParityError(RuntimeError):
    """A contender's output or gradients differ from torch's beyond the tolerance."""


def relative_error(actual, expected) -> float:
    """``max|actual - expected| / max|expected|``, in float64."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    scale = max(float(np.max(np.abs(expected))), np.finfo(np.float32).tiny)
    return float(np.max(np.abs(actual - expected))) / scale


def parity(contender: JaxContender, fwd_result, train_result, reference: dict) -> dict:
    """Relative errors of one contender against torch: output, h_n [, c_n], loss, grads, dx.

    ``grads`` is the worst over torch's parameters; a parameter missing from the contender's
    mapped gradients raises ``KeyError``.
    """
    loss, (grads, dx) = train_result
    grads = contender.grads_to_torch(grads)
    errors = {
        name: relative_error(value, reference[name])
        for name, value in named_outputs(*fwd_result).items()
    }
    errors["loss"] = relative_error(loss, reference["loss"])
    errors["grads"] = max(relative_error(grads[k], g) for k, g in reference["grads"].items())
    errors["dx"] = relative_error(dx, reference["dx"])
    return errors


def memory_stats(compiled) -> dict[str, int]:
    """XLA's memory analysis of a compiled function, in bytes."""
    stats = compiled.memory_analysis()
    fields = ("temp", "argument", "output", "alias", "generated_code")
    return {name: int(getattr(stats, f"{name}_size_in_bytes")) for name in fields}


def bench_case(
    case: Case, contenders: dict, *, rounds, min_sample_s, tolerance, seed, torch_device="cpu"
) -> dict:
    """Parity (before any timing), first-call times, train memory and paired timings.

    torch runs on ``torch_device`` (``"cpu"`` or ``"cuda"``), JAX on its default device.

    Raises:
        ParityError: a contender differs from torch by more than ``tolerance`` (relative).
    """
    reference = TorchReference(case, seed, torch_device)
    expected = reference.reference()
    state_dict = reference.state_dict()
    x = jnp.asarray(reference.x.cpu().numpy())  # (L, N, H_in)
    result = {"shape": case.shape._asdict(), "h_sequence_bytes": case.h_sequence_bytes}
    result.update(parity={}, first_call_s={}, train_memory={})
    fwd_calls = {"torch": reference.forward}
    train_calls = {"torch": reference.train}
    for name, contender in contenders.items():
        params = contender.from_torch(state_dict)
        fwd, fwd_compile_s, fwd_result = first_call(contender.forward, params, x)
        train, train_compile_s, train_result = first_call(train_step(contender.forward), params, x)
        errors = parity(contender, fwd_result, train_result, expected)
        worst = max(errors, key=errors.get)
        if errors[worst] > tolerance:
            raise ParityError(
                f"{name} differs from {case.torch_name} at {case.shape}: {worst} relative error "
                f"{errors[worst]:.2e} > tolerance {tolerance:.0e} (all: {errors})"
            )
        result["parity"][name] = errors
        result["first_call_s"][name] = {"fwd": fwd_compile_s, "train": train_compile_s}
        result["train_memory"][name] = memory_stats(train)
        fwd_calls[name] = jax_call(fwd, params, x)
        train_calls[name] = jax_call(train, params, x)
    for mode, calls in (("fwd", fwd_calls), ("train", train_calls)):
        inner = calibrate(calls, min_sample_s)
        result[mode] = summarize(paired_rounds(calls, rounds, inner))
        result[mode]["calls_per_sample"] = inner
    return result


def bench_memory(case: Case, contenders: dict) -> dict:
    """Train-step memory analysis of every contender, compiled from shapes only (nothing runs)."""
    state_dict = {
        key: jax.ShapeDtypeStruct(tuple(value.shape), jnp.float32)
        for key, value in torch_module(case).state_dict().items()
    }
    shape = case.shape
    x = jax.ShapeDtypeStruct((shape.L, shape.N, shape.H_in), jnp.float32)
    report = {"shape": shape._asdict(), "h_sequence_bytes": case.h_sequence_bytes}
    for name, contender in contenders.items():
        params = jax.eval_shape(contender.from_torch, state_dict)
        compiled = jax.jit(train_step(contender.forward)).lower(params, x).compile()
        report[name] = memory_stats(compiled)
    return report
