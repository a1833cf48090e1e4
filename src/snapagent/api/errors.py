"""The one place where errors become HTTP answers: RFC 9457 ``application/problem+json``.

Routes never raise ``HTTPException``; services raise the families of :mod:`snapagent.errors`
and :func:`install_error_handlers` maps each family to a status. Every answer has ``type``,
``title``, ``status`` and ``detail``; field problems add ``errors: [{field, reason}]``. Anything
unexpected is logged with a reference id and answered as a bare 500 that leaks nothing.

    app = FastAPI()
    install_error_handlers(app)
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from snapagent import errors as e
from snapagent.services.database_outage import is_database_unreachable

__all__ = ["PROBLEM_JSON", "install_error_handlers", "problem_response"]

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

# Most specific first: the first family an error belongs to decides its status.
_FAMILIES: tuple[tuple[type[e.SnapAgentError], int, str], ...] = (
    (e.GraphValidationError, 422, "invalid-workflow"),
    (e.InputValidationError, 422, "validation-error"),
    (e.DefinitionError, 422, "invalid-definition"),
    (e.AuthenticationError, 401, "unauthenticated"),
    (e.PermissionDeniedError, 403, "forbidden"),
    (e.NotFoundError, 404, "not-found"),
    (e.ConflictError, 409, "conflict"),
    (e.PayloadTooLargeError, 413, "payload-too-large"),
    (e.UnsupportedMediaError, 415, "unsupported-media-type"),
    (e.RateLimitedError, 429, "rate-limited"),
    (e.UnavailableError, 503, "unavailable"),
    (e.NodeTimeoutError, 504, "timeout"),
    (e.RunLimitError, 504, "run-limit-exceeded"),
    (e.ProviderError, 502, "provider-error"),
    (e.NodeExecutionError, 500, "workflow-failed"),
)

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


_RESERVED_MEMBERS = frozenset({"type", "title", "status", "detail", "errors", "problems"})


def _type_uri(slug: str) -> str:
    return f"urn:snapagent:problem:{slug}"


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    errors: Sequence[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response; ``extra`` adds members (e.g. ``problems``)."""
    body: dict[str, Any] = {
        "type": _type_uri(slug) if slug else "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = list(errors)
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _status_of(exc: e.SnapAgentError) -> tuple[int, str]:
    for family, status, slug in _FAMILIES:
        if isinstance(exc, family):
            if status == 502 and isinstance(exc, TimeoutError):
                return 504, "provider-timeout"
            return status, slug
    return 500, "internal-error"


def _problem_dict(problem: Any) -> dict[str, Any]:
    """A graph problem (mapping, engine ValidationProblem, pydantic model) as JSON."""
    if isinstance(problem, Mapping):
        return dict(problem)
    if hasattr(problem, "to_dict"):
        return dict(problem.to_dict())
    if hasattr(problem, "model_dump"):
        return dict(problem.model_dump(mode="json"))
    if hasattr(problem, "__dataclass_fields__"):
        return {name: getattr(problem, name) for name in problem.__dataclass_fields__}
    return {"message": str(problem)}


def graph_problem_errors(problems: Sequence[Any]) -> list[dict[str, Any]]:
    """``errors`` entries for graph problems: field = the node/edge/path, reason = message."""
    out = []
    for raw in problems:
        problem = _problem_dict(raw)
        if problem.get("path"):
            path = problem["path"]
            field = ".".join(str(p) for p in path) if isinstance(path, list | tuple) else str(path)
        elif problem.get("edge_index") is not None:
            field = f"edges[{problem['edge_index']}]"
        elif problem.get("node_id"):
            field = f"nodes[{problem['node_id']}]"
        else:
            field = "graph"
        out.append({"field": field, "reason": str(problem.get("message", ""))})
    return out


async def _snapagent_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, e.SnapAgentError)
    status, slug = _status_of(exc)
    headers: dict[str, str] = {}
    errors: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    if isinstance(exc, e.AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, e.RateLimitedError):
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    if isinstance(exc, e.InputValidationError) and exc.field:
        errors.append({"field": exc.field, "reason": exc.message})
    if isinstance(exc, e.GraphValidationError):
        errors = graph_problem_errors(exc.problems)
        extra["problems"] = [_problem_dict(p) for p in exc.problems]
    if isinstance(exc, e.ConflictError):
        # What the conflict is with (the bots using a knowledge base...): the caller's own.
        extra.update({k: v for k, v in exc.details.items() if k not in _RESERVED_MEMBERS})
    if status >= 500:
        log.warning("%s on %s %s: %s", type(exc).__name__, request.method, request.url.path, exc)
    return problem_response(
        status, exc.message, slug=slug, errors=errors, headers=headers or None, **extra
    )


def _field_of(loc: Sequence[Any]) -> str:
    # Drop the "body"/"query"/... source so clients see the field as they sent it.
    parts = [str(p) for p in loc[1:]] if len(loc) > 1 else [str(p) for p in loc]
    return ".".join(parts) or "body"


async def _request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field_of(err.get("loc", ())), "reason": err.get("msg", "")}
        for err in exc.errors()
    ]
    return problem_response(
        422, "the request is not valid; see errors", slug="validation-error", errors=errors
    )


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 404:
        detail = f"no resource at {request.url.path}"
    elif status == 413:
        detail = "the request body exceeds the configured size limit"
    else:
        detail = str(exc.detail) if exc.detail else _TITLES.get(status, "Error")
    return problem_response(status, detail, headers=dict(exc.headers or {}) or None)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database error on %s %s: %s", request.method, request.url.path, type(exc))
    return problem_response(
        503, "the database is unavailable or busy; retry later", slug="unavailable"
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    # A driver error: 503 when it says the database is down or restarting (a connection cut
    # mid-query, "the database system is shutting down"), else an unexpected 500.
    if is_database_unreachable(exc):
        return await _database_unavailable(request, exc)
    return await _unexpected(request, exc)


async def _unstorable_value(request: Request, exc: Exception) -> JSONResponse:
    # The database refused a value the schemas let through (a NUL character in text on
    # PostgreSQL, a number out of a column's range): the request's fault, not the server's.
    log.info("database refused a value on %s %s: %s", request.method, request.url.path, exc)
    return problem_response(
        422,
        "a value in the request cannot be stored (NUL characters, or a number out of range)",
        slug="validation-error",
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    reference = uuid.uuid4().hex[:12]
    log.error(
        "unhandled error (reference %s) on %s %s",
        reference,
        request.method,
        request.url.path,
        exc_info=exc,
    )
    return problem_response(
        500, f"an unexpected error occurred (reference {reference})", slug="internal-error"
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register every mapping on ``app``."""
    app.add_exception_handler(e.SnapAgentError, _snapagent_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(OperationalError, _database_unavailable)
    # asyncpg raises a refused connection as a bare ConnectionRefusedError (not wrapped).
    app.add_exception_handler(ConnectionError, _database_unavailable)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(DataError, _unstorable_value)
    app.add_exception_handler(Exception, _unexpected)
