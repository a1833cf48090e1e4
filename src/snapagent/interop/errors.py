"""Why a file cannot be imported: one error type, a 422 naming the reason.

``ImportFormatError`` is an `InputValidationError` on the ``file`` field, so the HTTP layer
answers 422 problem+json with ``errors: [{"field": "file", "reason": ...}]`` and the CLI prints
the reason. A YAML syntax error carries ``line`` and ``column`` (1-based) in ``details``.

    raise ImportFormatError("unsupported Dify DSL version 0.9.0 (supported: 0.1.0 to 0.6.x)")
"""

from __future__ import annotations

from typing import Any

from snapagent.errors import InputValidationError

__all__ = ["ImportFormatError"]


class ImportFormatError(InputValidationError):
    """The uploaded file is not something we can import; the message says why."""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, field="file", details=details)
