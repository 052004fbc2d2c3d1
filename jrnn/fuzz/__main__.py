"""``python -m jrnn.fuzz``: the command line of :func:`jrnn.fuzz.cli.main`."""

from .cli import main

if __name__ == "__main__":
    main()
