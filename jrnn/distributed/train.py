"""The training loop: ``config.steps`` data-parallel SGD steps on a mesh of the given devices.

The same loop serves the distributed run (every device of every process) and its reference
(one device of one process): only the device list differs.
"""

import dataclasses
import time
from collections.abc import Callable, Sequence

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from . import task
from .mesh import DATA, global_array, line_mesh, local_copy, replicate, shard_batch
from .step import data_parallel_step


@dataclasses.dataclass(frozen=True)
class Run:
    """What a training run gives back.

    Attributes:
        model: the trained model as NumPy arrays, ``{"rnn": ..., "head": ...}``.
        losses: the loss of every step, ``(steps,)``.
        seconds: wall time of the whole run, first step's compilation included.
        sequences_per_second: global sequences per second after the first step (compiled);
            over all steps when there is only one.
    """

    model: dict
    losses: np.ndarray
    seconds: float
    sequences_per_second: float


def train(
    config: task.Config,
    devices: Sequence[jax.Device],
    *,
    log: Callable[[str], None] | None = None,
) -> Run:
    """Train :func:`task.init_model` for ``config.steps`` steps, the batch split over ``devices``.

    In a multi-process run every process calls this with the same ``config`` and the same global
    ``devices`` (``jax.devices()``); each feeds only its own devices.

    Args:
        config: the run's settings.
        devices: the devices of the ``data`` axis; their number must divide the batch.
        log: called with a progress line about ten times per run; ``None`` is silent.

    Returns:
        The :class:`Run`.
    """
    start = time.perf_counter()
    mesh = line_mesh(devices, DATA)
    step_fn = data_parallel_step(config, mesh)
    replicated = NamedSharding(mesh, PartitionSpec())
    model = replicate(task.init_model(config.seed, config), mesh)
    every = max(1, config.steps // 10)
    losses, compiled = [], start
    for step in range(config.steps):
        batch = shard_batch(mesh, task.adding_batch(config, step))
        model, loss = step_fn(model, *batch, global_array(np.int32(step), replicated))
        losses.append(loss)
        if step == 0:
            compiled = _ready(loss)
        if log is not None and ((step + 1) % every == 0 or step + 1 == config.steps):
            log(f"step {step + 1}/{config.steps}  loss {float(loss.addressable_data(0)):.6f}")
    trained = local_copy(model)
    end = time.perf_counter()
    timed_steps, timed_from = config.steps - 1, compiled
    if timed_steps == 0:
        timed_steps, timed_from = 1, start
    return Run(
        model=trained,
        losses=np.asarray([float(loss.addressable_data(0)) for loss in losses]),
        seconds=end - start,
        sequences_per_second=timed_steps * config.batch_size / (end - timed_from),
    )


def _ready(array: jax.Array) -> float:
    array.block_until_ready()
    return time.perf_counter()


def max_param_diff(model: dict, reference: dict) -> float:
    """The largest ``|a - b|`` over every parameter of two models of the same structure.

    Example:
        >>> max_param_diff({"w": np.ones(2)}, {"w": np.array([1.0, 1.5])})
        0.5
    """
    diffs = jax.tree.map(lambda a, b: float(np.max(np.abs(a - b))), model, reference)
    return max(jax.tree.leaves(diffs))
