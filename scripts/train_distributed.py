"""Data-parallel training over devices and processes: `python -m jrnn.distributed`."""

from jrnn.distributed.cli import cli

if __name__ == "__main__":
    cli()
