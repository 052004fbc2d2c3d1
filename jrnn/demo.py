"""The main job: the adding problem of Le, Jaitly & Hinton (2015), an IRNN against a tanh RNN.

"A Simple Way to Initialize Recurrent Networks of Rectified Linear Units" trains a ReLU RNN whose
recurrent weight starts as the identity (an *IRNN*) on the adding problem: every step of a
sequence carries a value drawn from U(0, 1) and a marker; exactly two steps are marked, one in
each half; the target is the sum of the two marked values. Always predicting 1 scores an MSE of
Var(U(0,1) + U(0,1)) = 1/6 ~ 0.167; a network only beats that by carrying a value across up to
``seq_len`` steps.

``python -m jrnn.demo`` trains an IRNN and a tanh RNN with torch's default initialisation, each
with a linear head on ``h_n``, with optax (Adam after gradient clipping) on fresh batches, prints
their test MSE against the baseline, writes a loss-curve PNG and the trained IRNN as safetensors,
and, when torch is installed, checks that ``torch.nn.RNN`` loaded from that file predicts what
jrnn predicts. Needs the ``demo`` extra (optax, safetensors, matplotlib, tqdm).
"""

import argparse
import inspect
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from . import _errors_files
from ._init import init_rnn, uniform_params
from ._optional import require
from ._rnn import rnn

FN = "jrnn.demo"
# name: (smallest allowed value, whether it must be an integer, help text); defaults: main's
SETTINGS = {
    "seq_len": (2, True, "time steps T per sequence (one marker in each half)"),
    "steps": (1, True, "optimiser steps per model, each on a fresh batch"),
    "hidden_size": (1, True, "hidden units H of both RNNs"),
    "batch_size": (1, True, "sequences per training batch"),
    "test_size": (1, True, "held-out sequences for the test MSE"),
    "lr": (0.0, False, "Adam learning rate, > 0"),
    "clip": (0.0, False, "gradient clipping: largest global norm, > 0"),
}
NONLINEARITY = {"IRNN": "relu", "tanh RNN": "tanh"}
DESCRIPTION = {"IRNN": "IRNN (relu, identity init)", "tanh RNN": "tanh RNN (torch init)"}
RUNNING_LOSS_STEPS = 100  # the progress bar and the loss curve average over this many steps
# the progress bar's "worst" is the largest step loss of this many steps: tqdm redraws at most
# every 0.5 s, so a spike must stay on the bar longer than the 100 steps a fast CPU does in that
WORST_LOSS_STEPS = 1000
UNSTABLE = 10  # a step loss above this many baselines after the warm-up: training was unstable


def adding_problem(key: jax.Array, batch_size: int, seq_len: int) -> tuple[jax.Array, jax.Array]:
    """Draw a batch of the adding problem, time-major as ``torch.nn.RNN`` expects.

    Shapes:
        ``x``: ``(L, N, 2)``, feature 0 the value, feature 1 the marker. ``y``: ``(N,)``.

    Args:
        key: a ``jax.random`` key.
        batch_size: ``N``.
        seq_len: ``L >= 2``; one marker lies in ``[0, L//2)``, the other in ``[L//2, L)``.

    Returns:
        ``(x, y)`` in float32, ``y`` the sum of the two marked values.

    Example:
        >>> import jax
        >>> x, y = adding_problem(jax.random.key(0), batch_size=4, seq_len=10)
        >>> x.shape, y.shape, x[:, :, 1].sum(axis=0).tolist()
        ((10, 4, 2), (4,), [2.0, 2.0, 2.0, 2.0])
    """
    value_key, first_key, second_key = jax.random.split(key, 3)
    values = jax.random.uniform(value_key, (seq_len, batch_size), jnp.float32)  # (L, N)
    half = seq_len // 2
    first = jax.random.randint(first_key, (1, batch_size), 0, half)  # (1, N)
    second = jax.random.randint(second_key, (1, batch_size), half, seq_len)  # (1, N)
    steps = jnp.arange(seq_len)[:, None]  # (L, 1)
    markers = ((steps == first) | (steps == second)).astype(jnp.float32)  # (L, N)
    x = jnp.stack([values, markers], axis=-1)  # (L, N, 2)
    return x, (values * markers).sum(axis=0)


