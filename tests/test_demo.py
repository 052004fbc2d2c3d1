"""The adding-problem demo: data against a plain loop, a tiny run end to end, torch reading its
files, and the command line (in-process and as `python scripts/demo.py` / `-m jrnn.demo`)."""

import contextlib
import inspect
import io
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
import safetensors.torch
import torch

from jrnn import rnn
from jrnn.demo import (
    UNSTABLE,
    WORST_LOSS_STEPS,
    adding_problem,
    check_against_torch,
    cli,
    init_head,
    init_irnn,
    main,
    parser,
    progress_postfix,
    stability_report,
    worst_after_warmup,
)

ROOT = Path(__file__).resolve().parents[1]
# lr 1e-2: 50 steps get past the initial loss (at the default 3e-4 they barely start)
TINY = {"seq_len": 6, "steps": 50, "hidden_size": 4, "batch_size": 8, "test_size": 16, "lr": 1e-2}
RESULT_LINE = re.compile(r"result: irnn_mse=(\S+) tanh_mse=(\S+) baseline_mse=(\S+) seconds=(\S+)")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One tiny run through the argparse shim: result, stdout, output folder, progress bars."""
    out = tmp_path_factory.mktemp("demo")
    argv = [f"--{name.replace('_', '-')}={value}" for name, value in TINY.items()]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        result = cli([*argv, "--seed=3", f"--out={out}"])
    return result, stdout.getvalue(), out, stderr.getvalue()


def torch_model(result):
    """The saved IRNN and head, loaded into torch modules by torch's own loader."""
    files = result["files"]
    hidden_size = TINY["hidden_size"]
    torch_rnn = torch.nn.RNN(2, hidden_size, nonlinearity="relu")
    torch_rnn.load_state_dict(safetensors.torch.load_file(files["irnn"]))
    head = torch.nn.Linear(hidden_size, 1)
    head.load_state_dict(safetensors.torch.load_file(files["irnn_head"]))
    return torch_rnn, head


@pytest.mark.parametrize("seq_len", [2, 3, 10])
def test_adding_problem_against_a_plain_loop(seq_len):
    x, y = adding_problem(jax.random.key(seq_len), batch_size=64, seq_len=seq_len)
    x, y = np.asarray(x), np.asarray(y)
    assert x.dtype == y.dtype == np.float32
    for row in range(64):
        marked = [t for t in range(seq_len) if x[t, row, 1] == 1.0]
        assert len(marked) == 2 and marked[0] < seq_len // 2 <= marked[1]
        assert all(x[t, row, 1] == 0.0 for t in range(seq_len) if t not in marked)
        assert all(0.0 <= x[t, row, 0] < 1.0 for t in range(seq_len))
        assert y[row] == pytest.approx(x[marked[0], row, 0] + x[marked[1], row, 0], abs=1e-6)


def test_adding_problem_baseline_is_one_sixth():
    """Always predicting 1 scores Var(U + U) = 1/6 on a large batch."""
    _, y = adding_problem(jax.random.key(0), batch_size=20000, seq_len=4)
    assert np.mean((1 - np.asarray(y, np.float64)) ** 2) == pytest.approx(1 / 6, abs=0.01)


def test_init_irnn_is_identity_relu_net_in_torch_layout():
    params = init_irnn(jax.random.key(0), input_size=2, hidden_size=5)
    expected = torch.nn.RNN(2, 5, nonlinearity="relu").state_dict()
    assert list(params) == list(expected)
    assert {k: v.shape for k, v in params.items()} == {
        k: tuple(v.shape) for k, v in expected.items()
    }
    np.testing.assert_array_equal(params["weight_hh_l0"], np.eye(5))
    np.testing.assert_array_equal(params["bias_ih_l0"], np.zeros(5))
    np.testing.assert_array_equal(params["bias_hh_l0"], np.zeros(5))
    assert 0 < np.abs(np.asarray(params["weight_ih_l0"])).max() < 0.01


def test_init_head_is_a_torch_linear():
    head = init_head(jax.random.key(0), hidden_size=9)
    linear = torch.nn.Linear(9, 1)
    linear.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in head.items()})
    bound = 1 / math.sqrt(9)  # torch.nn.Linear's default init range
    assert all(np.abs(np.asarray(v)).max() <= bound for v in head.values())


