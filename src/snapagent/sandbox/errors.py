"""Errors of the code sandbox (beside the `IsolationError`s it shares with every pool)."""

from __future__ import annotations

from typing import Any

from snapagent.isolation.errors import IsolationError

__all__ = ["CodeError", "SandboxUnavailableError"]


class SandboxUnavailableError(IsolationError):
    """No acceptable isolation here (or ``SNAPAGENT_CODE_SANDBOX=off``): code is refused."""


class CodeError(IsolationError):
    """The user's code failed: it raised, returned no dict, or defined no ``main``.

    ``type_name`` (``"ZeroDivisionError"``), ``remote_message`` and ``line`` (in the code, when
    known) describe it; ``key`` names the output at fault for an unserialisable result.
    """

    def __init__(
        self,
        message: str,
        *,
        type_name: str,
        line: int | None = None,
        key: str | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.type_name = type_name
        self.line = line
        self.key = key
