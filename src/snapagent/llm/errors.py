"""The provider error family: every model-provider failure becomes one of these.

The tree (all under :class:`snapagent.errors.ProviderError`, which carries ``provider``,
``model`` and ``status_code``)::

    ProviderError
    ├── ProviderNotConfiguredError       a key/region the model needs is not set (names the setting)
    ├── ProviderAuthenticationError      401/403: the key is missing, wrong or not allowed
    ├── ProviderBadRequestError          400/404/413/422: the request itself is wrong; do not retry
    ├── ProviderRateLimitError           429 / throttling; ``retry_after`` = the provider's hint
    ├── ProviderTimeoutError             no answer within the configured timeout
    └── ProviderUnavailableError         5xx, connection refused/reset
        └── ProviderMalformedResponseError   the provider answered something we cannot parse

``transient`` says whether the retry policy may try again. Messages are written by us, never
copied whole from an SDK exception, and pass through :func:`redact` so an API key (or the
masked form some providers echo back) never reaches a log, an error or a run record.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from snapagent.errors import ProviderError

__all__ = [
    "ProviderAuthenticationError",
    "ProviderBadRequestError",
    "ProviderMalformedResponseError",
    "ProviderNotConfiguredError",
    "ProviderRateLimitError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "error_for_status",
    "forget_context",
    "parse_retry_after",
    "redact",
    "reraise_translated",
]

# Key-shaped tokens: Anthropic (sk-ant-...), OpenAI (sk-..., sk-proj-...), AWS access key ids,
# the "sk-abc*****wxyz" masks OpenAI puts in its 401 message, and anything shaped like an AWS
# secret access key (40 base64 characters; a sha1 may be hidden too - an acceptable loss).
_KEY_PATTERN = re.compile(
    r"\b(?:sk-[A-Za-z0-9_\-*]{6,}|AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16})"
    r"|(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
)
_MAX_MESSAGE = 500


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove every given secret and anything key-shaped from ``text`` (and cap its length).

    >>> redact("bad key sk-ant-abcdef123456", ["hunter2"])
    'bad key [redacted]'
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    text = _KEY_PATTERN.sub("[redacted]", text)
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + "..."
    return text


class _ProviderFailure(ProviderError):
    """Common base: the ``transient`` flag and a repr that shows where the failure came from."""

    transient = False

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, provider={self.provider!r}, "
            f"model={self.model!r}, status_code={self.status_code!r})"
        )


class ProviderNotConfiguredError(_ProviderFailure):
    """The model needs a setting (API key, region) that is not set; ``setting`` names it."""

    def __init__(self, message: str, *, setting: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.setting = setting


class ProviderAuthenticationError(_ProviderFailure):
    """The provider rejected our credentials (401) or they may not use this model (403)."""


class ProviderBadRequestError(_ProviderFailure):
    """The provider rejected the request itself (bad parameter, unknown model, too long)."""


class ProviderRateLimitError(_ProviderFailure):
    """Too many requests; ``retry_after`` is the provider's hint in seconds, if it gave one."""

    transient = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ProviderTimeoutError(_ProviderFailure, TimeoutError):
    """The provider did not answer within the configured timeout."""

    transient = True


class ProviderUnavailableError(_ProviderFailure):
    """The provider is down or unreachable (5xx, connection refused or reset)."""

    transient = True


class ProviderMalformedResponseError(ProviderUnavailableError):
    """The provider answered with a body we cannot parse. Not retried: it is rarely transient."""

    transient = False


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` (or ``retry-after-ms``-converted) header; None if absent."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP date: rare from model APIs; fall back to our own backoff
    return max(0.0, seconds)


def error_for_status(
    status: int,
    detail: str,
    *,
    provider: str,
    model: str,
    retry_after: float | None = None,
    secrets: Iterable[str | None] = (),
) -> ProviderError:
    """The family member for an HTTP status, with a redacted message naming provider and model."""
    detail = redact(detail, secrets)
    where = f"{provider} model {model!r}"
    kw: dict[str, Any] = {"provider": provider, "model": model, "status_code": status}
    if status in (401, 403):
        return ProviderAuthenticationError(
            f"{where}: authentication failed (HTTP {status}): {detail}", **kw
        )
    if status == 429:
        return ProviderRateLimitError(
            f"{where}: rate limited (HTTP 429): {detail}", retry_after=retry_after, **kw
        )
    if status == 408:
        return ProviderTimeoutError(f"{where}: request timed out (HTTP 408): {detail}", **kw)
    if status >= 500 or status == 529:
        return ProviderUnavailableError(f"{where}: unavailable (HTTP {status}): {detail}", **kw)
    return ProviderBadRequestError(f"{where}: request rejected (HTTP {status}): {detail}", **kw)


@contextmanager
def reraise_translated(translate: Callable[[Exception], ProviderError | None]) -> Iterator[None]:
    """Re-raise exceptions ``translate`` recognises (SDK/transport ones) as our family.

    The original is not chained: its message may quote the key back and its request object
    carries the auth header. (Python still records it as ``__context__``; the public
    ``complete``/``stream``/``embed_*`` methods drop that before the error leaves them.)
    """
    translated: ProviderError | None = None
    try:
        yield
    except ProviderError:
        raise
    except Exception as exc:
        translated = translate(exc)
        if translated is None:
            raise
    if translated is not None:
        raise translated


def forget_context(exc: BaseException) -> None:
    """Drop the implicit chain of ``exc`` (see :func:`reraise_translated`)."""
    exc.__context__ = None
    exc.__cause__ = None
