"""``python -m jrnn.distributed``: the command line of :func:`jrnn.distributed.main`."""

from .cli import cli

if __name__ == "__main__":
    cli()
