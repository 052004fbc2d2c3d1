"""``main(**kwargs)`` and its argparse shim: train data-parallel, compare with one device.

Three ways to run, one function:

- ``processes=1``: this process, with ``devices_per_process`` devices;
- ``processes > 1`` without ``coordinator``: start that many local processes (on 127.0.0.1)
  running this same command, each joining with its ``--process-id``, and wait for them;
- ``processes > 1`` with ``coordinator`` and ``process_id``: be that process of an existing
  cluster (one command per host, e.g. on several GPU hosts or a TPU pod slice).

Process 0 shows the progress, then trains the same model on one of its devices alone (the
reference) and prints, last, ``result: processes=P devices=N steps=S loss=<f>
reference_loss=<f> max_param_diff=<f> seconds=<f>``; ``seconds`` is the distributed run's
wall time, its first step's compilation included.
"""

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import jax

from . import runtime, task
from .launch import free_port, launch
from .result import format_result, result_from, save_model
from .train import max_param_diff, train

FN = "`jrnn.distributed.main`"
# name: (type, default, help); main's keyword arguments beyond the task's Config
OPTIONS = {
    "processes": (int, 1, "processes P; with P > 1 and no --coordinator, started here"),
    "devices_per_process": (int, 1, "devices D per process (on CPU: how many JAX makes)"),
    "coordinator": (str, None, "HOST:PORT of process 0, to join an existing cluster"),
    "process_id": (int, None, "this process's index in [0, P), with --coordinator"),
    "timeout": (float, 600.0, "seconds for the processes to join, and for a local launch"),
    "save": (str, None, "write the trained model here (.npz, torch's dotted names)"),
}
HELP = {
    "cell": "rnn (tanh), lstm or gru",
    "steps": "SGD steps S, each on a fresh global batch",
    "batch_size": "global batch N, a multiple of the device count",
    "seq_len": "time steps L",
    "hidden_size": "hidden units H",
    "num_layers": "stacked layers",
    "bidirectional": "bidirectional layers",
    "variable_lengths": "rows of random lengths in [2, L]",
    "dropout": "dropout between layers, in [0, 1)",
    "lr": "SGD learning rate",
    "seed": "seed of the model, the batches and the dropout keys",
}


def main(**kwargs) -> dict:
    """Train the adding problem data-parallel and compare with a one-device run.

    Args:
        **kwargs: ``processes``, ``devices_per_process``, ``coordinator``, ``process_id``,
            ``timeout``, ``save`` (see ``OPTIONS``) and the fields of :class:`task.Config`
            (``cell``, ``steps``, ``batch_size``, ...); all optional.

    Returns:
        The result line's fields (``processes``, ``devices``, ``steps``, ``loss``,
        ``reference_loss``, ``max_param_diff``, ``seconds``) as process 0 printed them; another
        process of a cluster returns ``{}``.

    Raises:
        TypeError: an unknown keyword argument.
        ValueError: a value out of range, a batch the devices do not divide, ``coordinator``
            and ``process_id`` not given together, or a device count JAX cannot give here.
        RuntimeError, TimeoutError: a local process failed, or did not finish in ``timeout``.
    """
    options = {name: kwargs.pop(name, default) for name, (_, default, _) in OPTIONS.items()}
    fields = {field.name for field in dataclasses.fields(task.Config)}
    unknown = sorted(set(kwargs) - fields)
    if unknown:
        raise TypeError(
            f"{FN}: unknown arguments {unknown}; known: {sorted(fields | set(OPTIONS))}"
        )
    config = task.Config(**kwargs)
    _check(config, **options)
    if options["processes"] > 1 and options["coordinator"] is None:
        return _launch_local(config, options)
    return _run_here(config, options)


