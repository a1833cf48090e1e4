"""Turn exceptions of the official ``anthropic`` and ``openai`` SDKs into our provider errors.

Both SDKs are generated from the same template, so one translator serves both. The SDK's own
exception is not chained (``from None`` at the call site): its message may quote the key back
(OpenAI's 401 does, masked) and its request object holds the auth header.

Neither SDK is imported here (each takes seconds on a busy machine, see `snapagent.llm.lazy`):
the translator matches the classes of the SDKs already loaded - an exception of an SDK can
only exist once its client, and so the SDK, was imported.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Any

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

_SDKS = ("anthropic", "openai")
_TRANSPORT = "httpx2"  # the HTTP client both SDKs are built on


def _loaded(modules: Iterable[str], name: str) -> tuple[type[BaseException], ...]:
    """Exception class ``name`` of each of ``modules`` imported so far."""
    found = (getattr(sys.modules.get(module), name, None) for module in modules)
    return tuple(cls for cls in found if isinstance(cls, type))


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
    sdk_exc: Any = exc  # the SDKs' classes are looked up at run time, so untyped here
    if isinstance(exc, _loaded(_SDKS, "APIResponseValidationError")):
        return ProviderMalformedResponseError(
            f"{where}: the response did not match the API schema",
            status_code=sdk_exc.status_code,
            **kw,
        )
    if isinstance(exc, _loaded(_SDKS, "APIStatusError")):
        response = sdk_exc.response
        detail = _body_message(sdk_exc.body) or response.reason_phrase or "no detail"
        status = sdk_exc.status_code
        if status < 400:
            status = _STATUS_OF_ERROR_TYPE.get(_error_type(sdk_exc.body), 500)
        return error_for_status(
            status,
            detail,
            retry_after=_retry_after(response.headers),
            secrets=secrets,
            **kw,
        )
    timeouts = _loaded(_SDKS, "APITimeoutError") + _loaded([_TRANSPORT], "TimeoutException")
    if isinstance(exc, timeouts):
        return ProviderTimeoutError(f"{where}: no response within the timeout", **kw)
    if isinstance(
        exc, _loaded(_SDKS, "APIConnectionError") + _loaded([_TRANSPORT], "TransportError")
    ):
        reason = redact(str(exc) or type(exc).__name__, secrets)
        return ProviderUnavailableError(f"{where}: connection failed: {reason}", **kw)
    sdk_errors = _loaded(["anthropic"], "AnthropicError") + _loaded(["openai"], "OpenAIError")
    if isinstance(exc, (json.JSONDecodeError, *sdk_errors)):
        reason = redact(str(exc) or type(exc).__name__, secrets)
        return ProviderMalformedResponseError(f"{where}: unusable response: {reason}", **kw)
    return None
