"""What a run leaves behind: the machine-readable result line, and the trained model's file."""

import numpy as np

FN = "`jrnn.distributed.main`"
COUNTS = ("processes", "devices", "steps")


def format_result(result: dict) -> str:
    """The last line a run prints, ``result: processes=P devices=N steps=S loss=<f> ...``.

    Args:
        result: ``processes``, ``devices``, ``steps`` (ints), ``loss``, ``reference_loss``,
            ``max_param_diff``, ``seconds`` (floats).

    Returns:
        The line, fields in that order.

    Example:
        >>> fields = {"processes": 2, "devices": 4, "steps": 20, "loss": 0.25,
        ...           "reference_loss": 0.25, "max_param_diff": 3e-08, "seconds": 5.0}
        >>> format_result(fields)[:49]
        'result: processes=2 devices=4 steps=20 loss=0.25 '
        >>> parse_result(format_result(fields)) == fields
        True
    """
    return (
        f"result: processes={result['processes']} devices={result['devices']} "
        f"steps={result['steps']} loss={result['loss']:.8g} "
        f"reference_loss={result['reference_loss']:.8g} "
        f"max_param_diff={result['max_param_diff']:.3g} seconds={result['seconds']:.3f}"
    )


def parse_result(line: str) -> dict:
    """Read :func:`format_result`'s line back: ints for the counts, floats for the rest."""
    pairs = dict(item.split("=") for item in line.removeprefix("result: ").split())
    return {key: int(value) if key in COUNTS else float(value) for key, value in pairs.items()}


def result_from(lines: list[str]) -> dict:
    """The fields of the last ``result:`` line of process 0's output.

    Args:
        lines: process 0's stdout, line by line.

    Returns:
        :func:`parse_result` of that line.

    Raises:
        RuntimeError: there is none (process 0 ended without a result).
    """
    results = [line for line in lines if line.startswith("result: ")]
    if not results:
        raise RuntimeError(
            f"{FN}: process 0 printed no result line; its output ends with {lines[-20:]}"
        )
    return parse_result(results[-1])


def save_model(path: str, model: dict) -> None:
    """Write ``model`` (``{part: {name: array}}``) to ``path`` as ``.npz`` under dotted names.

    ``rnn.weight_ih_l0``, ..., ``head.weight``: the names a torch model with attributes
    ``rnn`` (an ``nn.RNN``/``LSTM``/``GRU``) and ``head`` (an ``nn.Linear``) has.

    Args:
        path: the file to write.
        model: the trained model, e.g. :attr:`train.Run.model`.

    Example:
        >>> import os, tempfile, numpy as np
        >>> model = {"rnn": {"weight_ih_l0": np.ones((1, 2))}, "head": {"bias": np.ones(1)}}
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     save_model(os.path.join(folder, "model.npz"), model)
        ...     with np.load(os.path.join(folder, "model.npz")) as saved:
        ...         sorted(saved)
        ['head.bias', 'rnn.weight_ih_l0']
    """
    flat = {
        f"{part}.{name}": np.asarray(value)
        for part, tensors in model.items()
        for name, value in tensors.items()
    }
    np.savez(path, **flat)
