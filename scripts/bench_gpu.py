"""The GPU benchmark within a time budget; the logic is in jrnn.bench.gpu, the entry bench_gpu.sh.

Usage: ``python scripts/bench_gpu.py --out DIR`` (``--device cpu`` rehearses it on a CPU).
"""

from jrnn.bench.gpu import cli

if __name__ == "__main__":
    cli()
