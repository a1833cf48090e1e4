"""What an isolated call can fail with (the `IsolationError` family under `SnapAgentError`).

    IsolationError (SnapAgentError, RuntimeError)
    ├── WorkerTimeoutError (TimeoutError)   the deadline passed; the worker was killed
    ├── WorkerMemoryError (MemoryError)     the worker ran out of its address-space limit
    ├── WorkerCrashedError                  the worker died (signal, exit) without answering
    ├── OutputTooLargeError                 the answer was bigger than ``max_output_bytes``
    ├── RemoteError                         the function raised; ``type_name`` and ``message``
    └── PoolClosedError                     the pool was closed before the call could run

A `SnapAgentError` raised by the function itself (say a `NodeExecutionError`) comes back as
that same class with its message and plain-data attributes, not as `RemoteError`.
"""

from __future__ import annotations

from typing import Any

from snapagent.errors import SnapAgentError

__all__ = [
    "IsolationError",
    "OutputTooLargeError",
    "PoolClosedError",
    "RemoteError",
    "WorkerCrashedError",
    "WorkerMemoryError",
    "WorkerTimeoutError",
]


class IsolationError(SnapAgentError, RuntimeError):
    """An isolated call failed; ``pool`` names the pool it ran in."""

    def __init__(self, message: str, *, pool: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.pool = pool


class WorkerTimeoutError(IsolationError, TimeoutError):
    """The call ran past its deadline (wall clock or CPU time); its worker was killed."""


class WorkerMemoryError(IsolationError, MemoryError):
    """The call needed more memory than the worker's address-space limit."""


class WorkerCrashedError(IsolationError):
    """The worker process died during the call; ``exit_code`` is negative for a signal."""

    def __init__(self, message: str, *, exit_code: int | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.exit_code = exit_code


class OutputTooLargeError(IsolationError):
    """The call's result was larger than the pool's ``max_output_bytes``."""


class RemoteError(IsolationError):
    """The function raised an exception that is not a `SnapAgentError`.

    ``type_name`` is the exception's class name (``"ValueError"``), ``message`` its text.
    """

    def __init__(self, message: str, *, type_name: str, **kw: Any) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name, **kw)
        self.type_name = type_name
        self.remote_message = message


class PoolClosedError(IsolationError):
    """The pool was closed; no further calls are accepted."""
