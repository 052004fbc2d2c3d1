"""Where the benchmark runs: ``--device cpu`` (the default) or ``gpu``, and ``--tf32 off|on``.

On ``gpu`` torch's module and tensors live on ``cuda`` (torch's cuDNN RNN, LSTM and GRU), JAX's
arrays on JAX's GPU backend, and TF32 is set for both: ``off`` is float32 matmuls everywhere
(``torch.backends.cuda.matmul.allow_tf32`` and ``torch.backends.cudnn.allow_tf32`` False, JAX's
``jax_default_matmul_precision`` ``"highest"``); ``on`` lets both round matmul inputs to TF32
(torch's flags True, JAX's precision ``"tensorfloat32"``). TF32 keeps 10 mantissa bits, a
relative error near 1e-3, so the parity tolerance is looser with it on. On ``cpu`` nothing is
set and no CUDA call is made: the run is exactly the CPU benchmark.
"""

import contextlib

import jax
import torch

DEVICES = ("cpu", "gpu")
TF32 = ("off", "on")
TOLERANCE = {"off": 1e-4, "on": 1e-2}  # largest relative error to torch accepted
JAX_PRECISION = {"off": "highest", "on": "tensorfloat32"}


def check(device: str, tf32: str) -> None:
    """Raise ``ValueError`` for an unknown device or TF32 setting, or TF32 on a CPU run."""
    if device not in DEVICES:
        raise ValueError(f"bench: unknown device {device!r}; known: {list(DEVICES)}")
    if tf32 not in TF32:
        raise ValueError(f"bench: unknown tf32 setting {tf32!r}; known: {list(TF32)}")
    if device == "cpu" and tf32 == "on":
        raise ValueError("bench: --tf32 on needs --device gpu (TF32 is a GPU matmul mode)")


def tolerance(tf32: str) -> float:
    """The default parity tolerance: 1e-4 in float32, 1e-2 with TF32 matmuls."""
    return TOLERANCE[tf32]


def torch_device(device: str) -> str:
    """The torch device of ``device``: ``"cpu"`` or ``"cuda"``."""
    return "cuda" if device == "gpu" else "cpu"


def _jax_device(device: str):
    try:
        return jax.devices(device)[0]
    except RuntimeError as error:
        raise RuntimeError(f"bench: --device {device}: JAX has no {device} backend here") from error


@contextlib.contextmanager
def placed(device: str, tf32: str):
    """Run the block with JAX's arrays on ``device`` and, on ``gpu``, TF32 set; then restore."""
    jax_device = _jax_device(device)
    if device == "cpu":
        with jax.default_device(jax_device):
            yield
        return
    if not torch.cuda.is_available():
        raise RuntimeError("bench: --device gpu: torch sees no CUDA device")
    flags = (torch.backends.cuda.matmul, torch.backends.cudnn)
    saved = [flag.allow_tf32 for flag in flags]
    for flag in flags:
        flag.allow_tf32 = tf32 == "on"
    try:
        with jax.default_device(jax_device), jax.default_matmul_precision(JAX_PRECISION[tf32]):
            yield
    finally:
        for flag, value in zip(flags, saved, strict=True):
            flag.allow_tf32 = value


def describe(device: str, tf32: str) -> dict:
    """What the report adds to the machine: JAX's backend and, on ``gpu``, the GPU and TF32."""
    described = {"jax_backend": _jax_device(device).platform}
    if device == "gpu":
        described.update(
            gpu=torch.cuda.get_device_name(),
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            tf32=tf32,
        )
    return described
