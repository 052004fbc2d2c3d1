"""The benchmark (jrnn.bench, run by scripts/bench.py) end to end, at tiny sizes.

Every kind bidirectional, and the Elman RNN both ways through the whole run: each contender
matches torch before it is timed, a wrong one stops the run, and the report, json and plot are
written. Timings are not checked, only that they were taken.
"""

import contextlib
import json
import runpy
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jrnn.bench import (
    backward_loop,
    cli,
    contenders,
    floor_report,
    gpu,
    profile,
    report,
    scan_rnn,
    timing,
    xla_flags,
)
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
                assert tiny[mode][name]["ratio_to_scan"] > 0
                assert tiny["first_call_s"][name][mode]["total"] > 0
            assert run["memory_case"][name]["temp"] > 0
        assert len(tiny["fwd"]["torch"]["samples_s"]) == rounds
        roofline = run["roofline"]["tiny"]
        assert 0 < roofline["fwd_floor_s"] < roofline["train_floor_estimate_s"]
        heading = f"Elman RNN (tanh), {direction}"
        sections = ["time relative to torch", "jrnn time relative to flax", "GEMM roofline"]
        sections += ["jrnn time relative to the plain scan"]
        for section in [*sections, "the targets against the XLA floor"]:
            assert f"### {heading}: {section}" in table
    assert saved["kinds"]["rnn"]["bidirectional"]["torch"] == "torch.nn.RNN(bidirectional=True)"
    assert "| tiny 5, 2, 3, 4, 2 |" in table
    assert "long 30, 2, 3, 4, 1" in table
    steal = saved["machine"]["cpu_steal"]
    if report.cpu_times() is not None:  # Linux
        assert 0 <= steal < 1
        assert "stolen by the hypervisor" in table


def test_the_steal_share_is_the_steal_ticks_over_all_ticks():
    before = [100, 0, 50, 1000, 0, 0, 0, 10]
    after = [160, 0, 70, 1010, 0, 0, 0, 20]  # 60 user, 20 system, 10 idle, 10 steal
    assert report.steal_share(before, after) == 0.1
    assert report.steal_share(None, after) is None
    assert report.steal_share(before, before) is None


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


def test_the_train_goal_is_set_against_the_floor():
    def timed(jrnn_s, flax_s, torch_s=None):
        jrnn = {"median_s": jrnn_s, "ratio_to_flax": jrnn_s / flax_s}
        torch = {} if torch_s is None else {"torch": {"median_s": torch_s}}
        return {"jrnn": jrnn, "flax": {"median_s": flax_s}, **torch}

    shape = {"L": 5, "N": 2, "H_in": 3, "H": 4, "layers": 1}
    floors = {"fwd_floor_s": 0.5, "train_floor_estimate_s": 5.0}
    floors |= {"bwd_steps_s": 0.25, "transpose_s": 0.05}
    run = {
        "contenders": ["jrnn", "flax"],
        "shapes": {
            s: {"shape": shape, "fwd": timed(1.0, 2.0), "train": timed(3.0, flax_train, torch)}
            for s, flax_train, torch in (("slow", 10.0, 7.0), ("fast", 4.0, 4.0))
        },
        "roofline": {"slow": floors, "fast": floors},
    }
    rows = floor_report.target_rows(run)
    # jrnn fwd / flax = 1/2, flax fwd / floor = 2/0.5, jrnn train / flax = 3/10; the goal,
    # 0.70 x 10 s = 7 s, is above the 5 s floor; 0.70 x 4 s = 2.8 s is below it (0.56 of it).
    # Flax's forward steps beyond its floor, 2 - 0.5 s, the backward loop's 0.25 s and the
    # transpose's 0.05 s raise the bound to 6.8 s; a 7 s torch step is above it, a 4 s one below.
    expected = ["slow 5, 2, 3, 4, 1", "0.50", "4.00", "0.30", "7e+03 ms", "5e+03 ms", "above"]
    expected += ["1.5e+03 ms", "250 ms", "50 ms", "6.8e+03 ms", "above", "7e+03 ms", "above"]
    assert rows[0] == expected
    assert rows[1][4:] == ["2.8e+03 ms", "5e+03 ms", "below (0.56)", "1.5e+03 ms", "250 ms"] + [
        "50 ms",
        "6.8e+03 ms",
        "below (0.41)",
        "4e+03 ms",
        "below (0.59)",
    ]


def _saved_by_a_plain_loop(cell, w, xp, carry):
    """What the backward loop reads, from the textbook steps over ``xp`` (``W_ih`` = I)."""
    step = scan_rnn.TEXTBOOK[cell].step
    saved = []
    for xp_t in xp:
        new = step(w, carry, xp_t)
        hp = carry[0] @ w["w_hh_t"] + w["b_hh"]
        if cell == "rnn":
            saved.append((new[0],))
        elif cell == "lstm":
            i, f, g, o = jnp.split(xp_t + hp, 4, axis=-1)
            gates = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
            saved.append((*gates, jnp.tanh(new[1]), carry[1]))
        else:
            (r_x, z_x, n_x), (r_h, z_h, n_h) = jnp.split(xp_t, 3, -1), jnp.split(hp, 3, -1)
            r, z = jax.nn.sigmoid(r_x + r_h), jax.nn.sigmoid(z_x + z_h)
            saved.append((r, z, jnp.tanh(n_x + r * n_h), n_h, carry[0]))
        carry = new
    return tuple(jnp.stack(values) for values in zip(*saved, strict=True))


