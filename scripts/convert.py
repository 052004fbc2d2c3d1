"""Convert a torch RNN checkpoint to safetensors: a wrapper around `python -m jrnn.convert`."""

from jrnn.convert import cli

if __name__ == "__main__":
    cli()
