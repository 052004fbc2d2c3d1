"""The README's main job, the IRNN adding-problem demo: a wrapper around `python -m jrnn.demo`."""

from jrnn.demo import cli

if __name__ == "__main__":
    cli()
