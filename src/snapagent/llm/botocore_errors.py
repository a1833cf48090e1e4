"""Turn botocore exceptions (Bedrock) into our provider errors.

Bedrock names its errors by code (``ThrottlingException``); inside a ConverseStream they arrive
as events with lower-camel names (``throttlingException``) on an HTTP 200, so the code, not
the status, decides the class. botocore is imported by the call, not with this module: only a
Bedrock client, which has already loaded it, raises what is translated here.
"""

from __future__ import annotations

from typing import Any

from snapagent.errors import ProviderError
from snapagent.llm.errors import (
    ProviderMalformedResponseError,
    ProviderNotConfiguredError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    error_for_status,
    parse_retry_after,
    redact,
)

__all__ = ["translate_botocore_error"]

_STATUS_OF_CODE = {
    "validationexception": 400,
    "accessdeniedexception": 403,
    "unrecognizedclientexception": 401,
    "expiredtokenexception": 401,
    "resourcenotfoundexception": 404,
    "modeltimeoutexception": 408,
    "throttlingexception": 429,
    "servicequotaexceededexception": 429,
    "internalserverexception": 500,
    "modelstreamerrorexception": 500,
    "modelerrorexception": 500,
    "modelnotreadyexception": 503,
    "serviceunavailableexception": 503,
}


def translate_botocore_error(
    exc: BaseException, *, provider: str, model: str
) -> ProviderError | None:
    """Our error for a botocore exception, or None if ``exc`` is not one."""
    from botocore import exceptions as boto_errors

    kw: dict[str, Any] = {"provider": provider, "model": model}
    where = f"{provider} model {model!r}"
    if isinstance(exc, boto_errors.ClientError):
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        code = str(error.get("Code", ""))
        status = _STATUS_OF_CODE.get(code.lower()) or int(meta.get("HTTPStatusCode") or 500)
        headers = meta.get("HTTPHeaders", {})
        detail = f"{code}: {error.get('Message', '')}".strip(": ")
        return error_for_status(
            status, detail, retry_after=parse_retry_after(headers.get("retry-after")), **kw
        )
    if isinstance(exc, (boto_errors.NoCredentialsError, boto_errors.PartialCredentialsError)):
        return ProviderNotConfiguredError(
            f"{where}: no AWS credentials (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "AWS_PROFILE or an instance role)",
            setting="AWS_ACCESS_KEY_ID",
            **kw,
        )
    if isinstance(exc, (boto_errors.ReadTimeoutError, boto_errors.ConnectTimeoutError)):
        return ProviderTimeoutError(f"{where}: no response within the timeout", **kw)
    if isinstance(exc, (boto_errors.HTTPClientError, boto_errors.EndpointConnectionError)):
        return ProviderUnavailableError(f"{where}: connection failed: {redact(str(exc))}", **kw)
    if isinstance(exc, boto_errors.ResponseParserError):
        return ProviderMalformedResponseError(
            f"{where}: unusable response: {redact(str(exc))}", **kw
        )
    return None