def _check(config, *, processes, devices_per_process, coordinator, process_id, timeout, save):
    at_least = {
        "processes": (processes, 1),
        "devices_per_process": (devices_per_process, 1),
        "steps": (config.steps, 1),
        "batch_size": (config.batch_size, 1),
        "seq_len": (config.seq_len, 2),
        "hidden_size": (config.hidden_size, 1),
        "num_layers": (config.num_layers, 1),
    }
    for name, (value, least) in at_least.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{FN}: expected {name} an integer >= {least}, got {value!r}")
    if config.cell not in task.CELLS:
        raise ValueError(f"{FN}: expected cell one of {sorted(task.CELLS)}, got {config.cell!r}")
    devices = processes * devices_per_process
    if config.batch_size % devices:
        raise ValueError(
            f"{FN}: batch_size={config.batch_size} must split evenly over the {devices} devices "
            f"(processes={processes} x devices_per_process={devices_per_process})"
        )
    if not 0.0 <= config.dropout < 1.0 or not config.lr > 0 or not timeout > 0:
        raise ValueError(
            f"{FN}: expected 0 <= dropout < 1, lr > 0 and timeout > 0, got "
            f"dropout={config.dropout}, lr={config.lr}, timeout={timeout}"
        )
    if (coordinator is None) != (process_id is None):
        raise ValueError(
            f"{FN}: coordinator and process_id go together (joining a cluster), got "
            f"coordinator={coordinator!r}, process_id={process_id!r}"
        )
    if coordinator is not None and not (processes > 1 and 0 <= process_id < processes):
        raise ValueError(
            f"{FN}: joining a cluster needs processes > 1 and 0 <= process_id < processes, got "
            f"processes={processes}, process_id={process_id}"
        )


def _launch_local(config: task.Config, options: dict) -> dict:
    port = free_port()
    flags = _flags(config, {**options, "coordinator": f"127.0.0.1:{port}"})
    commands = [
        [sys.executable, "-m", "jrnn.distributed", *flags, "--process-id", str(index)]
        for index in range(options["processes"])
    ]
    package_root = str(Path(__file__).resolve().parents[2])  # so children import this jrnn
    path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}
    return result_from(launch(commands, timeout=options["timeout"], echo=print, env=env))


def _flags(config: task.Config, options: dict) -> list[str]:
    flags = []
    for name, value in {**dataclasses.asdict(config), **options}.items():
        if value is None or value is False or name == "process_id":
            continue
        flag = "--" + name.replace("_", "-")
        flags += [flag] if value is True else [flag, str(value)]
    return flags


def _run_here(config: task.Config, options: dict) -> dict:
    processes = options["processes"]
    runtime.start(
        processes=processes,
        devices_per_process=options["devices_per_process"],
        coordinator=options["coordinator"],
        process_id=options["process_id"],
        timeout=options["timeout"],
    )
    leader = jax.process_index() == 0
    if leader:
        print(
            f"training a {config.cell} on {jax.device_count()} {jax.devices()[0].platform} "
            f"device(s) ({processes} process(es) x {options['devices_per_process']}), global batch "
            f"{config.batch_size}, {config.steps} steps",
            flush=True,
        )
    run = train(config, jax.devices(), log=print if leader else None)
    result = {}
    if leader:
        if options["save"] is not None:
            save_model(options["save"], run.model)
        print("reference: the same training on one device of process 0", flush=True)
        reference = train(config, jax.local_devices()[:1])
        print(
            f"throughput after the first step: {run.sequences_per_second:.1f} sequences/s on "
            f"{jax.device_count()} device(s), {reference.sequences_per_second:.1f} on one"
        )
        result = {
            "processes": processes,
            "devices": jax.device_count(),
            "steps": config.steps,
            "loss": float(run.losses[-1]),
            "reference_loss": float(reference.losses[-1]),
            "max_param_diff": max_param_diff(run.model, reference.model),
            "seconds": run.seconds,
        }
        print(format_result(result), flush=True)
    runtime.stop(processes)
    return result


def parser() -> argparse.ArgumentParser:
    """The command line: one flag per keyword argument of :func:`main`."""
    command_line = argparse.ArgumentParser(
        prog="python scripts/train_distributed.py",
        description="Train the adding problem data-parallel over devices and processes on "
        "JAX's runtime, then the same on one device; the last line compares the two.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    for name, (kind, default, text) in OPTIONS.items():
        command_line.add_argument(
            "--" + name.replace("_", "-"), type=kind, default=default, help=text
        )
    for field in dataclasses.fields(task.Config):
        flag = "--" + field.name.replace("_", "-")
        if field.type is bool or field.type == "bool":
            command_line.add_argument(flag, action="store_true", help=HELP[field.name])
        elif field.name == "cell":
            command_line.add_argument(
                flag, choices=sorted(task.CELLS), default=field.default, help=HELP[field.name]
            )
        else:
            kind = type(field.default)
            command_line.add_argument(flag, type=kind, default=field.default, help=HELP[field.name])
    return command_line


def cli(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and call :func:`main`."""
    return main(**vars(parser().parse_args(argv)))
