"""XLA CPU flags measured on jrnn, paired child processes; the logic is in jrnn.bench.xla_flags.

Usage: ``python scripts/bench_xla_flags.py --out docs/xla_flags_cpu.md`` (``--help`` for more).
"""

from jrnn.bench.xla_flags import cli

if __name__ == "__main__":
    cli()
