"""jrnn.save's atomic write: OS errors naming the target, names, modes, symlinks, killed saves."""

import errno
import fcntl
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
import torch
from _io_faults import fail_half_way_through_writing

import jrnn
from jrnn._io import load, save

HOST = re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname())[:32] or "_"


def rnn(seed=0):
    return jrnn.init_rnn(jax.random.key(seed), 2, 3)


def assert_loads(path, params):
    loaded = load(path)
    assert list(loaded) == list(params)
    for key, value in params.items():
        np.testing.assert_array_equal(loaded[key], value)


# --- OS errors -------------------------------------------------------------------------------


def _fail(monkeypatch, name, error):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(os, name, fail)


STEPS = {
    "creating a temporary file in": lambda mp, e: _fail(mp, "open", e),
    "writing the data to a temporary file": fail_half_way_through_writing,
    "giving the temporary file the existing file's mode 0o640": lambda mp, e: _fail(
        mp, "fchmod", e
    ),
    "fsyncing the temporary file": lambda mp, e: _fail(mp, "fsync", e),
    "renaming the temporary file over it": lambda mp, e: _fail(mp, "replace", e),
}


@pytest.mark.parametrize(
    "error",
    [
        PermissionError(errno.EACCES, "Permission denied"),
        OSError(errno.ENOSPC, "No space left on device"),
        OSError("no errno"),
    ],
    ids=["EACCES", "ENOSPC", "no-errno"],
)
@pytest.mark.parametrize("step", STEPS)
def test_os_error_names_the_target_and_step_and_keeps_type_and_errno(
    tmp_path, monkeypatch, step, error
):
    path = tmp_path / "rnn.safetensors"
    old = rnn(0)
    save(path, old)
    os.chmod(path, 0o640)
    before = path.read_bytes()
    STEPS[step](monkeypatch, error)
    with pytest.raises(type(error)) as info:
        save(path, rnn(1))
    monkeypatch.undo()
    message = str(info.value)
    assert type(info.value) is type(error) and info.value.errno == error.errno
    assert info.value.__cause__ is error
    assert f"`jrnn.save`: could not write '{path}': {step}" in message
    assert (error.strerror or str(error)) in message and "previous file" in message
    assert ".tmp" not in message  # the hidden temporary file is not what the user asked for
    assert os.listdir(tmp_path) == ["rnn.safetensors"]
    assert path.read_bytes() == before


def test_missing_directory_is_a_file_not_found_error_naming_the_target(tmp_path):
    path = tmp_path / "absent" / "rnn.safetensors"
    with pytest.raises(
        FileNotFoundError, match=f"could not write '{path}': creating a temp"
    ) as info:
        save(path, rnn())
    assert info.value.errno == errno.ENOENT
    assert isinstance(info.value.__cause__, FileNotFoundError)
    assert os.listdir(tmp_path) == []


def test_failed_directory_fsync_says_the_new_file_was_written(tmp_path, monkeypatch):
    path = tmp_path / "rnn.safetensors"
    save(path, rnn(0))
    real_fsync, calls = os.fsync, []

    def fsync(fd):  # the file's fsync works; the directory's, after the rename, fails
        calls.append(fd)
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    new = rnn(1)
    with pytest.raises(OSError, match="Input/output error") as info:
        save(path, new)
    monkeypatch.undo()
    message = str(info.value)
    assert info.value.errno == errno.EIO and len(calls) == 2
    assert f"wrote '{path}' completely and renamed it into place, but the fsync of" in message
    assert "may not survive a crash" in message and "unchanged" not in message
    assert os.listdir(tmp_path) == ["rnn.safetensors"]
    assert_loads(path, new)


