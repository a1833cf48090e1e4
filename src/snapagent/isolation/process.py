"""`WorkerProcess`: one spawned worker and the pipes to it (used by the pools' slot threads).

Workers are started with ``subprocess`` (fork+exec done in C, no Python code between them), so
the server's threads and event loop are never forked. Each worker gets an empty environment
apart from locale and thread-count variables, its own session (a terminal's Ctrl-C does not
reach it; killing its process group reaches everything it started), and no file descriptors
but its pipes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["WORKER_ENV", "WorkerProcess", "package_root"]

WORKER_ENV: dict[str, str] = {
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PATH": "/usr/bin:/bin",
    # Native libraries must not start thread pools inside a worker.
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
"""The whole environment of a worker: no secrets (keys, database URLs) ever reach it."""


def package_root() -> str:
    """The directory holding the ``snapagent`` package (put first on a worker's path)."""
    return str(Path(__file__).resolve().parents[2])


class WorkerProcess:
    """A started worker: ``proc`` plus the parent's ends of its pipes (non-blocking)."""

    def __init__(self, proc: subprocess.Popen[bytes], to_worker: int, from_worker: int) -> None:
        self.proc = proc
        self.to_worker = to_worker
        self.from_worker = from_worker
        self.info: object = None

    @classmethod
    def spawn(
        cls,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        pass_fds: Sequence[int] = (),
        cwd: str | None = None,
        user: int | None = None,
        group: int | None = None,
    ) -> WorkerProcess:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=dict(WORKER_ENV if env is None else env),
            close_fds=True,
            pass_fds=tuple(pass_fds),
            start_new_session=True,
            cwd=cwd,
            user=user,
            group=group,
            extra_groups=[] if user is not None else None,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        to_worker, from_worker = proc.stdin.fileno(), proc.stdout.fileno()
        os.set_blocking(to_worker, False)
        os.set_blocking(from_worker, False)
        return cls(proc, to_worker, from_worker)

    @staticmethod
    def python_argv(module: str, *args: str, interpreter: str | None = None) -> list[str]:
        """``python -I`` running ``module.main()`` with this package importable; ``args``
        follow in ``sys.argv[2:]``."""
        boot = f"import sys; sys.path.insert(0, sys.argv[1]); from {module} import main; main()"
        return [interpreter or sys.executable, "-I", "-c", boot, package_root(), *args]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def interrupt(self) -> None:
        """Send SIGKILL (safe from any thread: closes nothing, never signals a reaped pid)."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)

    def kill(self) -> int:
        """Kill the worker and everything in its session, reap it, close the pipes; return its
        exit code. Only the thread that owns the worker calls this."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        code = self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return code

    def exit_code(self, wait_s: float = 1.0) -> int | None:
        """The exit code once the worker has exited (waiting up to ``wait_s``), else None."""
        try:
            return self.proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            return None
