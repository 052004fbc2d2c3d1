"""Where a jrnn train step's time goes, kernel by kernel; the logic is in jrnn.bench.profile.

Usage: ``python scripts/profile_step.py --kind lstm --shape S1`` (``--help`` lists the options).
"""

from jrnn.bench.profile import cli

if __name__ == "__main__":
    cli()
