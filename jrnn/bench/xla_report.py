"""The markdown of :mod:`jrnn.bench.xla_flags`: the machine, the settings, the ratios."""

from collections.abc import Sequence

BASELINE = "baseline"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def markdown(results: dict) -> str:
    """The machine, one row per setting (summary), one row per timing (ratio per setting)."""
    m, summary, flags = results["machine"], results["summary"], results["flags"]
    names = [name for name in summary["settings"] if name != BASELINE]
    base_flags = f"`{results['base_xla_flags']}`" if results["base_xla_flags"] else "none"
    lines = [
        "# XLA CPU flags and jrnn",
        "",
        f"{m['cpu']}, {m['cores']} cores; JAX {m['jax']} ({m['jax_backend']}), numpy "
        f"{m['numpy']}, Python {m['python']}; {m['date']}. XLA_FLAGS already set: {base_flags}.",
        f"float32, unidirectional `jrnn.rnn` / `lstm` / `gru`, zero initial state; fwd is "
        "`output, state = f(x)`, train one `value_and_grad` of the sum of output and final "
        f"states w.r.t. params and x. {results['rounds']} rounds; each round runs one child "
        "process per setting, in an order that rotates from round to round; in a child every "
        f"timing is the median of {results['samples']} samples. A ratio is the median over "
        "rounds of the setting's time over the baseline's time in the same round (lower is "
        "faster). The A/A control adds no flag: its distance from 1.00 is the noise. Parity: "
        "the largest difference of any result (output, states, loss, gradients, d x) to the "
        "same round's baseline, absolute and over the largest |baseline value|.",
        "",
        "## Settings",
        "",
    ]
    rows = []
    for name in names:
        entry = summary["settings"][name]
        flag = f"`{flags[name]}`" if flags[name] else "(none)"
        if entry["geomean"] is None:
            rows.append([name, flag, "-", "-", "-", "; ".join(entry["errors"])])
            continue
        rel = max(entry["parity"].values(), key=lambda d: d["rel"])
        rows.append(
            [
                name,
                flag,
                f"{entry['geomean']:.2f}",
                f"{entry['compile_ratio']:.2f}",
                f"{rel['rel']:.1e} ({rel['abs']:.1e})",
                "; ".join(entry["errors"]) or "-",
            ]
        )
    header = ["setting", "XLA_FLAGS added", "time ratio, geomean", "compile time ratio"]
    lines += _table([*header, "parity rel (abs)", "failures"], rows)
    lines += ["", "## Time relative to the baseline, per shape and mode", ""]
    rows = [
        [
            key,
            f"{seconds * 1e3:.3g} ms",
            *(f"{summary['settings'][n]['ratio'].get(key, float('nan')):.2f}" for n in names),
        ]
        for key, seconds in summary["baseline_s"].items()
    ]
    lines += _table(["kind shape mode", "baseline", *names], rows)
    lines += ["", "Shapes (L, N, H_in, H, layers): "]
    lines[-1] += ", ".join(f"{name} {tuple(shape)}" for name, shape in results["shapes"].items())
    return "\n".join([*lines, ""])
