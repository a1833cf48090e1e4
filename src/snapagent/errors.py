"""The one exception root of SnapAgent and its families.

Every error the product raises on purpose derives from :class:`SnapAgentError`, so callers can
catch "anything SnapAgent meant to tell me" in one place and the HTTP layer can map errors to
problem+json in exactly one module. Each family also extends the builtin it resembles, so code
that only knows Python's builtins still behaves sensibly.

The tree::

    SnapAgentError
    ├── DefinitionError (ValueError)        a workflow/graph/config is malformed
    │   └── GraphValidationError            static validation found problems (carries them all)
    ├── InputValidationError (ValueError)   a request or CLI argument is wrong (field + reason)
    ├── NodeExecutionError (RuntimeError)   a node failed while running
    │   ├── NodeTimeoutError                a node exceeded its timeout
    │   └── VariableError                   a pool read/write failed (missing value, too large)
    ├── RunLimitError (RuntimeError)        a run exceeded max steps or max duration
    ├── ProviderError (RuntimeError)        a model provider failed (see snapagent.llm.errors)
    ├── NotFoundError (LookupError)         a resource does not exist *for this caller*
    ├── ConflictError                       conflicts with current state (stale revision...)
    ├── PermissionDeniedError               authenticated but not allowed
    ├── AuthenticationError                 missing/invalid credentials
    ├── RateLimitedError                    too many requests (carries retry_after)
    ├── PayloadTooLargeError                an upload/body is over the configured limit
    ├── UnsupportedMediaError               an upload of a type we cannot parse
    ├── UnavailableError                    a dependency (database...) is down; retry later
    └── IsolationError (RuntimeError)       an isolated worker call failed: timeout, memory,
                                            crash, output too large, or the function raised
                                            (see snapagent.isolation.errors)

Errors carry a human ``message`` and optional structured ``details``; nothing here may carry a
secret (API keys, passwords, tokens).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "DefinitionError",
    "GraphValidationError",
    "InputValidationError",
    "NodeExecutionError",
    "NodeTimeoutError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProviderError",
    "RateLimitedError",
    "RunLimitError",
    "SnapAgentError",
    "UnavailableError",
    "UnsupportedMediaError",
    "VariableError",
]


class SnapAgentError(Exception):
    """Root of every error SnapAgent raises on purpose.

    >>> try:
    ...     raise NotFoundError("bot 42 not found")
    ... except SnapAgentError as exc:
    ...     str(exc)
    'bot 42 not found'
    """

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}


class DefinitionError(SnapAgentError, ValueError):
    """A workflow, graph or node configuration is malformed."""


class GraphValidationError(DefinitionError):
    """Static validation found one or more problems; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Any], message: str | None = None) -> None:
        count = len(problems)
        super().__init__(message or f"workflow graph is invalid ({count} problem(s))")
        self.problems = problems


class InputValidationError(SnapAgentError, ValueError):
    """A request field or command-line argument is wrong; ``field`` names it."""

    def __init__(self, message: str, *, field: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.field = field


class NodeExecutionError(SnapAgentError, RuntimeError):
    """A node failed while running."""

    def __init__(self, message: str, *, node_id: str | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.node_id = node_id


class NodeTimeoutError(NodeExecutionError, TimeoutError):
    """A node ran longer than its configured timeout."""


class VariableError(NodeExecutionError, KeyError):
    """Reading or writing a value in the variable pool failed."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.message


class RunLimitError(SnapAgentError, RuntimeError):
    """A run exceeded its maximum number of steps or its maximum duration."""


class ProviderError(SnapAgentError, RuntimeError):
    """A model provider failed. Subclasses live in :mod:`snapagent.llm.errors`."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        status_code: int | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.provider = provider
        self.model = model
        self.status_code = status_code


class NotFoundError(SnapAgentError, LookupError):
    """The resource does not exist, or belongs to someone else (never say which)."""


class ConflictError(SnapAgentError):
    """The request conflicts with the current state (stale revision, not a draft, ...)."""


class PermissionDeniedError(SnapAgentError, PermissionError):
    """The caller is authenticated but may not do this."""


class AuthenticationError(SnapAgentError):
    """Credentials are missing, malformed, expired or revoked."""


class RateLimitedError(SnapAgentError):
    """Too many requests; ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, retry_after: float, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class PayloadTooLargeError(SnapAgentError, ValueError):
    """An upload or request body exceeds the configured size limit."""


class UnsupportedMediaError(SnapAgentError, ValueError):
    """An upload has a type SnapAgent cannot parse."""


class UnavailableError(SnapAgentError, ConnectionError):
    """A dependency (database, queue) is unreachable; the caller may retry later."""
