"""The zygote: a pristine, confined process that forks one runner per call.

Started by `CodeSandbox` as ``python -I`` with an empty environment. Pipes: fd 0 carries
requests to the runners, fd 1 their replies; two more (numbers in argv) are the zygote's own
control channel: JSON frames ``{"cmd": "kill", "runner": n}`` in, ``["ready", {...}]`` /
``["unavailable", reason]`` / ``["exit", n, code]`` out. Runners are numbered from 1; a kill
names the runner it is meant for, so a late kill never hits the next, idle runner.

On start it preloads the standard-library modules user code may import, confines itself
(namespaces, else Landlock; see `snapagent.sandbox.confinement`), reports the level it reached,
then loops: fork a runner, wait until it exits or the parent asks to kill it, report the exit
code. The zygote itself never reads a request or a reply, so no user's data or code is ever in
its memory, and no runner can see another's.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import sys
from typing import Any

from snapagent.isolation.framing import HEADER, read_exact, write_all
from snapagent.sandbox import confinement, runner

__all__ = ["main"]


def _send(fd: int, message: Any) -> None:
    data = json.dumps(message).encode()
    write_all(fd, HEADER.pack(len(data)) + data)


def _receive(fd: int) -> Any:
    (size,) = HEADER.unpack(read_exact(fd, HEADER.size))
    if size > 1 << 20:
        raise ValueError("control frame too large")
    return json.loads(read_exact(fd, size))


def _preload(modules: list[str]) -> list[str]:
    loaded = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:
            continue
        loaded.append(name)
    return loaded


def _supervise(pid: int, number: int, control_in: int) -> int:
    """Wait for runner ``pid`` to exit, killing it when asked; its exit code."""
    pidfd = os.pidfd_open(pid)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        poller.register(control_in, select.POLLIN)
        while True:
            for fd, _ in poller.poll():
                if fd == pidfd:
                    _, status = os.waitpid(pid, 0)
                    return os.waitstatus_to_exitcode(status)
                try:
                    command = _receive(control_in)  # the only command is "kill"
                except (EOFError, OSError, ValueError):
                    os.kill(pid, signal.SIGKILL)  # the parent is gone: so are we
                    os._exit(0)
                if isinstance(command, dict) and command.get("runner") == number:
                    os.kill(pid, signal.SIGKILL)
    finally:
        os.close(pidfd)


def main() -> None:
    control_in, control_out = int(sys.argv[2]), int(sys.argv[3])
    # The server may run with a strict umask (its data directory is private); the directories
    # of the sandbox's own root must stay traversable by the unprivileged user code runs as.
    os.umask(0o022)
    config = _receive(control_in)
    os.nice(int(config.get("nice", 0)))  # inherited by every runner: the server keeps the CPU
    preloaded = _preload(config["preload"])
    try:
        report = confinement.confine_zygote(config)
    except confinement.SandboxUnavailable as exc:
        _send(control_out, ["unavailable", str(exc)])
        return
    report["preloaded"] = preloaded
    baseline = int(report["baseline_bytes"])
    _send(control_out, ["ready", report])
    paths = confinement.read_only_paths()
    number = 0
    while True:
        number += 1
        pid = os.fork()
        if pid == 0:
            with contextlib.suppress(BaseException):
                os.close(control_in)
                os.close(control_out)
                runner.run_child(baseline, paths)
            os._exit(70)
        code = _supervise(pid, number, control_in)
        _send(control_out, ["exit", number, code])