def test_result_line_is_last_and_parses(tiny_run):
    result, stdout, _, _ = tiny_run
    last = stdout.strip().splitlines()[-1]
    match = RESULT_LINE.fullmatch(last)
    assert match, last
    irnn_mse, tanh_mse, baseline_mse, seconds = map(float, match.groups())
    assert irnn_mse == pytest.approx(result["irnn_mse"], rel=1e-5)
    assert tanh_mse == pytest.approx(result["tanh_mse"], rel=1e-5)
    assert baseline_mse == pytest.approx(result["baseline_mse"], rel=1e-5)
    assert 0 < seconds == pytest.approx(result["seconds"], abs=0.1)
    assert "IRNN (relu, identity init)" in stdout and "always predict 1" in stdout


def test_both_models_learn_something(tiny_run):
    result, _, _, _ = tiny_run
    for label in ("IRNN", "tanh RNN"):
        losses = result["losses"][label]
        assert losses.shape == (TINY["steps"],) and np.isfinite(losses).all()
        assert losses[-10:].mean() < losses[:10].mean(), label


def test_progress_postfix_shows_the_worst_recent_loss():
    """One step's spike stays on the bar for WORST_LOSS_STEPS steps, the mean only for 100."""
    calm = np.full(4000, 0.05)
    assert progress_postfix(calm) == {"loss": "0.0500", "worst": "0.05"}
    spiked = calm.copy()
    spiked[2000] = 5.5e12
    shown = progress_postfix(spiked[:2001])
    assert shown == {"loss": "5.5e+10", "worst": "5.5e+12"}
    shown = progress_postfix(spiked[:2101])  # the running mean has forgotten it ...
    assert shown == {"loss": "0.0500", "worst": "5.5e+12"}  # ... the worst has not
    assert progress_postfix(spiked[: 2000 + WORST_LOSS_STEPS])["worst"] == "5.5e+12"
    assert progress_postfix(spiked[: 2001 + WORST_LOSS_STEPS])["worst"] == "0.05"
    assert progress_postfix(np.array([0.3, 0.1])) == {"loss": "0.2000", "worst": "0.3"}
    assert progress_postfix(np.array([0.1, np.nan]))["worst"] == "nan"


def test_progress_bars_show_running_and_worst_loss(tiny_run):
    result, _, _, bars = tiny_run
    for label in ("IRNN", "tanh RNN"):
        final = [line for line in bars.split("\r") if line.startswith(f"{label}: 100%")][-1]
        expected = progress_postfix(result["losses"][label])
        assert f"loss={expected['loss']}, worst={expected['worst']}" in final, final


def test_worst_loss_after_warmup_is_reported_and_stable(tiny_run):
    """main reports each model's largest step loss after the first 10% of steps."""
    result, stdout, _, _ = tiny_run
    warmup = TINY["steps"] // 10
    for label in ("IRNN", "tanh RNN"):
        worst = result["worst_loss"][label]
        assert worst == result["losses"][label][warmup:].max()
        assert worst <= UNSTABLE * result["baseline_mse"]
    assert f"Largest training-step loss after the first {warmup} steps (warm-up):" in stdout
    assert "loss spike" not in stdout


def test_worst_after_warmup_and_the_report():
    losses = np.array([50.0] * 100 + [0.2] * 899 + [3.0])
    assert worst_after_warmup(losses) == 3.0
    assert worst_after_warmup(np.array([7.0])) == 7.0
    stable = stability_report({"IRNN": 1.0, "tanh RNN": 0.2}, 0.1, 1000)
    assert stable.splitlines()[1:] == [
        "  IRNN (relu, identity init)           1 10.0x baseline",
        "  tanh RNN (torch init)              0.2  2.0x baseline",
    ]
    for spike in (1.01, np.nan):
        report = stability_report({"IRNN": spike, "tanh RNN": 0.2}, 0.1, 1000)
        assert report.endswith(
            "above 10x the baseline: a loss spike (or too few steps); try a lower --lr"
        )


def test_defaults_are_the_measured_stable_ones():
    """Six seeds (README): a step loss above 10x the baseline on 3 at lr 1e-3 and batch 64, on 1
    at 3e-4 and batch 64, on none at 3e-4 and batch 128."""
    defaults = {name: p.default for name, p in inspect.signature(main).parameters.items()}
    assert defaults["lr"] == 3e-4 == parser().parse_args([]).lr
    assert (defaults["clip"], defaults["batch_size"], defaults["steps"]) == (1.0, 128, 5000)


def test_files_written(tiny_run):
    result, stdout, out, _ = tiny_run
    files = result["files"]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in files.values())
    assert files["loss_curve"].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    for path in files.values():
        assert str(path) in stdout