def init_irnn(key: jax.Array, input_size: int, hidden_size: int) -> dict[str, jax.Array]:
    """Initialise IRNN params in ``torch.nn.RNN``'s layout: ``weight_hh`` the identity, zero biases.

    ``weight_ih`` is drawn from N(0, 0.001^2), small enough that the identity recurrence starts
    by carrying the state unchanged. Everything is float32.

    Shapes:
        ``weight_ih_l0 (H, H_in)``, ``weight_hh_l0 (H, H)``, ``bias_ih_l0``/``bias_hh_l0 (H,)``.

    Args:
        key: a ``jax.random`` key.
        input_size: ``H_in``.
        hidden_size: ``H``.

    Returns:
        A params dict for :func:`jrnn.rnn` with ``nonlinearity="relu"``.

    Example:
        >>> import jax
        >>> params = init_irnn(jax.random.key(0), input_size=2, hidden_size=3)
        >>> params["weight_hh_l0"].tolist(), params["bias_hh_l0"].tolist()
        ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [0.0, 0.0, 0.0])
    """
    zeros = jnp.zeros(hidden_size, jnp.float32)
    return {
        "weight_ih_l0": 1e-3 * jax.random.normal(key, (hidden_size, input_size), jnp.float32),
        "weight_hh_l0": jnp.eye(hidden_size, dtype=jnp.float32),
        "bias_ih_l0": zeros,
        "bias_hh_l0": zeros,
    }


def init_head(key: jax.Array, hidden_size: int) -> dict[str, jax.Array]:
    """Initialise a ``torch.nn.Linear(hidden_size, 1)`` as torch does: U(-1/sqrt(H), 1/sqrt(H)).

    Shapes:
        ``weight (1, H)``, ``bias (1,)``: ``torch.nn.Linear(H, 1).state_dict()``.

    Args:
        key: a ``jax.random`` key.
        hidden_size: ``H``, the head's input features.

    Returns:
        ``{"weight": ..., "bias": ...}`` in float32.
    """
    layout = {"weight": (1, hidden_size), "bias": (1,)}
    return uniform_params(key, layout, hidden_size, jnp.float32)


def initial_models(key: jax.Array, hidden_size: int) -> dict[str, dict]:
    """Build the two models to compare, each ``{"rnn": params, "head": {"weight", "bias"}}``.

    ``"IRNN"`` has :func:`init_irnn` params, ``"tanh RNN"`` torch's default ones
    (:func:`jrnn.init_rnn`); both start from the same head (:func:`init_head`).
    """
    irnn_key, tanh_key, head_key = jax.random.split(key, 3)
    head = init_head(head_key, hidden_size)
    return {
        "IRNN": {"rnn": init_irnn(irnn_key, 2, hidden_size), "head": head},
        "tanh RNN": {"rnn": init_rnn(tanh_key, 2, hidden_size), "head": head},
    }


def setup(seed: int, *, hidden_size: int, seq_len: int, test_size: int):
    """Derive all that ``seed`` decides: initial models, the training data key, the held-out set.

    Returns:
        ``(models, data_key, x_test (L, N_test, 2), y_test (N_test,))``.
    """
    model_key, data_key, test_key = jax.random.split(jax.random.key(seed), 3)
    x_test, y_test = adding_problem(test_key, test_size, seq_len)  # (L, N_test, 2), (N_test,)
    return initial_models(model_key, hidden_size), data_key, x_test, y_test


def predict(model: dict, x: jax.Array, nonlinearity: str) -> jax.Array:
    """Predict the target: the RNN's last state through the linear head, ``(L, N, 2) -> (N,)``.

    ``model`` is ``{"rnn": params, "head": {"weight", "bias"}}``.
    """
    _, h_n = rnn(model["rnn"], x, nonlinearity=nonlinearity)  # (1, N, H)
    return h_n[-1] @ model["head"]["weight"][0] + model["head"]["bias"][0]  # (N,)


def mse(model: dict, x: jax.Array, y: jax.Array, nonlinearity: str) -> jax.Array:
    """Mean squared error of :func:`predict` against ``y``."""
    return jnp.mean((predict(model, x, nonlinearity) - y) ** 2)


