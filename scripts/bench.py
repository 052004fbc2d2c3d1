"""CPU benchmark of jrnn against torch, flax and a plain lax.scan; the logic is in jrnn.bench.

Usage: ``python scripts/bench.py --quick`` (``--help`` lists every option).
"""

from jrnn.bench.cli import cli

if __name__ == "__main__":
    cli()
