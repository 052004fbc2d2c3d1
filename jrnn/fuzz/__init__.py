"""Fuzzing jrnn's public functions and its checkpoint loading (not imported by ``import jrnn``).

- :mod:`jrnn.fuzz.calls`: random calls, every argument drawn valid or broken;
- :mod:`jrnn.fuzz.build`: the arguments each drawn choice stands for;
- :mod:`jrnn.fuzz.oracle`: one call through jrnn and torch, and its outcome;
- :mod:`jrnn.fuzz.files`: damaged checkpoint files, loaded;
- :mod:`jrnn.fuzz.cli`: ``python -m jrnn.fuzz --calls 2000 --files 1000``, counted per outcome.

``tests/test_fuzz.py`` draws the same calls and files with hypothesis.
"""