def train(
    model: dict,
    nonlinearity: str,
    data_key: jax.Array,
    *,
    steps: int,
    batch_size: int,
    seq_len: int,
    lr: float,
    clip: float,
    label: str = "",
    progress: bool = True,
) -> tuple[dict, np.ndarray]:
    """Train ``model`` with Adam after clipping the gradient's global norm, a fresh batch a step.

    Batch ``i`` is drawn from ``fold_in(data_key, i)``, so two models trained with the same key
    see the same data.

    Returns:
        The trained model and the training loss of every step, ``(steps,)``.
    """
    optax = require("optax", extra="demo", feature="`jrnn.demo`")
    tqdm = require("tqdm", extra="demo", feature="`jrnn.demo`").tqdm

    optimizer = optax.chain(optax.clip_by_global_norm(clip), optax.adam(lr))

    @jax.jit  # the demo is an application: it jits its own training step
    def step(model, opt_state, index):
        x, y = adding_problem(jax.random.fold_in(data_key, index), batch_size, seq_len)
        loss, grads = jax.value_and_grad(mse)(model, x, y, nonlinearity)
        updates, opt_state = optimizer.update(grads, opt_state, model)
        return optax.apply_updates(model, updates), opt_state, loss

    opt_state = optimizer.init(model)
    losses, pending = [], []  # losses: on the host; pending: still on the device
    with tqdm(total=steps, desc=label, disable=not progress, mininterval=0.5) as bar:
        for index in range(steps):
            model, opt_state, loss = step(model, opt_state, index)
            pending.append(loss)
            if (index + 1) % RUNNING_LOSS_STEPS == 0 or index + 1 == steps:
                losses.extend(jax.device_get(pending))
                pending.clear()
                bar.set_postfix(progress_postfix(np.asarray(losses)), refresh=False)
                bar.update(index + 1 - bar.n)
    return model, np.asarray(losses, np.float32)


def progress_postfix(losses: np.ndarray) -> dict[str, str]:
    """The progress bar's fields: the running loss and the worst recent step loss.

    ``loss`` is the mean of the last ``RUNNING_LOSS_STEPS`` step losses, ``worst`` the largest
    of the last ``WORST_LOSS_STEPS``, so that one diverging step shows on the bar even where
    the mean hides it or the bar is not redrawn while it is in the mean's window.

    Shapes:
        ``losses``: ``(steps_so_far,)``, the training loss of every step so far.

    Args:
        losses: the step losses so far, at least one.

    Returns:
        ``{"loss": ..., "worst": ...}`` as strings, for ``tqdm.set_postfix``.

    Example:
        >>> import numpy as np
        >>> progress_postfix(np.array([0.2] * 2000 + [5.5e12] + [0.05] * 99))
        {'loss': '5.5e+10', 'worst': '5.5e+12'}
        >>> progress_postfix(np.array([5.5e12] + [0.05] * 1000))
        {'loss': '0.0500', 'worst': '0.05'}
    """
    running = float(np.mean(losses[-RUNNING_LOSS_STEPS:]))
    worst = float(np.max(losses[-WORST_LOSS_STEPS:]))
    return {
        "loss": f"{running:.4f}" if running < 1e3 else f"{running:.3g}",
        "worst": f"{worst:.4g}",
    }


