"""The report's XLA-floor tables: each shape's GEMMs alone, and the targets set against them.

``run["roofline"][shape]`` comes from :func:`jrnn.bench.roofline.bench_roofline`;
``run["shapes"][shape]`` holds the timed contenders.
"""

from .markdown_table import label, ms, table
from .roofline import BACKWARD_GEMMS

ROOFLINE_HEADER = ["shape", "input GEMMs", "sequential GEMMs", "backward GEMMs", "fwd floor"]
ROOFLINE_HEADER += ["jrnn fwd", "fwd / floor", "train floor (est.)", "jrnn train", "train / floor"]
ROOFLINE_TEXT = (
    "Per layer, one direction (GFLOP/s in brackets): the input GEMM (L*N, in) x (in, G*H); L "
    "sequential (N, P) x (P, G*H) in a lax.scan; the backward's d x (L*N, G*H) x (G*H, in), "
    "d W_ih (G*H, L*N) x (L*N, in) and d W_hh (G*H, L*N) x (L*N, P), their left operand "
    "already transposed. G gate blocks, P = proj_size or H. Floors sum the layers, times D "
    "directions. Fwd floor: input GEMMs + sequential chain. Train floor (estimate): input "
    "GEMMs + backward GEMMs + 2 x the sequential chain (forward, d h). Gate math and the LSTM "
    "projection not counted."
)
TRAIN_TARGET = 0.70
"""The train-step goal, as a fraction of flax's time."""
TARGETS_HEADER = ["shape", "jrnn fwd / flax", "flax fwd / floor", "jrnn train / flax"]
TARGETS_HEADER += [f"{TRAIN_TARGET:.2f} x flax train", "train floor (est.)", "goal vs floor"]
TARGETS_HEADER += ["fwd steps", "bwd steps", "transpose", "floor + steps", "goal vs that"]
TARGETS_HEADER += ["torch train", "torch vs that"]
TARGETS_TEXT = (
    "Whether the goals can be met with XLA's GEMMs. Forward: at most flax's time; where flax's "
    "forward is itself near the floor, only a tie is possible. Train: at most "
    f"{TRAIN_TARGET:.2f} x flax's time; where that is below the train floor, the GEMMs the step "
    "must do take longer than the goal on their own, at XLA's speed on this machine "
    "(the floor counts no gate math, so it is a lower bound only as far as those GEMMs cannot "
    "run faster in another shape). Fwd steps: flax's forward time beyond the forward floor, the "
    "gate math and loop of its steps; XLA compiles jrnn's forward to the same loop, and every "
    "train step runs it too. Bwd steps: the textbook backward loop (saved gate values and d y "
    "in, d pre-activations out, d h through W_hh), timed alone, beyond its sequential GEMMs; "
    "every train step's backward scan does about that much. Transpose: the (L*N, G*H) gradient "
    "sequence copied transposed, timed alone, the layout the weight-gradient GEMMs of the floor "
    "take as given; JAX transposes a dot_general with the cotangent as its left operand, so "
    "XLA:CPU makes that copy in every train step. The floor plus both steps and the transpose is "
    "a tighter estimate: the forward as flax runs it, the textbook backward loop, and the "
    "backward's GEMMs over the whole sequence (d W_ih, d x, d W_hh); a step whose forward beats "
    "flax's can run below it. Torch: the other train goal is torch's time; where it is below "
    "that estimate, XLA's GEMMs and the loops' steps take longer than torch's whole step."
)


def floor_tables(heading: str, run: dict) -> list[str]:
    """The roofline table and, when flax ran, the targets table, with their headings."""
    lines = ["", f"### {heading}: GEMM roofline (the XLA floor)", "", ROOFLINE_TEXT, ""]
    lines += table(ROOFLINE_HEADER, _roofline_rows(run))
    if "flax" in run["contenders"] and "jrnn" in run["contenders"]:
        lines += ["", f"### {heading}: the targets against the XLA floor", "", TARGETS_TEXT, ""]
        lines += table(TARGETS_HEADER, target_rows(run))
    return lines


def _roofline_rows(run: dict) -> list[list[str]]:
    rows = []
    for name, roof in run["roofline"].items():
        timed = run["shapes"][name]
        layers = range(timed["shape"]["layers"])

        def gemms(*names, roof=roof, layers=layers):
            parts = [[roof[f"{name}_l{k}"] for name in names] for k in layers]
            gflops = ", ".join(f"{_gflops(part):.3g}" for part in parts)
            return f"{ms(sum(_seconds(part) for part in parts))} ({gflops})"

        def versus(mode, floor, timed=timed):
            jrnn_s = timed[mode].get("jrnn", {}).get("median_s")
            ratio = "-" if jrnn_s is None else f"{jrnn_s / floor:.2f}"
            return [ms(floor), ms(jrnn_s), ratio]

        rows.append(
            [
                label(name, timed["shape"]),
                gemms("input_gemm"),
                gemms("recurrent"),
                gemms(*BACKWARD_GEMMS),
                *versus("fwd", roof["fwd_floor_s"]),
                *versus("train", roof["train_floor_estimate_s"]),
            ]
        )
    return rows


def _seconds(gemms: list[dict]) -> float:
    return sum(g["median_s"] for g in gemms)


def _gflops(gemms: list[dict]) -> float:
    """The GEMMs' rate together: their flops over their time."""
    return sum(g["gflops"] * g["median_s"] for g in gemms) / _seconds(gemms)


def target_rows(run: dict) -> list[list[str]]:
    """The targets table's rows, one per shape.

    Each: jrnn's forward over flax's, flax's forward over the floor, jrnn's train step over
    flax's, the train goal (``TRAIN_TARGET`` x flax's time), the train floor, whether the goal
    is ``"above"`` the floor or ``"below (goal / floor)"``; then flax's forward steps (its time
    beyond the forward floor), the backward loop's steps (``bwd_steps_s``), the transpose
    (``transpose_s``), the floor plus those three and the goal against that; torch's train time
    (``"-"`` when torch did not run) and whether it is above that bound or below it (``torch /
    bound``).
    """
    rows = []
    for name, roof in run["roofline"].items():
        timed = run["shapes"][name]
        fwd, train = timed["fwd"], timed["train"]
        goal = TRAIN_TARGET * train["flax"]["median_s"]
        floor = roof["train_floor_estimate_s"]
        fwd_steps = max(0.0, fwd["flax"]["median_s"] - roof["fwd_floor_s"])
        with_steps = floor + fwd_steps + roof["bwd_steps_s"] + roof["transpose_s"]
        torch_s = train.get("torch", {}).get("median_s")
        rows.append(
            [
                label(name, timed["shape"]),
                f"{fwd['jrnn']['ratio_to_flax']:.2f}",
                f"{fwd['flax']['median_s'] / roof['fwd_floor_s']:.2f}",
                f"{train['jrnn']['ratio_to_flax']:.2f}",
                ms(goal),
                ms(floor),
                _above_or_below(goal, floor),
                ms(fwd_steps),
                ms(roof["bwd_steps_s"]),
                ms(roof["transpose_s"]),
                ms(with_steps),
                _above_or_below(goal, with_steps),
                "-" if torch_s is None else ms(torch_s),
                "-" if torch_s is None else _above_or_below(torch_s, with_steps),
            ]
        )
    return rows


def _above_or_below(time_s: float, bound_s: float) -> str:
    """``"above"`` when ``time_s >= bound_s``, else ``"below (time / bound)"``."""
    return "above" if time_s >= bound_s else f"below ({time_s / bound_s:.2f})"
