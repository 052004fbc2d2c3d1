"""The benchmark script end to end, at tiny sizes: parity checked, report written."""

import importlib.util
import json
from pathlib import Path

import pytest

BENCH_PATH = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench", BENCH_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench_report(bench):
    import bench_report  # put on sys.path by the bench script

    return bench_report


def test_quick_mode_checks_parity_then_writes_table_json_and_plot(bench, bench_report, tmp_path):
    rounds = 2
    results = bench.main(
        quick=True,
        shapes={"tiny": (5, 2, 3, 4, 2)},
        rounds=rounds,
        memory_shape=(30, 2, 3, 4, 1),
        roofline=True,
        jrnn_variants=["unroll=2"],
        out=tmp_path,
    )
    for name in ("bench.md", "bench.json", "bench.png"):
        assert (tmp_path / name).stat().st_size > 0
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved == json.loads(json.dumps(results))

    tiny = saved["shapes"]["tiny"]
    contenders = [*bench.CONTENDERS, "jrnn[unroll=2]"]
    assert saved["contenders"] == contenders
    for name in contenders:
        errors = tiny["parity"][name]
        assert set(errors) == set(bench_report.PARITY_FIELDS)
        assert max(errors.values()) < 1e-5
        for mode in bench_report.MODES:
            assert len(tiny[mode][name]["samples_s"]) == rounds
            assert tiny[mode][name]["ratio_to_torch"] > 0
            assert tiny["first_call_s"][name][mode]["total"] > 0
        assert saved["memory_case"][name]["temp"] > 0
    assert len(tiny["fwd"]["torch"]["samples_s"]) == rounds
    assert saved["roofline"]["tiny"]["fwd_floor_s"] > 0

    table = (tmp_path / "bench.md").read_text()
    assert saved["machine"]["cpu"] in table
    assert "| tiny 5, 2, 3, 4, 2 |" in table
    assert "long 30, 2, 3, 4, 1" in table


def test_a_contender_that_disagrees_with_torch_stops_the_run(bench, tmp_path, monkeypatch):
    def off_by_one_percent(params, x):
        output, h_n = bench.plain_scan_rnn(params, x)
        return output * 1.01, h_n

    monkeypatch.setitem(bench.CONTENDERS, "wrong", bench.JaxContender(off_by_one_percent))
    with pytest.raises(RuntimeError, match=r"wrong differs from torch.nn.RNN .* output relative"):
        bench.main(
            shapes={"tiny": (3, 2, 3, 4, 1)}, contenders=["wrong"], memory=False, out=tmp_path
        )
    assert not (tmp_path / "bench.json").exists()


def test_unknown_shape_names_are_refused(bench, tmp_path):
    with pytest.raises(ValueError, match=r"unknown shapes \['S9'\]"):
        bench._cli(["--shapes", "S1,S9", "--out", str(tmp_path)])


def test_unknown_contender_names_are_refused(bench, tmp_path):
    with pytest.raises(ValueError, match=r"unknown contenders \['haiku'\]"):
        bench.main(quick=True, contenders=["jrnn", "haiku"], out=tmp_path)
