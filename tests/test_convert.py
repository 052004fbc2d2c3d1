"""The converter end to end, on checkpoints torch wrote: in-process, argparse shim, subprocess."""

import os
import re
import runpy
import subprocess
import sys

import jax
import pytest
import safetensors
import safetensors.torch
import torch

from jrnn.convert import cli, main


class Tagger(torch.nn.Module):
    def __init__(self, dtype=torch.float32):
        super().__init__()
        self.embedding = torch.nn.Embedding(10, 3, dtype=dtype)
        self.rnn = torch.nn.RNN(3, 4, num_layers=2, bidirectional=True, dtype=dtype)
        self.head = torch.nn.Linear(8, 5, dtype=dtype)


@pytest.fixture
def model_pt(tmp_path):
    torch.manual_seed(0)
    model = Tagger()
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    return model, path


def summary_rows(text):
    return dict(line.split(maxsplit=1) for line in text.splitlines() if line.startswith("  "))


def assert_file_holds(path, module):
    """``path`` loads into a fresh twin of ``module`` strictly, with the same values."""
    fresh = type(module)(
        module.input_size,
        module.hidden_size,
        num_layers=module.num_layers,
        bias=module.bias,
        bidirectional=module.bidirectional,
        dtype=module.weight_ih_l0.dtype,
    )
    fresh.load_state_dict(safetensors.torch.load_file(str(path)), strict=True)
    for key, tensor in module.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], tensor)


def test_main_converts_a_torch_model_checkpoint(model_pt, tmp_path, capsys):
    model, src = model_pt
    dst = tmp_path / "rnn.safetensors"
    summary = main(src, dst, prefix="rnn.", nonlinearity="relu")
    printed = capsys.readouterr().out
    assert summary in printed and f"wrote {dst}" in printed
    rows = summary_rows(summary)
    assert rows == {
        "kind": "torch.nn.RNN",
        "num_layers": str(model.rnn.num_layers),
        "directions": "2 (bidirectional)",
        "input_size": str(model.rnn.input_size),
        "hidden_size": str(model.rnn.hidden_size),
        "bias": str(model.rnn.bias),
        "dtype": str(model.rnn.weight_ih_l0.dtype).removeprefix("torch."),
    }
    assert_file_holds(dst, model.rnn)
    with safetensors.safe_open(str(dst), framework="np") as file:
        metadata = file.metadata()
    assert metadata["nonlinearity"] == "relu"
    assert metadata["converted_from"] == "model.pt"


def test_main_keeps_float64_even_with_jax_x64_off(tmp_path, capsys):
    torch.manual_seed(1)
    module = torch.nn.RNN(2, 3, dtype=torch.float64)
    src, dst = tmp_path / "rnn.pth", tmp_path / "rnn.safetensors"
    torch.save(module.state_dict(), src)
    with jax.enable_x64(False):
        summary = main(str(src), str(dst))
    assert summary_rows(summary)["dtype"] == "float64"
    assert_file_holds(dst, module)


def test_main_converts_a_cell_from_safetensors(tmp_path, capsys):
    torch.manual_seed(2)
    cell = torch.nn.RNNCell(2, 3, bias=False)
    src, dst = tmp_path / "cell.safetensors", tmp_path / "out.safetensors"
    safetensors.torch.save_file(cell.state_dict(), str(src))
    rows = summary_rows(main(src, dst))
    assert rows["kind"] == "torch.nn.RNNCell" and rows["bias"] == "False"
    assert rows["directions"] == "1" and rows["num_layers"] == "1"
    fresh = torch.nn.RNNCell(2, 3, bias=False)
    fresh.load_state_dict(safetensors.torch.load_file(str(dst)), strict=True)
    assert torch.equal(fresh.weight_hh, cell.weight_hh)


def test_cli_in_process(model_pt, tmp_path, capsys):
    model, src = model_pt
    dst = tmp_path / "rnn.safetensors"
    cli([str(src), str(dst), "--prefix", "rnn", "--nonlinearity", "tanh"])
    assert "kind         torch.nn.RNN" in capsys.readouterr().out
    assert_file_holds(dst, model.rnn)


def test_cli_as_a_module_in_a_subprocess(model_pt, tmp_path):
    model, src = model_pt
    dst = tmp_path / "rnn.safetensors"
    result = subprocess.run(
        [sys.executable, "-m", "jrnn.convert", str(src), str(dst), "--prefix", "rnn."],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"hidden_size  {model.rnn.hidden_size}" in result.stdout
    assert_file_holds(dst, model.rnn)


def _damaged(tmp_path):
    path = tmp_path / "damaged.pt"
    path.write_bytes(b"\x80\x02garbage")
    return path


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (
            lambda tmp, src: [str(tmp / "absent.pt"), str(tmp / "o.safetensors")],
            "no such checkpoint file",
        ),
        (
            lambda tmp, src: [str(_damaged(tmp)), str(tmp / "o.safetensors")],
            "cannot read checkpoint",
        ),
        (
            lambda tmp, src: [str(src), str(tmp / "o.safetensors"), "--prefix", "head."],
            "missing key 'weight_ih_l0'",
        ),
        (
            lambda tmp, src: [str(src), str(tmp / "o.safetensors"), "--prefix", "enc."],
            "no state_dict entry starts with",
        ),
        (
            lambda tmp, src: [str(src), str(tmp / "o.pt"), "--prefix", "rnn."],
            r"must end in '\.safetensors'",
        ),
        (
            lambda tmp, src: [str(src), str(tmp / "o.safetensors"), "--nonlinearity", "gelu"],
            "invalid choice",
        ),
        (lambda tmp, src: [str(src)], "required: dst"),
    ],
)
def test_cli_bad_input_is_a_message_and_exit_2(model_pt, tmp_path, capsys, args, match):
    _, src = model_pt
    with pytest.raises(SystemExit) as info:
        cli(args(tmp_path, src))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: python -m jrnn.convert" in err
    assert "error:" in err
    assert re.search(match, err), err
    assert not any(name.startswith("o.") for name in os.listdir(tmp_path))


def test_cli_bad_input_in_a_subprocess_has_no_traceback(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jrnn.convert",
            str(_damaged(tmp_path)),
            str(tmp_path / "o.safetensors"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "cannot read checkpoint" in result.stderr and "damaged.pt" in result.stderr
    assert "Traceback" not in result.stderr


def test_several_rnns_without_prefix_is_refused_listing_them(tmp_path, capsys):
    src = tmp_path / "two.pt"
    torch.save(
        torch.nn.ModuleDict({"a": torch.nn.RNN(2, 3), "b": torch.nn.RNN(3, 3)}).state_dict(), src
    )
    with pytest.raises(SystemExit):
        cli([str(src), str(tmp_path / "o.safetensors")])
    assert "2 recurrent networks, at prefixes 'a.', 'b.'" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["two.pt"]


def test_scripts_wrapper_runs_the_same_cli(model_pt, tmp_path, monkeypatch, capsys):
    model, src = model_pt
    dst = tmp_path / "rnn.safetensors"
    script = os.path.join(os.path.dirname(__file__), os.pardir, "scripts", "convert.py")
    monkeypatch.setattr(sys, "argv", [script, str(src), str(dst), "--prefix", "rnn."])
    runpy.run_path(script, run_name="__main__")
    assert "wrote" in capsys.readouterr().out
    assert_file_holds(dst, model.rnn)
