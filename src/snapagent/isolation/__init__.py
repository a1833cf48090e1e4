"""Run our own code on hostile data in worker processes with hard limits.

Parsing an uploaded file, rendering a user's template or checking a huge graph can burn CPU
or memory without bound. None of that may run on the event loop or inside the server's
memory, so it runs in an `IsolatedPool`::

    from snapagent.isolation import IsolatedPool, ProcessLimits

    pool = IsolatedPool(name="parse", size=2,
                        limits=ProcessLimits(memory_mb=512, cpu_s=30, max_output_bytes=8 << 20))
    text = await pool.call(parse_pdf, data, timeout_s=30)    # from a coroutine
    text = pool.call_blocking(parse_pdf, data, timeout_s=30)  # from a plain thread
    await pool.close()

What a pool guarantees:

- **Never blocks the event loop.** A call is handed to one of ``size`` slot threads, which do
  the blocking pipe I/O; the coroutine awaits a future. The pool works from any loop or thread.
- **Bounded concurrency.** At most ``size`` calls run at once; later calls wait in order (the
  wait is not part of ``timeout_s``; wrap the await in ``asyncio.timeout`` to bound it).
- **Deadline.** ``timeout_s`` is wall-clock time from the moment a worker takes the call; past
  it the parent kills the worker (SIGKILL) and raises `WorkerTimeoutError`. Cancelling the
  awaiting task (a node's ``timeout_s``, a cancelled run) kills the worker the same way.
- **Limits inside the worker.** RLIMIT_AS = ``memory_mb`` (an allocation past it raises
  `WorkerMemoryError`, and the worker is replaced), RLIMIT_CPU re-armed to ``cpu_s`` before
  each call (SIGXCPU -> `WorkerTimeoutError`), results over ``max_output_bytes`` ->
  `OutputTooLargeError` (checked in the worker, and again by the parent before it reads).
- **Nothing to steal, nothing to trust.** Workers start with ``python -I`` and an environment of
  locale and thread-count variables only (no keys, no database URL), in their own session. Their
  replies are decoded by a restricted unpickler (`snapagent.isolation.codec`): plain data, plus
  instances of the ``result_types`` the pool names, so a worker taken over by a parser bug
  cannot send the server a pickle that runs code.
- **Optional seccomp.** ``initializer=snapagent.sandbox.seccomp.harden_worker`` installs a
  filter in each worker before it serves: no sockets, no exec, no signals or tracing of other
  processes, no mounts (threads and the CPU re-arming still work). Use it for parsers.
- **Clean start, warm reuse.** Workers are spawned with ``subprocess`` (fork+exec in C; the
  server's threads and loop are never forked), lazily on first use (or `warm_up()`), and reused
  call after call; a killed worker is replaced at once. Warm per-call overhead is well under a
  millisecond (`bench/sandbox.py` prints it).

Errors (all `IsolationError`, under `snapagent.errors.SnapAgentError`): `WorkerTimeoutError`,
`WorkerMemoryError`, `WorkerCrashedError`, `OutputTooLargeError`, `RemoteError` (the function
raised something that is not a `SnapAgentError`; ``type_name`` and ``message``),
`PoolClosedError`. A `SnapAgentError` raised by the function is re-raised as itself.

The user-code sandbox of the ``code`` node (`snapagent.sandbox`) builds on the same slot and
process machinery with a stricter, one-process-per-call worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from snapagent.isolation.errors import (
    IsolationError,
    OutputTooLargeError,
    PoolClosedError,
    RemoteError,
    WorkerCrashedError,
    WorkerMemoryError,
    WorkerTimeoutError,
)
from snapagent.isolation.limits import ProcessLimits

if TYPE_CHECKING:
    from snapagent.isolation.pool import IsolatedPool

__all__ = [
    "IsolatedPool",
    "IsolationError",
    "OutputTooLargeError",
    "PoolClosedError",
    "ProcessLimits",
    "RemoteError",
    "WorkerCrashedError",
    "WorkerMemoryError",
    "WorkerTimeoutError",
]


def __getattr__(name: str) -> Any:
    # Loaded on first use: workers and sandbox zygotes import this package's small modules
    # (framing, codec) and should not pay for asyncio and subprocess.
    if name == "IsolatedPool":
        from snapagent.isolation.pool import IsolatedPool

        return IsolatedPool
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