def worst_after_warmup(losses: np.ndarray) -> float:
    """The largest step loss after the warm-up, the first ``len(losses) // 10`` steps.

    Training counts as stable when this stays within ``UNSTABLE`` times the baseline MSE.

    Shapes:
        ``losses``: ``(steps,)``.

    Args:
        losses: the training loss of every step.

    Returns:
        ``max(losses[steps // 10:])``.

    Example:
        >>> import numpy as np
        >>> worst_after_warmup(np.array([9.0] * 10 + [0.2, 0.5] + [0.1] * 88))
        0.5
    """
    return float(np.max(losses[len(losses) // 10 :]))


def stability_report(worst: dict[str, float], baseline: float, steps: int) -> str:
    """Say each model's largest step loss after the warm-up, against the baseline MSE.

    Args:
        worst: :func:`worst_after_warmup` per model label (``"IRNN"``, ``"tanh RNN"``).
        baseline: the MSE of always predicting 1.
        steps: the optimiser steps per model.

    Returns:
        A table, and a last line advising a lower ``--lr`` when one exceeds ``UNSTABLE``
        times the baseline.

    Example:
        >>> print(stability_report({"IRNN": 0.4, "tanh RNN": 2.5}, 0.16, 5000))
        Largest training-step loss after the first 500 steps (warm-up):
          IRNN (relu, identity init)         0.4  2.5x baseline
          tanh RNN (torch init)              2.5 15.6x baseline
          above 10x the baseline: a loss spike (or too few steps); try a lower --lr
    """
    lines = [f"Largest training-step loss after the first {steps // 10} steps (warm-up):"]
    for label, value in worst.items():
        lines.append(f"  {DESCRIPTION[label]:<28}{value:>10.4g}{value / baseline:>5.1f}x baseline")
    if not max(worst.values()) <= UNSTABLE * baseline:  # NaN too
        lines.append(
            f"  above {UNSTABLE}x the baseline: a loss spike (or too few steps); try a lower --lr"
        )
    return "\n".join(lines)


def check_against_torch(
    rnn_path: Path, head_path: Path, x: np.ndarray, expected: np.ndarray
) -> float | None:
    """Load the saved IRNN into ``torch.nn.RNN`` and ``torch.nn.Linear``; compare predictions.

    Prints the largest difference and whether it is within float32 round-off.

    Shapes:
        ``x``: ``(L, N, 2)``. ``expected``: ``(N,)``, jrnn's predictions for ``x``.

    Args:
        rnn_path: safetensors file of the RNN's state_dict.
        head_path: safetensors file of the linear head's state_dict.
        x: inputs.
        expected: what jrnn predicted for ``x``.

    Returns:
        ``max |torch - expected|``, or ``None`` (and nothing checked) when torch is missing.

    Raises:
        RuntimeError: the difference exceeds ``1e-5 * max(1, max |expected|)``.
    """
    try:
        import torch
    except ImportError:
        print("torch is not installed: skipped the cross-check against torch.nn.RNN")
        return None
    load_file = require("safetensors.torch", extra="demo", feature="`jrnn.demo`").load_file

    state_dict = load_file(rnn_path)
    hidden_size = state_dict["weight_hh_l0"].shape[0]
    torch_rnn = torch.nn.RNN(x.shape[-1], hidden_size, nonlinearity="relu")
    torch_rnn.load_state_dict(state_dict)
    head = torch.nn.Linear(hidden_size, 1)
    head.load_state_dict(load_file(head_path))
    with torch.no_grad():
        _, h_n = torch_rnn(torch.tensor(x))  # (1, N, H)
        got = head(h_n[-1])[:, 0].numpy()  # (N,)
    diff = float(np.max(np.abs(got - expected)))
    tolerance = 1e-5 * max(1.0, float(np.max(np.abs(expected))))
    verdict = "match" if diff <= tolerance else "MISMATCH"
    print(
        f"torch.nn.RNN(nonlinearity='relu') + nn.Linear loaded from {Path(rnn_path).name}: "
        f"max |torch - jrnn| = {diff:.2e} over {len(expected)} predictions "
        f"(tolerance {tolerance:.0e}): {verdict}"
    )
    if diff > tolerance:
        raise _errors_files.demo_torch_mismatch(diff, tolerance)
    return diff


def plot_losses(path: Path, curves: dict[str, np.ndarray], baseline: float, title: str) -> None:
    """Write each training-loss curve, log scale, against the baseline.

    A solid line is the running mean of ``RUNNING_LOSS_STEPS`` steps, a faint one of the same
    colour their largest step loss, so that a single diverging step shows as a spike.
    """
    # no pyplot: no global backend or figure state
    Figure = require("matplotlib.figure", extra="demo", feature="`jrnn.demo`").Figure

    figure = Figure(figsize=(7, 4), layout="constrained")
    axes = figure.add_subplot()
    window = min(RUNNING_LOSS_STEPS, *(len(curve) for curve in curves.values()))
    for label, curve in curves.items():
        windows = np.lib.stride_tricks.sliding_window_view(curve, window)  # (steps-window+1, w)
        step = np.arange(window, len(curve) + 1)  # each window's last step, counted from 1
        (line,) = axes.plot(step, windows.mean(axis=1), label=label)
        axes.plot(step, windows.max(axis=1), color=line.get_color(), alpha=0.3, linewidth=0.7)
    axes.axhline(baseline, color="gray", linestyle="--", label=f"always predict 1: {baseline:.3f}")
    axes.set(
        yscale="log",
        xlabel="training step",
        ylabel=f"training MSE: mean and max (faint) of {window} steps",
        title=title,
    )
    axes.legend(title="test MSE")
    figure.savefig(path, dpi=100)


def _checked(name: str, value: object) -> None:
    """Raise unless ``value`` suits setting ``name`` (see ``SETTINGS``)."""
    minimum, integer, _ = SETTINGS[name]
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    requirement = f"an integer >= {minimum}" if integer else f"a number > {minimum:g}"
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise _errors_files.demo_setting_type(FN, name, value, requirement)
    if value < minimum or (not integer and value == minimum):
        raise _errors_files.demo_setting(FN, name, value, requirement)


def main(
    *,
    seq_len: int = 100,
    steps: int = 5000,
    hidden_size: int = 100,
    batch_size: int = 128,
    test_size: int = 1000,
    lr: float = 3e-4,
    clip: float = 1.0,
    seed: int = 0,
    out: str | Path = "demo_output",
    progress: bool = True,
) -> dict:
    """Train an IRNN and a tanh RNN on the adding problem; print, plot, save and cross-check.

    Args:
        seq_len: time steps ``T`` per sequence, >= 2.
        steps: optimiser steps per model.
        hidden_size: hidden units of both RNNs.
        batch_size: sequences per training batch.
        test_size: held-out sequences for the test MSE.
        lr: Adam's learning rate. Measured on six seeds (README): at 1e-3 and batch 64 the
            IRNN's forward pass blew up on three of them (a step loss of 12x to 1000x the
            baseline, once its recurrent weight had grown past spectral radius 1, before
            recovering), at 3e-4 and batch 64 on one (20x), at 3e-4 and batch 128 on none (at
            most 3.2x). Clipping cannot prevent it: Adam moves each weight by about ``lr`` a
            step whatever the gradient's norm; a larger batch makes those steps less noisy.
        clip: largest global gradient norm.
        seed: seeds the initialisations, the training data and the held-out set.
        out: directory for ``loss_curve.png``, ``irnn.safetensors`` (the RNN, torch.nn.RNN's
            state_dict) and ``irnn_head.safetensors`` (torch.nn.Linear's state_dict).
        progress: show a progress bar with the running loss and the worst recent step loss.

    Returns:
        ``irnn_mse``, ``tanh_mse``, ``baseline_mse`` (always predicting 1) on the held-out set,
        ``seconds`` (wall time of the whole run), ``torch_max_abs_diff`` (``None`` without
        torch), ``files``, ``losses`` (per step, per model), ``worst_loss`` (per model, the
        largest step loss after the warm-up, see :func:`worst_after_warmup`) and ``models``
        (trained params).

    Raises:
        TypeError: a setting of the wrong type (e.g. a float ``steps``).
        ValueError: a setting out of range.
        RuntimeError: torch's predictions from the saved file differ from jrnn's.
    """
    for package in ("optax", "tqdm", "matplotlib"):  # missing ones fail now, not after training
        require(package, extra="demo", feature="`jrnn.demo`")
    save_file = require("safetensors.numpy", extra="demo", feature="`jrnn.demo`").save_file

    from ._io import save

    start = time.perf_counter()
    sizes = dict(seq_len=seq_len, hidden_size=hidden_size, test_size=test_size)
    train_settings = dict(steps=steps, batch_size=batch_size, seq_len=seq_len, lr=lr, clip=clip)
    for name, value in {**sizes, **train_settings}.items():
        _checked(name, value)
    jitted_setup = jax.jit(setup, static_argnames=tuple(sizes))  # one compilation, not one per op
    initial, data_key, x_test, y_test = jitted_setup(seed, **sizes)
    baseline = float(np.mean((1 - np.asarray(y_test)) ** 2))
    print(
        f"Adding problem, T={seq_len}: IRNN vs tanh RNN, hidden {hidden_size}, batch "
        f"{batch_size}, {steps} Adam steps (lr {lr:g}, clip {clip:g}) each."
    )

    evaluate = jax.jit(predict, static_argnames="nonlinearity")
    models, losses, predictions, test_mse = {}, {}, {}, {}
    for label, model in initial.items():
        nonlinearity = NONLINEARITY[label]
        model, losses[label] = train(
            model, nonlinearity, data_key, label=label, progress=progress, **train_settings
        )
        models[label] = model
        predictions[label] = np.asarray(evaluate(model, x_test, nonlinearity))
        test_mse[label] = float(np.mean((predictions[label] - np.asarray(y_test)) ** 2))

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "loss_curve": out / "loss_curve.png",
        "irnn": out / "irnn.safetensors",
        "irnn_head": out / "irnn_head.safetensors",
    }
    curves = {f"{DESCRIPTION[k]}: {test_mse[k]:.3g}": losses[k] for k in models}
    title = f"Adding problem, T={seq_len}: hidden {hidden_size}, batch {batch_size}, Adam {lr:g}"
    plot_losses(files["loss_curve"], curves, baseline, title)
    irnn = models["IRNN"]
    metadata = {"task": "adding problem", "seq_len": str(seq_len), "steps": str(steps)}
    save(files["irnn"], irnn["rnn"], nonlinearity="relu", metadata=metadata)
    save_file({k: np.asarray(v) for k, v in irnn["head"].items()}, files["irnn_head"])

    rows = [(DESCRIPTION[k], test_mse[k]) for k in models] + [("always predict 1", baseline)]
    print(f"\nTest MSE on {test_size} held-out sequences after {steps} steps:")
    print(f"  {'model':<28}{'test MSE':>10}{'/ baseline':>12}")
    for name, value in rows:
        print(f"  {name:<28}{value:>10.4g}{value / baseline:>12.1%}")
    worst = {k: worst_after_warmup(losses[k]) for k in models}
    print(stability_report(worst, baseline, steps))
    for name, path in files.items():
        print(f"  wrote {name}: {path}")

    x_test = np.asarray(x_test)
    diff = check_against_torch(files["irnn"], files["irnn_head"], x_test, predictions["IRNN"])
    seconds = time.perf_counter() - start
    print(
        f"result: irnn_mse={test_mse['IRNN']:.6g} tanh_mse={test_mse['tanh RNN']:.6g} "
        f"baseline_mse={baseline:.6g} seconds={seconds:.1f}"
    )
    return {
        "irnn_mse": test_mse["IRNN"],
        "tanh_mse": test_mse["tanh RNN"],
        "baseline_mse": baseline,
        "seconds": seconds,
        "torch_max_abs_diff": diff,
        "files": files,
        "losses": losses,
        "worst_loss": worst,
        "models": models,
    }


def parser() -> argparse.ArgumentParser:
    """Build the command line of ``python -m jrnn.demo``: one flag per argument of :func:`main`."""
    command_line = argparse.ArgumentParser(
        prog="python -m jrnn.demo",
        description="IRNN vs tanh RNN on the adding problem (Le, Jaitly & Hinton, 2015).",
    )
    defaults = {name: p.default for name, p in inspect.signature(main).parameters.items()}
    for name, (_, integer, help_text) in SETTINGS.items():
        command_line.add_argument(
            "--" + name.replace("_", "-"),
            type=int if integer else float,
            default=defaults[name],
            help=f"{help_text} (default %(default)s)",
        )
    command_line.add_argument(
        "--seed",
        type=int,
        default=defaults["seed"],
        help="seeds init, data and test set (default %(default)s)",
    )
    command_line.add_argument(
        "--out",
        default=defaults["out"],
        help="directory for the PNG and the weights (default %(default)s)",
    )
    command_line.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bar"
    )
    return command_line


def cli(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default ``sys.argv[1:]``), then run :func:`main`; bad flags exit with 2."""
    command_line = parser()
    args = vars(command_line.parse_args(argv))
    for name in SETTINGS:
        try:
            _checked(name, args[name])
        except ValueError as error:
            command_line.error(str(error))
    return main(**args)


if __name__ == "__main__":
    cli()
