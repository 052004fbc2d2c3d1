"""``python -m jrnn.fuzz``: see :mod:`jrnn.fuzz.cli`."""

from jrnn.fuzz.cli import main

main()
