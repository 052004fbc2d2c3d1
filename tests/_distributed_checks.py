"""Run in a process of its own with 8 CPU devices; prints one JSON line of measured differences.

tests/test_distributed.py starts it (the pytest process already runs JAX on one device) and
asserts on what it prints: every sharded run against the same run on one device.
"""

import dataclasses
import json
import time

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

import jrnn
from jrnn.distributed import task
from jrnn.distributed.mesh import DATA, ENSEMBLE, line_mesh, replicate, shard_batch, split_leading
from jrnn.distributed.step import ensemble_step
from jrnn.distributed.train import max_param_diff, train

DEVICES = 8
# tiny, both directions, ragged rows; compilation is the cost, so one layer and no dropout ...
CONFIG = task.Config(
    steps=2,
    batch_size=8,
    seq_len=6,
    hidden_size=4,
    bidirectional=True,
    variable_lengths=True,
    lr=0.5,
    seed=3,
)
# ... except for the Elman RNN, trained with two layers and dropout between them
CASES = {
    "rnn": dataclasses.replace(CONFIG, cell="rnn", num_layers=2, dropout=0.25),
    "lstm": dataclasses.replace(CONFIG, cell="lstm"),
    "gru": dataclasses.replace(CONFIG, cell="gru"),
}
ENSEMBLE_CELL = "rnn"


def data_parallel(config: task.Config) -> dict:
    """Two SGD steps with the batch over 8 devices against the same steps on one device."""
    sharded = train(config, jax.devices())
    single = train(config, jax.devices()[:1])
    initial = task.init_model(config.seed, config)
    return {
        "max_param_diff": max_param_diff(sharded.model, single.model),
        "max_loss_diff": float(np.max(np.abs(sharded.losses - single.losses))),
        "params_moved": max_param_diff(single.model, initial),
    }


def ensemble(config: task.Config) -> dict:
    """One SGD step of 8 networks under vmap, members over 8 devices, against one device."""
    members = [task.init_model(seed, config) for seed in range(DEVICES)]
    models = jax.tree.map(lambda *leaves: np.stack(leaves), *members)  # leaves (E, ...)
    batch = task.adding_batch(config, step=0)
    results = []
    for devices in (jax.devices(), jax.devices()[:1]):
        mesh = line_mesh(devices, ENSEMBLE)
        placed = split_leading(models, mesh)
        shards = len(placed["head"]["weight"].sharding.device_set)
        trained, losses = ensemble_step(config, mesh)(placed, *replicate(batch, mesh))
        results.append((jax.tree.map(np.asarray, trained), np.asarray(losses), shards))
    (sharded, sharded_losses, shards), (single, single_losses, _) = results
    return {
        "shards": shards,
        "max_param_diff": max_param_diff(sharded, single),
        "max_loss_diff": float(np.max(np.abs(sharded_losses - single_losses))),
        "distinct_member_losses": len(set(single_losses.tolist())),
    }


def dropout_masks() -> dict:
    """Dropout on 8 identical rows, one row per device on 8, against all rows on one device."""
    config = dataclasses.replace(CONFIG, cell="rnn", num_layers=2, bidirectional=False)
    params = task.init_model(config.seed, config)
    x, y, lengths = task.adding_batch(config, 0)
    x = np.repeat(x[:, :1], config.batch_size, axis=1)  # (L, N, 2): every row the same
    outputs = {}
    for count in (1, DEVICES):
        mesh = line_mesh(jax.devices()[:count], DATA)
        placed, _, _ = shard_batch(mesh, (x, y, lengths))
        forward = jax.jit(
            lambda params, x: jrnn.rnn(params, x, dropout=0.5, key=jax.random.key(7))[0],
            out_shardings=NamedSharding(mesh, PartitionSpec(None, DATA)),
        )
        outputs[count] = np.asarray(forward(replicate(params["rnn"], mesh), placed))  # (L, N, H)
    rows = outputs[DEVICES].transpose(1, 0, 2).reshape(config.batch_size, -1)  # (N, L*H)
    return {
        "max_diff_vs_1_device": float(np.max(np.abs(outputs[DEVICES] - outputs[1]))),
        "distinct_rows": len({row.tobytes() for row in rows}),
    }


def timed(check, *args) -> dict:
    """``check(*args)`` with the CPU seconds it took added (compilation is most of them)."""
    start = time.process_time()
    return {**check(*args), "cpu_seconds": round(time.process_time() - start, 2)}


if __name__ == "__main__":
    jax.config.update("jax_num_cpu_devices", DEVICES)  # before JAX's first computation
    report = {
        "devices": jax.device_count(),
        "data_parallel": {cell: timed(data_parallel, config) for cell, config in CASES.items()},
        "ensemble": {ENSEMBLE_CELL: timed(ensemble, CASES[ENSEMBLE_CELL])},
        "dropout": timed(dropout_masks),
    }
    print(json.dumps(report))
