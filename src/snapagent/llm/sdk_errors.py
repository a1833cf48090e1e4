"""Turn exceptions of the official ``anthropic`` and ``openai`` SDKs into our provider errors.

Both SDKs are generated from the same template, so one translator serves both. The SDK's own
exception is not chained (``from None`` at the call site): its message may quote the key back
(OpenAI's 401 does, masked) and its request object holds the auth header.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import anthropic
import httpx2
import openai

from snapagent.errors import ProviderError
from snapagent.llm.errors import (
    ProviderMalformedResponseError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    error_for_status,
    parse_retry_after,
    redact,
)

__all__ = ["translate_sdk_error"]

_STATUS_ERRORS = (anthropic.APIStatusError, openai.APIStatusError)
_VALIDATION_ERRORS = (anthropic.APIResponseValidationError, openai.APIResponseValidationError)
_TIMEOUT_ERRORS = (anthropic.APITimeoutError, openai.APITimeoutError, httpx2.TimeoutException)
_CONNECTION_ERRORS = (
    anthropic.APIConnectionError,
    openai.APIConnectionError,
    httpx2.TransportError,
)


def _body_message(body: object) -> str:
    """The human part of an error body: {"error": {"message": ...}} or {"message": ...}."""
    if isinstance(body, dict):
        inner: Any = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return str(body["message"])
    if isinstance(body, str) and body:
        return body
    return ""


# An error event inside a 200 stream has no HTTP status of its own: derive one from its type.
_STATUS_OF_ERROR_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "overloaded_error": 529,
}


def _error_type(body: object) -> str:
    if isinstance(body, dict):
        inner: Any = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("type"), str):
            return str(inner["type"])
    return ""


def _retry_after(headers: Any) -> float | None:
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        seconds = parse_retry_after(milliseconds)
        return None if seconds is None else seconds / 1000
    return parse_retry_after(headers.get("retry-after"))


def translate_sdk_error(
    exc: BaseException, *, provider: str, model: str, secrets: Iterable[str | None] = ()
) -> ProviderError | None:
    """Our error for an SDK/transport exception, or None if ``exc`` is not one of those."""
    kw: dict[str, Any] = {"provider": provider, "model": model}
    where = f"{provider} model {model!r}"
    if isinstance(exc, _VALIDATION_ERRORS):
        return ProviderMalformedResponseError(
            f"{where}: the response did not match the API schema", status_code=exc.status_code, **kw
        )
    if isinstance(exc, _STATUS_ERRORS):
        response = exc.response
        detail = _body_message(exc.body) or response.reason_phrase or "no detail"
        status = exc.status_code
        if status < 400:
            status = _STATUS_OF_ERROR_TYPE.get(_error_type(exc.body), 500)
        return error_for_status(
            status,
            detail,
            retry_after=_retry_after(response.headers),
            secrets=secrets,
            **kw,
        )
    if isinstance(exc, _TIMEOUT_ERRORS):
        return ProviderTimeoutError(f"{where}: no response within the timeout", **kw)
    if isinstance(exc, _CONNECTION_ERRORS):
        reason = redact(str(exc) or type(exc).__name__, secrets)
        return ProviderUnavailableError(f"{where}: connection failed: {reason}", **kw)
    if isinstance(exc, (json.JSONDecodeError, anthropic.AnthropicError, openai.OpenAIError)):
        reason = redact(str(exc) or type(exc).__name__, secrets)
        return ProviderMalformedResponseError(f"{where}: unusable response: {reason}", **kw)
    return None
