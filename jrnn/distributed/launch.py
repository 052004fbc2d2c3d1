"""Start local processes and watch them: every wait bounded, every child killed on failure.

This is only the local stand-in for a cluster's scheduler (SLURM, a TPU pod's runner, one
shell per host): it starts the processes; JAX's own runtime connects them.
"""

import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence

POLL_SECONDS = 0.05
KILL_WAIT_SECONDS = 10.0
TAIL_LINES = 20


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago (bind port 0, read what the OS gave).

    Example:
        >>> 0 < free_port() < 65536
        True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def launch(
    commands: Sequence[Sequence[str]],
    *,
    timeout: float,
    echo: Callable[[str], None] | None = None,
    env: dict[str, str] | None = None,
) -> list[str]:
    """Run ``commands`` as child processes at once and wait, at most ``timeout`` s, for all.

    Process 0's stdout is read line by line (and passed to ``echo``); every other output goes
    to a temporary file whose tail is reported if something goes wrong. As soon as one process
    fails, or the time is up, every child still running is killed with its process group.

    Args:
        commands: one argv per process, process ``i`` first in line ``i``.
        timeout: seconds for all of them to finish.
        echo: called with each line of process 0's stdout, as it comes; ``None`` keeps quiet.
        env: the children's environment (``None``: this process's).

    Returns:
        Process 0's stdout, line by line, without line ends.

    Raises:
        RuntimeError: a process exited with a non-zero code; the message gives each exit code
            and the failed process's stderr tail.
        TimeoutError: not all had finished after ``timeout`` seconds; the message gives each
            process's state and stderr tail.
    """
    logs = [tempfile.TemporaryFile("w+") for _ in commands]
    children: list[subprocess.Popen] = []
    lines: list[str] = []
    reader = None
    try:
        for index, (command, log) in enumerate(zip(commands, logs, strict=True)):
            stdout = subprocess.PIPE if index == 0 else log
            children.append(
                subprocess.Popen(
                    command, stdout=stdout, stderr=log, text=True, env=env, start_new_session=True
                )
            )
        reader = threading.Thread(target=_read, args=(children[0].stdout, lines, echo), daemon=True)
        reader.start()
        _wait(children, logs, timeout)
    finally:
        for child in children:
            _kill(child)
        if reader is not None:
            reader.join(KILL_WAIT_SECONDS)  # the pipe ends when process 0 does
        if children and (reader is None or not reader.is_alive()):
            children[0].stdout.close()
        for log in logs:
            log.close()
    return lines


def _read(stream, lines: list[str], echo) -> None:
    for line in stream:
        lines.append(line.rstrip("\n"))
        if echo is not None:
            echo(lines[-1])


def _wait(children: list[subprocess.Popen], logs: list, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        codes = [child.poll() for child in children]
        failed = [index for index, code in enumerate(codes) if code not in (None, 0)]
        if failed:
            raise RuntimeError(
                f"`jrnn.distributed.launch`: process {failed[0]} of {len(children)} exited with "
                f"code {codes[failed[0]]} (exit codes: {codes}, None = still running, now "
                f"killed). Its output ends with:\n{_tail(logs[failed[0]])}"
            )
        if all(code == 0 for code in codes):
            return
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- process {i}:\n{_tail(log)}" for i, log in enumerate(logs))
            raise TimeoutError(
                f"`jrnn.distributed.launch`: not all {len(children)} processes finished within "
                f"timeout={timeout} s (exit codes: {codes}, None = still running, now killed). "
                f"Their output ends with:\n{tails}"
            )
        time.sleep(POLL_SECONDS)


def _tail(log) -> str:
    log.flush()
    log.seek(0)
    return "\n".join(log.read().splitlines()[-TAIL_LINES:])


def _kill(child: subprocess.Popen) -> None:
    if child.poll() is None:
        try:
            os.killpg(child.pid, signal.SIGKILL)  # the child leads its own process group
        except ProcessLookupError:
            pass  # it finished in between
    child.wait(KILL_WAIT_SECONDS)
