"""jrnn.distributed: sharded training equals one device, across devices and across processes.

The 8-device checks run in a child process (this one already runs JAX on one device):
tests/_distributed_checks.py prints what it measured as JSON. The multi-process test starts two
processes of two CPU devices each through ``jrnn.distributed.main`` and compares the trained
params with the same training run here, on one device. Children compile with LLVM's
optimisation off (``XLA_FLAGS``): the checks compare numbers, and compiling is most of their time.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from jrnn.distributed import main, task
from jrnn.distributed.launch import launch
from jrnn.distributed.result import result_from
from jrnn.distributed.train import train

ROOT = Path(__file__).resolve().parents[1]
CHECKS = Path(__file__).with_name("_distributed_checks.py")
TIMEOUT = 240  # seconds for any child; a healthy run takes a tenth of it
FAST_COMPILE = "--xla_backend_optimization_level=0"
TOLERANCE = 1e-5  # float32 round-off of sums split over shards
TINY = {"batch_size": 8, "seq_len": 6, "hidden_size": 4, "variable_lengths": True, "lr": 0.5}


def child_env() -> dict[str, str]:
    flags = " ".join(filter(None, [os.environ.get("XLA_FLAGS"), FAST_COMPILE]))
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "XLA_FLAGS": flags, "PYTHONPATH": path}


@pytest.fixture(scope="module")
def checks() -> dict:
    done = subprocess.run(
        [sys.executable, str(CHECKS)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=child_env(),
    )
    assert done.returncode == 0, f"{CHECKS.name} failed:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout.splitlines()[-1])


def test_checks_ran_on_8_devices(checks):
    assert checks["devices"] == 8


@pytest.mark.parametrize("cell", sorted(task.CELLS))
def test_batch_sharded_over_8_devices_trains_as_on_one(checks, cell):
    found = checks["data_parallel"][cell]
    assert found["max_param_diff"] <= TOLERANCE, found
    assert found["max_loss_diff"] <= TOLERANCE, found
    assert found["params_moved"] > 0.1, found  # both runs trained: the equality means something


def test_ensemble_sharded_over_8_devices_trains_as_on_one(checks):
    (found,) = checks["ensemble"].values()
    assert found["shards"] == 8, found  # each device held one member
    assert found["max_param_diff"] <= TOLERANCE, found
    assert found["max_loss_diff"] <= TOLERANCE, found
    assert found["distinct_member_losses"] == 8, found  # eight different networks


def test_dropout_differs_per_shard_and_not_with_the_device_count(checks):
    found = checks["dropout"]
    assert found["distinct_rows"] == 8, found  # 8 equal rows, one per device, 8 masks
    assert found["max_diff_vs_1_device"] <= TOLERANCE, found


def test_two_processes_train_as_one_process_on_one_device(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XLA_FLAGS", child_env()["XLA_FLAGS"])
    saved = tmp_path / "model.npz"
    result = main(
        processes=2, devices_per_process=2, steps=3, save=str(saved), timeout=TIMEOUT, **TINY
    )
    assert result["processes"] == 2 and result["devices"] == 4 and result["steps"] == 3
    assert capsys.readouterr().out.splitlines()[-1].startswith("result: processes=2 devices=4")
    with jax.enable_x64(False):  # as a fresh process: float32 everywhere
        reference = train(task.Config(steps=3, **TINY), jax.devices()[:1])
    with np.load(saved) as trained:
        diffs = {
            name: float(np.max(np.abs(trained[name] - reference.model[part][key])))
            for name in trained
            for part, key in [name.split(".")]
        }
    assert len(diffs) == 6 and max(diffs.values()) <= TOLERANCE, diffs
    assert abs(result["loss"] - reference.losses[-1]) <= TOLERANCE
    assert result["max_param_diff"] <= TOLERANCE  # process 0's own one-device reference agrees
    assert abs(result["reference_loss"] - reference.losses[-1]) <= TOLERANCE


def test_import_jrnn_leaves_the_distributed_package_out():
    code = "import json, sys, jrnn; print(json.dumps([m for m in sys.modules if 'jrnn.' in m]))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT
    )
    imported = json.loads(done.stdout)
    assert "jrnn._rnn" in imported and not [m for m in imported if "distributed" in m], imported


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_launch_returns_process_0_output_and_echoes_it():
    echoed = []
    lines = launch(
        [python("print('a'); print('b')"), python("print('not shown')")],
        timeout=TIMEOUT,
        echo=echoed.append,
    )
    assert lines == echoed == ["a", "b"]


def pid_file_sleeper(path: Path) -> list[str]:
    """A process that writes its pid to ``path`` (atomically), then sleeps a minute."""
    temporary = f"{path}.tmp"
    return python(
        f"import os, time; open({temporary!r}, 'w').write(str(os.getpid())); "
        f"os.replace({temporary!r}, {str(path)!r}); time.sleep(60)"
    )


def assert_killed(pid_file: Path) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)  # gone, and reaped


def test_launch_kills_everyone_when_one_fails(tmp_path):
    pid_file = tmp_path / "pid"
    failing = python(
        f"import os, sys, time\nwhile not os.path.exists({str(pid_file)!r}): time.sleep(0.01)\n"
        "print('boom', file=sys.stderr); sys.exit(3)"
    )
    with pytest.raises(RuntimeError, match=r"process 1 of 2 exited with code 3(?s:.*)boom"):
        launch([pid_file_sleeper(pid_file), failing], timeout=TIMEOUT)
    assert_killed(pid_file)


def test_launch_kills_everyone_after_its_timeout(tmp_path):
    pid_file = tmp_path / "pid"
    with pytest.raises(TimeoutError, match=r"not all 1 processes finished within timeout=1\.5 s"):
        launch([pid_file_sleeper(pid_file)], timeout=1.5)
    assert_killed(pid_file)


def test_a_launch_without_a_result_line_is_an_error():
    with pytest.raises(RuntimeError, match="process 0 printed no result line"):
        result_from(["training ...", "step 1/1"])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"step": 3}, TypeError, r"unknown arguments \['step'\]"),
        ({"processes": 0}, ValueError, "expected processes an integer >= 1, got 0"),
        ({"seq_len": 1}, ValueError, "expected seq_len an integer >= 2, got 1"),
        ({"cell": "elman"}, ValueError, r"expected cell one of \['gru', 'lstm', 'rnn'\]"),
        ({"processes": 2, "batch_size": 5}, ValueError, "batch_size=5 must split evenly over"),
        ({"dropout": 1.0}, ValueError, "expected 0 <= dropout < 1, lr > 0 and timeout > 0"),
        ({"coordinator": "127.0.0.1:1"}, ValueError, "coordinator and process_id go together"),
        (
            {"coordinator": "127.0.0.1:1", "process_id": 0},
            ValueError,
            "joining a cluster needs processes > 1",
        ),
    ],
)
def test_main_refuses_bad_arguments_before_starting_anything(kwargs, error, match, capsys):
    with pytest.raises(error, match=f"`jrnn.distributed.main`: {match}"):
        main(**kwargs)
    assert capsys.readouterr().out == ""


def test_main_refuses_a_device_count_this_process_cannot_have():
    assert jax.local_device_count() == 1  # JAX already runs here: its CPU device count is fixed
    with pytest.raises(ValueError, match="expected devices_per_process=2 local devices, this"):
        main(devices_per_process=2, steps=1, batch_size=2)
    assert jax.local_device_count() == 1