def test_keyboard_interrupt_as_the_temporary_file_is_created_leaves_nothing(tmp_path, monkeypatch):
    real_open = os.open

    def open_then_interrupt(*args, **kwargs):
        real_open(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "open", open_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        save(tmp_path / "rnn.safetensors", rnn())
    monkeypatch.undo()
    assert os.listdir(tmp_path) == []


# --- names load would refuse -----------------------------------------------------------------


@pytest.mark.parametrize("name", [".safetensors", "..safetensors", ".SafeTensors"])
def test_a_name_that_is_only_the_suffix_is_refused_before_writing(tmp_path, name):
    with pytest.raises(ValueError, match=rf"after a file name, got '.*/{re.escape(name)}'"):
        save(tmp_path / name, rnn())
    assert os.listdir(tmp_path) == []
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(ValueError, match="the suffix picks the reader"):  # load refuses it too
        load(tmp_path / name)


def test_an_upper_case_suffix_load_reads_is_written(tmp_path):
    params = rnn()
    save(tmp_path / "RNN.SAFETENSORS", params)
    assert_loads(tmp_path / "RNN.SAFETENSORS", params)


# --- permission bits and symlinks ------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o664, 0o444])
def test_overwrite_keeps_the_permission_bits_as_torch_save_does(tmp_path, mode):
    previous = os.umask(0o022)  # clears 0o664's group write bit from any new file
    try:
        paths = {}
        for name in ("jrnn.safetensors", "torch.pt"):
            paths[name] = tmp_path / name
            paths[name].write_bytes(b"old")
            os.chmod(paths[name], mode)
        save(paths["jrnn.safetensors"], rnn())
        if mode & stat.S_IWUSR:  # torch.save writes into the file, so it needs write access
            torch.save({}, paths["torch.pt"])
    finally:
        os.umask(previous)
    modes = {name: stat.S_IMODE(os.stat(path).st_mode) for name, path in paths.items()}
    assert modes == {"jrnn.safetensors": mode, "torch.pt": mode}
    assert_loads(paths["jrnn.safetensors"], rnn())


@pytest.mark.parametrize("dangling", [False, True])
def test_saving_to_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path, dangling):
    (tmp_path / "real").mkdir()
    (tmp_path / "links").mkdir()
    target = tmp_path / "real" / "rnn.safetensors"
    link = tmp_path / "links" / "latest.safetensors"
    link.symlink_to(os.path.join("..", "real", "rnn.safetensors"))
    if not dangling:
        save(target, rnn(0))
        os.chmod(target, 0o600)
    new = rnn(1)
    save(link, new)
    assert link.is_symlink() and os.readlink(link) == os.path.join("..", "real", "rnn.safetensors")
    assert sorted(os.listdir(tmp_path / "real")) == ["rnn.safetensors"]
    assert sorted(os.listdir(tmp_path / "links")) == ["latest.safetensors"]
    assert_loads(target, new)
    if not dangling:
        assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


# --- temporary files of killed saves ---------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import os, sys, time
    import numpy as np
    import jrnn

    def stop_before_the_rename(fd):  # the data is written; the parent kills us here
        print("written", flush=True)
        time.sleep(60)

    os.fsync = stop_before_the_rename
    params = {"weight_ih": np.ones((3000, 2), np.float32), "weight_hh": np.ones((3000, 1000),
        np.float32), "bias_ih": np.ones(3000, np.float32), "bias_hh": np.ones(3000, np.float32)}
    jrnn.save(sys.argv[1], params)
    """
)


def _kill_a_save_mid_write(path):
    """Start a save of 12 MB in a child, SIGKILL it once its data is written; return its pid."""
    command = [sys.executable, "-c", _CHILD, str(path)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout.readline() == "written\n"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()  # reaped: its pid is gone, not a zombie
    assert child.returncode == -signal.SIGKILL
    return child.pid


def test_next_save_removes_the_temporaries_of_killed_saves_only(tmp_path):
    path = tmp_path / "rnn.safetensors"
    save(path, rnn(0))
    dead = _kill_a_save_mid_write(path)
    stale = [name for name in os.listdir(tmp_path) if name != "rnn.safetensors"]
    assert len(stale) == 1 and os.path.getsize(tmp_path / stale[0]) > 12_000_000
    assert stale[0].startswith(f".rnn.safetensors.jrnn-{HOST}-{dead}-")
    assert_loads(path, rnn(0))  # the kill left the old file as it was

    token = "0123456789abcdef"
    kept = [
        f".rnn.safetensors.jrnn-{HOST}-{os.getpid()}-{token}.tmp",  # a live writer: this process
        f".rnn.safetensors.jrnn-otherhost-{dead}-{token}.tmp",  # another host's pids are unknown
        f".other.safetensors.jrnn-{HOST}-{dead}-{token}.tmp",  # another target's
        f".rnn.safetensors.jrnn-{HOST}-{dead}-{token}.tmp.bak",  # not jrnn's pattern
        f".rnn.safetensors.{token}.tmp",  # the old pattern, with no pid to check
        f".rnn.safetensors.jrnn-{HOST}-{dead}-fedcba9876543210.tmp",  # locked: a live writer
    ]
    for name in kept:
        (tmp_path / name).write_bytes(b"partial")
    locked = os.open(tmp_path / kept[-1], os.O_RDONLY)  # as a writer in another PID namespace
    fcntl.flock(locked, fcntl.LOCK_EX)
    also_stale = f".rnn.safetensors.jrnn-{HOST}-{dead}-{'a' * 16}.tmp"
    (tmp_path / also_stale).write_bytes(b"partial")
    try:
        save(path, rnn(1))
    finally:
        os.close(locked)
    assert sorted(os.listdir(tmp_path)) == sorted(["rnn.safetensors", *kept])
    assert_loads(path, rnn(1))
