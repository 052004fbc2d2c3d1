"""Replacing a file atomically, as :func:`jrnn.save` does, and cleaning up after killed saves.

The data goes to a hidden temporary file beside the target, named
``.{target name}.jrnn-{host}-{pid}-{random}.tmp``, which is flushed, fsynced and renamed over the
target; then the directory is fsynced. A save that fails removes its temporary file. A save that
is killed cannot, so every save first removes the leftovers of earlier saves to the same target
that were written on this host by processes that are gone (and, where files can be locked, that
no process holds locked: a writer in another PID namespace sharing the hostname). It never
touches another live writer's file, nor any name outside that pattern. Windows keeps the
leftovers: there ``os.kill(pid, 0)`` would end the process instead of probing it.

A symlink is followed: its target is replaced and the link kept. Replacing a file keeps its
permission bits (as writing into it, like ``torch.save``, would); a new file gets
``0o666`` less the umask, as ``open()`` gives.
"""

import contextlib
import os
import re
import secrets
import socket
import stat

from . import _errors_files


def _host() -> str:
    """The host's name as it appears in temporary file names: ``[A-Za-z0-9_]{1,32}``."""
    return re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname())[:32] or "_"


def _temp_name(name: str) -> str:
    return f".{name}.jrnn-{_host()}-{os.getpid()}-{secrets.token_hex(8)}.tmp"


def _temp_pattern(name: str) -> re.Pattern:
    return re.compile(
        rf"\.{re.escape(name)}\.jrnn-(?P<host>[A-Za-z0-9_]{{1,32}})-(?P<pid>[1-9][0-9]*)"
        r"-[0-9a-f]{16}\.tmp"
    )


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists (on this host); when in doubt, that it does."""
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # PermissionError: it exists, owned by someone else
        return True
    return True


def _lock(fd: int) -> None:
    """Hold an advisory lock on a temporary file while writing it: proof that its writer lives."""
    if os.name != "nt":
        import fcntl

        with contextlib.suppress(OSError):  # a file system without locks: the pid alone tells
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _remove_if_unlocked(path: str) -> None:
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:  # removed meanwhile, or not a file of ours
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # a live writer holds it: its pid is from another PID namespace
        return
    except OSError:  # no locks on this file system: the dead pid decides
        pass
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):  # another save may have removed it first
        os.unlink(path)


def remove_stale_temporaries(directory: str, name: str) -> None:
    """Remove the temporary files that killed saves to ``directory/name`` on this host left."""
    if os.name == "nt":
        return
    pattern, host = _temp_pattern(name), _host()
    try:
        entries = os.listdir(directory)
    except OSError:  # the write that follows reports what is wrong with the directory
        return
    for entry in entries:
        match = pattern.fullmatch(entry)
        if match and match["host"] == host and not _alive(int(match["pid"])):
            _remove_if_unlocked(os.path.join(directory, entry))


def _existing_mode(fn: str, path: str, target: str) -> int | None:
    """The permission bits of the file about to be replaced; ``None`` when there is none."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise _errors_files.save_failed(fn, path, "reading the existing file's mode", err) from err


def _fsync_directory(directory: str) -> None:
    """Make a rename inside ``directory`` durable (POSIX only: Windows cannot open a directory)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(fn: str, path: str, data: bytes) -> None:
    """Replace the file at ``path`` by one holding ``data``: all of it, or (on failure) nothing.

    Raises:
        OSError: of the type the failing call raised, with its errno, naming ``fn``, ``path``
            and the step that failed; the previous file is then unchanged. After the rename, a
            failing directory fsync says so: the new file is in place, but may not be durable.
    """
    target = os.path.realpath(path)  # a symlink's target is replaced, the link kept
    directory, name = os.path.split(target)
    remove_stale_temporaries(directory, name)
    mode = _existing_mode(fn, path, target)
    temp = os.path.join(directory, _temp_name(name))
    step = f"creating a temporary file in {directory!r}"
    try:
        # a new file's mode is 0o666 less the umask, as open() gives (mkstemp would give 0o600);
        # a replaced file's bits are never wider, even for the instant before fchmod
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        fd = os.open(temp, flags, 0o666 if mode is None else mode & 0o777)
        with os.fdopen(fd, "wb") as file:
            _lock(fd)
            step = "writing the data to a temporary file beside it"
            file.write(data)
            file.flush()
            if mode is not None and hasattr(os, "fchmod"):  # Windows: the open's mode suffices
                step = f"giving the temporary file the existing file's mode {oct(mode)}"
                os.fchmod(fd, mode)  # the umask may have cleared bits the old file had
            step = "fsyncing the temporary file"
            os.fsync(fd)
        step = "renaming the temporary file over it"
        os.replace(temp, target)
    except BaseException as err:
        with contextlib.suppress(OSError):  # also when os.open was interrupted as it returned
            os.unlink(temp)
        if isinstance(err, OSError):
            raise _errors_files.save_failed(fn, path, step, err) from err
        raise
    try:
        _fsync_directory(directory)
    except OSError as err:
        raise _errors_files.save_not_durable(fn, path, directory, err) from err
