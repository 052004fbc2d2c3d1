"""Command-line converter: a torch RNN/LSTM/GRU checkpoint to a jrnn (and torch) safetensors file.

Usage::

    python -m jrnn.convert model.pt rnn.safetensors --prefix encoder.rnn. --nonlinearity tanh
    python -m jrnn.convert model.pt lstm.safetensors --prefix encoder.lstm.

It reads anything :func:`jrnn.load` reads (``.pt``/``.pth`` through weights-only loading,
``.safetensors``, ``.npz``), of any kind, prints what it found (kind, layers, directions,
sizes, LSTM's ``proj_size`` when set, bias, dtype), then writes the file with
:func:`jrnn.save`. :func:`main` does the work (tests call it); :func:`cli` is the argparse shim.
"""

import argparse
import os

import jax

from ._io import load, save
from ._torch import config_of


def main(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    prefix: str = "",
    nonlinearity: str | None = None,
) -> str:
    """Convert ``src`` to the safetensors file ``dst`` and print a summary of the network.

    JAX's 64-bit mode is on during the conversion, so float64 checkpoints stay float64.

    Args:
        src: a ``.pt``/``.pth``, ``.safetensors`` or ``.npz`` checkpoint.
        dst: the ``.safetensors`` file to write (replaced atomically).
        prefix: the network's prefix inside a whole model's state_dict, e.g. ``"encoder.rnn."``.
        nonlinearity: an Elman RNN's ``"tanh"`` or ``"relu"``, recorded in the file's metadata
            when given (refused for LSTM and GRU checkpoints).

    Returns:
        The summary that was printed.

    Raises:
        FileNotFoundError: ``src`` does not exist.
        CheckpointError: ``src`` is damaged or holds no usable RNN, LSTM or GRU params.
        ValueError: bad suffixes, ``prefix`` or ``nonlinearity`` (see :func:`jrnn.load`,
            :func:`jrnn.save`).
        OSError: ``dst`` could not be written.

    """
    with jax.enable_x64(True):
        params = load(src, prefix=prefix)
        kind, config = config_of("jrnn.convert", params)
        directions = "2 (bidirectional)" if config.bidirectional else "1"
        rows = {
            "kind": f"torch.nn.{kind}",
            "num_layers": config.num_layers,
            "directions": directions,
            "input_size": config.input_size,
            "hidden_size": config.hidden_size,
            **({"proj_size": config.proj_size} if config.proj_size else {}),
            "bias": config.bias,
            "dtype": config.dtype,
        }
        summary = f"read {os.fspath(src)}\n" + "\n".join(f"  {k:<12} {v}" for k, v in rows.items())
        print(summary)
        source = {"converted_from": os.path.basename(os.fspath(src))}
        save(dst, params, metadata=source, nonlinearity=nonlinearity)
    print(f"wrote {os.fspath(dst)}")
    return summary


def cli(argv: list[str] | None = None) -> None:
    """Parse ``argv`` (default ``sys.argv[1:]``) and run :func:`main`; bad input exits with 2."""
    parser = argparse.ArgumentParser(
        prog="python -m jrnn.convert",
        description=(
            "Convert a torch RNN, LSTM or GRU checkpoint to a safetensors file jrnn and torch read."
        ),
    )
    parser.add_argument(
        "src", help="a .pt/.pth (read with weights_only=True), .safetensors or .npz"
    )
    parser.add_argument("dst", help="the .safetensors file to write")
    parser.add_argument("--prefix", default="", help="the network's prefix, e.g. encoder.rnn.")
    parser.add_argument(
        "--nonlinearity",
        choices=("tanh", "relu"),
        help="an Elman RNN's nonlinearity, recorded in the file's metadata",
    )
    args = parser.parse_args(argv)
    try:
        main(args.src, args.dst, prefix=args.prefix, nonlinearity=args.nonlinearity)
    except (OSError, ValueError, TypeError, ImportError) as err:
        parser.error(str(err))


if __name__ == "__main__":
    cli()