def test_saved_irnn_is_the_trained_one(tiny_run):
    result, _, _, _ = tiny_run
    trained = result["models"]["IRNN"]
    torch_rnn, head = torch_model(result)
    for name, tensor in torch_rnn.state_dict().items():
        np.testing.assert_array_equal(tensor.numpy(), np.asarray(trained["rnn"][name]))
    for name, tensor in head.state_dict().items():
        np.testing.assert_array_equal(tensor.numpy(), np.asarray(trained["head"][name]))


def test_torch_cross_check_passed(tiny_run):
    result, stdout, _, _ = tiny_run
    assert result["torch_max_abs_diff"] <= 1e-5
    assert re.search(r"max \|torch - jrnn\| = \S+ over 16 predictions .*: match", stdout)


def test_torch_predicts_what_jrnn_predicts_on_fresh_data(tiny_run):
    result, _, _, _ = tiny_run
    x, _ = adding_problem(jax.random.key(42), batch_size=5, seq_len=9)
    model = result["models"]["IRNN"]
    _, h_n = rnn(model["rnn"], x, nonlinearity="relu")
    got = np.asarray(h_n[-1] @ model["head"]["weight"][0] + model["head"]["bias"][0])
    torch_rnn, head = torch_model(result)
    with torch.no_grad():
        _, torch_h_n = torch_rnn(torch.tensor(np.asarray(x)))
        expected = head(torch_h_n[-1])[:, 0].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_check_against_torch_raises_on_a_mismatch(tiny_run):
    result, _, _, _ = tiny_run
    files = result["files"]
    x, _ = adding_problem(jax.random.key(1), batch_size=3, seq_len=4)
    wrong = np.full(3, 100.0, np.float32)
    with contextlib.redirect_stdout(io.StringIO()) as stdout:
        with pytest.raises(RuntimeError, match=r"max \|torch - jrnn\| = .* > .*jrnn bug"):
            check_against_torch(files["irnn"], files["irnn_head"], np.asarray(x), wrong)
    assert "MISMATCH" in stdout.getvalue()


BAD_SETTINGS = [
    ("seq_len", 1, r"seq_len \(--seq-len\) to be an integer >= 2, got 1"),
    ("steps", 0, r"steps \(--steps\) to be an integer >= 1, got 0"),
    ("hidden_size", -2, r"hidden_size \(--hidden-size\) to be an integer >= 1, got -2"),
    ("batch_size", 0, r"batch_size \(--batch-size\) to be an integer >= 1, got 0"),
    ("test_size", 0, r"test_size \(--test-size\) to be an integer >= 1, got 0"),
    ("lr", 0.0, r"lr \(--lr\) to be a number > 0, got 0.0"),
    ("clip", -1.0, r"clip \(--clip\) to be a number > 0, got -1.0"),
]


@pytest.mark.parametrize(("name", "value", "message"), BAD_SETTINGS)
def test_main_rejects_bad_settings(name, value, message, tmp_path):
    with pytest.raises(ValueError, match=r"`jrnn.demo`: expected " + message):
        main(**{name: value}, out=tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("name", "value"), [("steps", True), ("seq_len", 2.5), ("hidden_size", "8"), ("lr", "0.1")]
)
def test_main_rejects_wrong_types(name, value, tmp_path):
    kind = type(value).__name__
    with pytest.raises(
        TypeError, match=rf"`jrnn.demo`: expected {name} to be an? .*, got .* {kind}"
    ):
        main(**{name: value}, out=tmp_path)


@pytest.mark.parametrize(("name", "value", "message"), BAD_SETTINGS)
def test_cli_rejects_bad_flags(name, value, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli([f"--{name.replace('_', '-')}", str(value)])
    assert exit_info.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_cli_rejects_non_numbers(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli(["--steps", "many"])
    assert exit_info.value.code == 2
    assert "argument --steps: invalid int value: 'many'" in capsys.readouterr().err


def run_python(*args):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_script_rejects_a_bad_flag_with_usage():
    done = run_python("scripts/demo.py", "--seq-len", "1")
    assert done.returncode == 2
    assert done.stderr.startswith("usage: python -m jrnn.demo")
    assert "error: `jrnn.demo`: expected seq_len (--seq-len) to be an integer >= 2" in done.stderr


def test_module_help_lists_the_flags():
    done = run_python("-m", "jrnn.demo", "--help")
    assert done.returncode == 0, done.stderr
    for flag in ("--seq-len", "--steps", "--hidden-size", "--seed", "--out", "--lr"):
        assert flag in done.stdout
