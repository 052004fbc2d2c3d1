"""Every Python example in the README runs as written."""

import pathlib
import re

import jax
import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that save files write them here
    with jax.enable_x64(False):  # a user's default: float32 arrays
        exec(compile(BLOCKS[index], f"README.md block {index}", "exec"), {})