@pytest.mark.parametrize("name", ["rnn", "lstm", "lstm_proj", "gru"])
def test_the_backward_loop_gives_autodiffs_gradients(name):
    """Of the textbook forward over pre-activations: d xp, d b_hh and the initial carry's."""
    kind = KINDS[name]
    L, N, H = 5, 2, 4
    P, GH = (H // 2 if kind.projected else H), kind.gates * H
    rng = np.random.default_rng(0)

    def normal(*dims):
        return jnp.asarray(rng.standard_normal(dims), jnp.float32)

    w = {"w_ih_t": jnp.eye(GH, dtype=jnp.float32), "b_ih": jnp.zeros((1, GH), jnp.float32)}
    w["w_hh_t"] = normal(P, GH)
    w["b_hh"] = normal(1, GH)
    if kind.projected:
        w["w_hr_t"] = normal(H, P)
    xp, d_ys = normal(L, N, GH), normal(L, N, P)
    carry0 = (normal(N, P), normal(N, H)) if kind.cell == "lstm" else (normal(N, P),)
    step = scan_rnn.TEXTBOOK[kind.cell].step

    def weighted_outputs(xp, b_hh, carry):
        hs = []
        for xp_t in xp:
            carry = step({**w, "b_hh": b_hh}, carry, xp_t)
            hs.append(carry[0])
        return jnp.sum(jnp.stack(hs) * d_ys)

    d_xp, d_b_hh, d_carry0 = jax.grad(weighted_outputs, (0, 1, 2))(xp, w["b_hh"], carry0)
    loop_w = {"w_hh": w["w_hh_t"].T}
    if kind.projected:
        loop_w["w_hr"] = w["w_hr_t"].T
    saved = _saved_by_a_plain_loop(kind.cell, w, xp, carry0)
    d_carry, written = backward_loop.backward_loop(loop_w, saved, d_ys, cell=kind.cell)
    d_pre, d_hp = written, written
    if kind.cell == "gru":
        d_pre, d_hn = written
        d_hp = jnp.concatenate([d_pre[..., : 2 * H], d_hn], axis=-1)
    np.testing.assert_allclose(d_pre, d_xp, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d_hp.sum((0, 1))[None], d_b_hh, rtol=1e-5, atol=1e-5)
    for got, want in zip(d_carry, d_carry0, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


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


class _Stop(Exception):
    """Raised by a stand-in for bench_case once it has seen its arguments."""


@pytest.mark.parametrize(
    ("argv", "tolerance", "torch_device"),
    [
        ([], 1e-4, "cpu"),
        (["--tolerance", "3e-3"], 3e-3, "cpu"),
        (["--device", "gpu"], 1e-4, "cuda"),
        (["--device", "gpu", "--tf32", "on"], 1e-2, "cuda"),
    ],
)
def test_device_and_tf32_choose_torch_device_and_tolerance(
    argv, tolerance, torch_device, tmp_path, monkeypatch
):
    """The options reach bench_case; the GPU itself is stood in for (no CUDA call is made)."""
    seen = {}

    def bench_case(case, chosen, **options):
        seen.update(options)
        raise _Stop

    monkeypatch.setattr(cli, "bench_case", bench_case)
    if "gpu" in argv:
        monkeypatch.setattr(cli, "placed", lambda device, tf32: contextlib.nullcontext())
        monkeypatch.setattr(cli, "describe", lambda device, tf32: {"gpu": "stand-in"})
    with pytest.raises(_Stop):
        cli.cli(["--quick", "--kinds", "rnn", "--out", str(tmp_path), *argv])
    assert seen["tolerance"] == tolerance
    assert seen["torch_device"] == torch_device


def test_tf32_needs_a_gpu_and_unknown_devices_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"--tf32 on needs --device gpu"):
        cli.cli(["--tf32", "on", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match=r"unknown device 'tpu'"):
        cli.main(device="tpu", out=tmp_path)
    with pytest.raises(ValueError, match=r"unknown tf32 setting 'maybe'"):
        cli.main(device="gpu", tf32="maybe", out=tmp_path)
    if not any(d.platform == "gpu" for d in jax.devices()):
        with pytest.raises(RuntimeError, match=r"--device gpu: JAX has no gpu backend"):
            cli.main(device="gpu", quick=True, out=tmp_path)


def test_the_gpu_plan_runs_small_shapes_first_and_reports_what_the_budget_left_out(tmp_path):
    plan = gpu.plan({"off": ["S1", "S2"], "on": ["S2"]}, ["lstm", "gru"])
    assert plan[:2] == [("S1", "off", "lstm"), ("S1", "off", "gru")]
    assert plan[2:] == [
        (s, t, k) for s, t in (("S2", "off"), ("S2", "on")) for k in ("lstm", "gru")
    ]
    results = gpu.main(out=tmp_path, budget_s=-1.0, device="cpu", kinds=["rnn"])
    assert results["left_out"] == [f"{s}, TF32 off, rnn" for s in gpu.SHAPES["off"]]
    assert "- S5, TF32 off, rnn" in (tmp_path / "bench_gpu.md").read_text()


def _child(seconds, worst):
    times = {"rnn S1 fwd": {"median_s": seconds, "compile_s": 1.0}}
    return {"times": times, "parity": {"rnn S1": {"abs": worst, "rel": worst / 2}}}


def test_each_timed_sample_starts_with_one_untimed_call_and_the_order_rotates():
    log = []
    calls = {name: (lambda name=name: log.append(name)) for name in ("torch", "jrnn", "flax")}
    times = timing.paired_rounds(calls, rounds=2, inner=3)
    assert {name: len(samples) for name, samples in times.items()} == dict.fromkeys(calls, 2)
    assert (
        log
        == ["torch"] * 4 + ["jrnn"] * 4 + ["flax"] * 4 + ["jrnn"] * 4 + ["flax"] * 4 + ["torch"] * 4
    )


def test_xla_flags_pair_each_setting_with_the_baseline_of_its_round():
    rounds = [
        {"baseline": _child(2.0, 0.0), "fast": _child(1.0, 1e-6), "bad": {"error": "exit 1: x"}},
        {"baseline": _child(4.0, 0.0), "fast": _child(3.0, 3e-6), "bad": {"error": "exit 1: x"}},
    ]
    summary = xla_flags.summarize(rounds)
    assert summary["baseline_s"] == {"rnn S1 fwd": 3.0}
    fast = summary["settings"]["fast"]
    assert fast["ratio"] == {"rnn S1 fwd": 0.625}  # the median of 1/2 and 3/4, not 2/3
    assert fast["parity"] == {"rnn S1": {"abs": 3e-6, "rel": 1.5e-6}}
    assert summary["settings"]["bad"]["errors"] == ["exit 1: x"]
    baseline = {"rnn S1 output": np.array([1.0, -4.0]), "rnn S1 loss": np.array(2.0)}
    flagged = {"rnn S1 output": np.array([1.0, -4.5]), "rnn S1 loss": np.array(2.0)}
    assert xla_flags.differences(flagged, baseline) == {"rnn S1": {"abs": 0.5, "rel": 0.125}}


def test_xla_flags_refuse_unknown_shapes_and_reserved_names():
    with pytest.raises(ValueError, match=r"unknown kinds or shapes \['S9'\]"):
        xla_flags.main(shapes=["S1", "S9"])
    with pytest.raises(ValueError, match=r"'baseline' and 'A/A control' are reserved"):
        xla_flags.main(flags={"baseline": "--xla_cpu_enable_fast_math=true"})


def test_the_profile_lists_the_scans_and_their_gemms_within_the_step_time():
    step, args = profile.train_step("lstm", profile.ALL_SHAPES["Q1"], bidirectional=False)
    jax.block_until_ready(step(*args))
    times = profile.kernel_times(step, args, calls=3)
    ops = profile.kernel_ops(step)
    loops = [name for name in times if name.startswith("while")]
    assert len(loops) == 2  # the forward scan and the backward scan
    start = time.perf_counter()
    jax.block_until_ready(step(*args))
    wall = time.perf_counter() - start
    assert 0 < sum(times[name][0] for name in loops) < 3 * wall  # profiling slows a call
    in_loop_gemms = [n for n, (_, op) in ops.items() if "while/body" in op and "dot_general" in op]
    assert any(times.get(name, (0, 0))[1] == 16 for name in in_loop_gemms)  # one per step, L=16
    sums = profile.totals(times, ops)
    for place in ("forward scan", "backward scan", "outside the scans"):  # the weight gradients
        assert sums[place, "GEMM"] > 0
    for place, loop in (("forward scan", "/jvp()/while"), ("backward scan", "transpose(")):
        (whole,) = [times[n][0] for n in loops if loop in ops[n][1]]
        assert sums[place, "GEMM"] + sums[place, "other"] <= whole  # the loop holds its kernels
    text = profile.report("gru", "Q1", False, calls=2, top=5)
    assert text.startswith("gru unidirectional Q1 (16, 4, 8, 16, 1)")
    assert len(text.splitlines()) == 2 + 5 + 1 + len(profile.PLACES) + 1
    assert text.splitlines()[-1].endswith("all kernels")


def test_the_script_is_the_cli(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["bench.py", "--kinds", "elman"])
    with pytest.raises(ValueError, match=r"unknown kinds \['elman'\]"):
        runpy.run_path(str(BENCH_SCRIPT), run_name="__main__")


def test_import_jrnn_imports_neither_the_bench_nor_torch():
    check = "import jrnn, sys; assert not {'jrnn.bench', 'torch', 'flax'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", check], check=True)
