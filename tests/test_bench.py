"""The benchmark (jrnn.bench, run by scripts/bench.py) end to end, at tiny sizes.

Every kind bidirectional, and the Elman RNN both ways through the whole run: each contender
matches torch before it is timed, a wrong one stops the run, and the report, json and plot are
written. Timings are not checked, only that they were taken.
"""

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from jrnn.bench import cli, contenders, report, scan_rnn
from jrnn.bench.cases import KINDS, Case, Shape
from jrnn.bench.measure import ParityError, bench_case

BENCH_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"
TINY = {"tiny": (3, 2, 3, 4, 2)}  # L, N, H_in, H, layers

pytestmark = pytest.mark.filterwarnings(
    "ignore:LSTM with projections is not supported with oneDNN:UserWarning"
)


def test_a_quick_run_writes_table_json_and_plot_for_both_directions(tmp_path):
    rounds = 2
    results = cli.main(
        quick=True,
        kinds=["rnn"],
        bidirectional=True,
        shapes={"tiny": (5, 2, 3, 4, 2)},
        rounds=rounds,
        memory_shape=(30, 2, 3, 4, 1),
        roofline=True,
        out=tmp_path,
    )
    for name in ("bench.md", "bench.json", "bench.png"):
        assert (tmp_path / name).stat().st_size > 0
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved == json.loads(json.dumps(results))
    assert list(saved["kinds"]) == ["rnn"]
    assert list(saved["kinds"]["rnn"]) == ["unidirectional", "bidirectional"]

    names = list(contenders.CONTENDERS)
    table = (tmp_path / "bench.md").read_text()
    assert saved["machine"]["cpu"] in table
    for direction, run in saved["kinds"]["rnn"].items():
        assert run["contenders"] == names
        tiny = run["shapes"]["tiny"]
        for name in names:
            assert max(tiny["parity"][name].values()) < 1e-5
            for mode in report.MODES:
                assert len(tiny[mode][name]["samples_s"]) == rounds
                assert tiny[mode][name]["ratio_to_torch"] > 0
                assert tiny[mode][name]["ratio_to_flax"] > 0
                assert tiny["first_call_s"][name][mode]["total"] > 0
            assert run["memory_case"][name]["temp"] > 0
        assert len(tiny["fwd"]["torch"]["samples_s"]) == rounds
        roofline = run["roofline"]["tiny"]
        assert 0 < roofline["fwd_floor_s"] < roofline["train_floor_estimate_s"]
        heading = f"Elman RNN (tanh), {direction}"
        for section in ("time relative to torch", "jrnn time relative to flax", "GEMM roofline"):
            assert f"### {heading}: {section}" in table
    assert saved["kinds"]["rnn"]["bidirectional"]["torch"] == "torch.nn.RNN(bidirectional=True)"
    assert "| tiny 5, 2, 3, 4, 2 |" in table
    assert "long 30, 2, 3, 4, 1" in table


@pytest.mark.parametrize("kind", ["lstm", "lstm_proj", "gru"])
def test_every_contender_matches_torch_bidirectional(kind):
    """Within 1e-5 of torch, or bench_case raises. The quick run above covers the rest: the
    unidirectional paths (flax's nn.RNN in place of nn.Bidirectional) and two bidirectional
    layers, layer 1 reading both directions."""
    case = Case(KINDS[kind], Shape(3, 2, 3, 4, 1), bidirectional=True)
    chosen = contenders.for_kind(case.kind, contenders.CONTENDERS)
    assert ("flax" in chosen) is not case.kind.projected
    result = bench_case(case, chosen, rounds=1, min_sample_s=0.0, tolerance=1e-5, seed=0)
    state = ["h_n", "c_n"] if case.kind.cell == "lstm" else ["h_n"]
    assert list(result["parity"]) == list(chosen)
    for errors in result["parity"].values():
        assert list(errors) == ["output", *state, "loss", "grads", "dx"]


def test_a_jrnn_variant_is_jrnn_of_the_kind_with_its_options():
    name, factory = contenders.jrnn_variant("unroll=2,checkpoint_every=3")
    assert name == "jrnn[unroll=2,checkpoint_every=3]"
    forward = factory(KINDS["lstm_proj"]).forward
    assert forward.func is contenders.JRNN["lstm"]
    assert forward.keywords == {"unroll": 2, "checkpoint_every": 3}


def _scaled_output(kind):
    """The textbook scan, its output 1% too large."""

    def forward(params, x):
        output, state = scan_rnn.forward(params, x, cell=kind.cell)
        return output * 1.01, state

    return contenders.JaxContender(forward)


def _forgets_bias_hh(kind):
    """jrnn, with a gradient map that loses d bias_hh (as a flax map that forgot a fold would)."""

    def grads_to_torch(grads):
        return {k: 0 * g if k.startswith("bias_hh") else g for k, g in grads.items()}

    return contenders.JaxContender(contenders.JRNN[kind.cell], grads_to_torch=grads_to_torch)


@pytest.mark.parametrize(
    ("wrong", "field"), [(_scaled_output, "output"), (_forgets_bias_hh, "grads")]
)
def test_a_contender_that_disagrees_with_torch_stops_the_run(wrong, field, tmp_path, monkeypatch):
    monkeypatch.setitem(contenders.CONTENDERS, "wrong", wrong)
    message = rf"wrong differs from torch\.nn\.GRU at .* {field} relative error"
    with pytest.raises(ParityError, match=message):
        cli.main(quick=True, kinds=["gru"], shapes=TINY, contenders=["wrong"], out=tmp_path)
    assert not (tmp_path / "bench.json").exists()


def test_unknown_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"unknown shapes \['S9'\]"):
        cli.cli(["--shapes", "S1,S9", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match=r"unknown contenders \['haiku'\]"):
        cli.main(quick=True, contenders=["jrnn", "haiku"], out=tmp_path)
    with pytest.raises(ValueError, match=r"unknown kinds \['elman'\]"):
        cli.main(quick=True, kinds=["rnn", "elman"], out=tmp_path)
    with pytest.raises(ValueError, match=r"none of the contenders \['flax'\] has kinds"):
        cli.main(quick=True, kinds=["lstm_proj"], contenders=["flax"], out=tmp_path)


def test_the_script_is_the_cli(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["bench.py", "--kinds", "elman"])
    with pytest.raises(ValueError, match=r"unknown kinds \['elman'\]"):
        runpy.run_path(str(BENCH_SCRIPT), run_name="__main__")


def test_import_jrnn_imports_neither_the_bench_nor_torch():
    check = "import jrnn, sys; assert not {'jrnn.bench', 'torch', 'flax'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", check], check=True)
