"""Faults injected into jrnn's atomic save, shared by the I/O tests."""

import os


def fail_half_way_through_writing(monkeypatch, error):
    """Make the next file jrnn opens for writing write half of its data, flush it, then raise."""
    real_fdopen = os.fdopen

    class HalfWriter:
        def __init__(self, file):
            self.file = file

        def __enter__(self):
            return self

        def __exit__(self, *exc_info):
            self.file.close()

        def write(self, data):
            self.file.write(data[: len(data) // 2])
            self.file.flush()
            raise error

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
