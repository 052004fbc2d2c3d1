"""A missing optional dependency names the feature, the package and the install commands.

A package is made missing with ``sys.modules[name] = None`` (the import then raises
``ModuleNotFoundError``), restored by ``monkeypatch`` after each test; ``jrnn.linen`` and
``jrnn.nnx`` are imported in a subprocess so this process's modules stay as they were.
"""

import re
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
import torch

import jrnn
import jrnn.convert
import jrnn.demo
from jrnn._optional import require


def install_lines(package, extra):
    """A pattern for the two install commands the message must give."""
    return (
        re.escape(f"`pip install {package}`") + ".*" + re.escape(f'`pip install -e ".[{extra}]"`')
    )


def missing(monkeypatch, *names):
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.fixture
def params():
    return jrnn.init_rnn(jax.random.key(0), input_size=3, hidden_size=4)


def test_require_returns_the_module():
    assert require("safetensors.numpy", extra="io", feature="`jrnn.save`").__name__ == (
        "safetensors.numpy"
    )


def test_require_names_the_feature_the_package_and_both_install_commands(monkeypatch):
    missing(monkeypatch, "safetensors")  # safetensors.numpy may stay cached: still refused
    with pytest.raises(ModuleNotFoundError) as info:
        require("safetensors.numpy", extra="io", feature="`jrnn.save`")
    message = str(info.value)
    assert message.startswith("import of safetensors halted")  # Python's own sentence first
    assert "`jrnn.save` needs the optional package safetensors" in message
    assert re.search(install_lines("safetensors", "io"), message)
    assert info.value.name == "safetensors"
    assert isinstance(info.value.__cause__, ImportError)


def test_a_package_that_is_not_installed_keeps_pythons_sentence_first():
    with pytest.raises(ModuleNotFoundError) as info:
        require("jrnn_test_no_such_package.sub", extra="io", feature="`jrnn.save`")
    assert str(info.value).startswith("No module named 'jrnn_test_no_such_package': ")
    assert re.search(install_lines("jrnn_test_no_such_package", "io"), str(info.value))


def test_a_module_missing_inside_an_installed_package_propagates_as_it_is(tmp_path, monkeypatch):
    package = tmp_path / "jrnn_test_broken_package"
    package.mkdir()
    (package / "__init__.py").write_text("import jrnn_test_absent_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "jrnn_test_broken_package", raising=False)
    with pytest.raises(
        ModuleNotFoundError, match="^No module named 'jrnn_test_absent_dependency'$"
    ):
        require("jrnn_test_broken_package", extra="io", feature="`jrnn.save`")


def test_save_without_safetensors(tmp_path, monkeypatch, params):
    missing(monkeypatch, "safetensors")
    with pytest.raises(ModuleNotFoundError, match=r"`jrnn.save` needs .* safetensors") as info:
        jrnn.save(tmp_path / "rnn.safetensors", params)
    assert re.search(install_lines("safetensors", "io"), str(info.value))
    assert not list(tmp_path.iterdir())  # nothing written, no temporary file left


@pytest.mark.parametrize("read", [jrnn.load, jrnn.load_metadata], ids=lambda f: f.__name__)
def test_reading_safetensors_without_safetensors(tmp_path, monkeypatch, params, read):
    path = tmp_path / "rnn.safetensors"
    jrnn.save(path, params)
    missing(monkeypatch, "safetensors")
    with pytest.raises(ModuleNotFoundError, match=f"`jrnn.{read.__name__}`") as info:
        read(path)
    assert re.search(install_lines("safetensors", "io"), str(info.value))


def test_npz_needs_no_optional_package(tmp_path, monkeypatch, params):
    path = tmp_path / "rnn.npz"
    np.savez(path, **{key: np.asarray(value) for key, value in params.items()})
    missing(monkeypatch, "safetensors", "torch")
    assert jrnn.load(path).keys() == params.keys()


def test_reading_pt_without_torch(tmp_path, monkeypatch):
    path = tmp_path / "rnn.pt"
    torch.save(torch.nn.RNN(3, 4).state_dict(), path)
    missing(monkeypatch, "torch")
    with pytest.raises(
        ModuleNotFoundError, match=r"reading \.pt/\.pth files \(`jrnn.load`"
    ) as info:
        jrnn.load(path)
    assert re.search(install_lines("torch", "torch"), str(info.value))


def test_to_torch_without_torch(monkeypatch, params):
    missing(monkeypatch, "torch")
    with pytest.raises(ModuleNotFoundError, match="`jrnn.to_torch` needs .* torch") as info:
        jrnn.to_torch(params)
    assert re.search(install_lines("torch", "torch"), str(info.value))


def test_from_torch_of_numpy_arrays_needs_no_torch(monkeypatch, params):
    state_dict = {key: np.asarray(value) for key, value in params.items()}
    missing(monkeypatch, "torch")
    assert jrnn.from_torch(state_dict).keys() == params.keys()


def test_convert_without_torch_exits_with_the_install_line(tmp_path, monkeypatch, capsys):
    src = tmp_path / "rnn.pt"
    torch.save(torch.nn.RNN(3, 4).state_dict(), src)
    missing(monkeypatch, "torch")
    with pytest.raises(SystemExit) as info:
        jrnn.convert.cli([str(src), str(tmp_path / "rnn.safetensors")])
    assert info.value.code == 2
    assert re.search(install_lines("torch", "torch"), capsys.readouterr().err)


@pytest.mark.parametrize("package", ["safetensors", "optax", "tqdm", "matplotlib"])
def test_demo_without_its_packages_fails_before_training(tmp_path, monkeypatch, capsys, package):
    missing(monkeypatch, package)
    with pytest.raises(ModuleNotFoundError, match=f"`jrnn.demo` needs .* {package}") as info:
        jrnn.demo.main(steps=1, seq_len=2, hidden_size=1, batch_size=1, test_size=1, out=tmp_path)
    assert re.search(install_lines(package, "demo"), str(info.value))
    assert capsys.readouterr().out == ""  # nothing trained, nothing printed
    assert not list(tmp_path.iterdir())


def test_importing_the_flax_wrappers_without_flax():
    code = textwrap.dedent(
        """
        import sys
        sys.modules["flax"] = None
        for module in ("linen", "nnx"):
            try:
                __import__(f"jrnn.{module}")
            except ModuleNotFoundError as error:
                print(error)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    linen, nnx = result.stdout.splitlines()
    for module, message in {"linen": linen, "nnx": nnx}.items():
        assert f"`jrnn.{module}` needs the optional package flax" in message
        assert re.search(install_lines("flax", "flax"), message)
