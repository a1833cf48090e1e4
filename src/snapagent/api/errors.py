"""The one place where errors become HTTP answers: RFC 9457 ``application/problem+json``.

Routes never raise ``HTTPException``; services raise the families of :mod:`snapagent.errors`.
:func:`problem_of` is the one table from an exception to a :class:`Problem` (status, type URN,
detail, field errors): the JSON error handlers (:func:`install_error_handlers`) answer with it,
and a streamed chat ends with an ``error`` event made from it (:func:`error_event`), so a
client sees the same status and ``type`` either way. Every answer has ``type``, ``title``,
``status`` and ``detail``; field problems add ``errors: [{field, reason}]``. Anything unexpected
is logged with a reference id and answered as a bare 500 that leaks nothing.

Under the OpenAI-compatible prefix (``/v1/...``) the same problem is rendered in OpenAI's error
shape, ``{"error": {"message", "type", "param", "code"}}`` (:meth:`Problem.openai_body`), so the
official SDKs raise their usual exceptions; the status and headers (``Retry-After``,
``WWW-Authenticate``) are the table's either way. :func:`render_problem` picks the shape by path
for every answer: route errors, body limits and rate limits alike.

    app = FastAPI()
    install_error_handlers(app)
    problem_of(NotFoundError("bot 1 not found")).status      # 404
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from snapagent import errors as e
from snapagent.services.database_outage import is_database_unreachable
from snapagent.workflow.validation import format_loc

__all__ = [
    "OPENAI_PREFIX",
    "PROBLEM_JSON",
    "Problem",
    "error_event",
    "install_error_handlers",
    "problem_of",
    "problem_response",
    "render_problem",
    "resolve_problem",
]

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

# The table. Most specific first: the first family an error belongs to decides its status.
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

OPENAI_PREFIX = "/v1"
"""Answers under this path use OpenAI's error shape (the OpenAI-compatible API lives here)."""

# OpenAI's error ``type`` for a status (its SDKs pick the exception class by status alone).
_OPENAI_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
# OpenAI's well-known ``code`` values where one fits; otherwise the problem's slug.
_OPENAI_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}


def _type_uri(slug: str) -> str:
    return f"urn:snapagent:problem:{slug}"


@dataclass(frozen=True, slots=True)
class Problem:
    """An error as the client sees it; ``unexpected`` ones are logged with a reference."""

    status: int
    detail: str
    slug: str | None = None
    errors: Sequence[Mapping[str, Any]] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    unexpected: bool = False

    @property
    def type(self) -> str:
        return _type_uri(self.slug) if self.slug else "about:blank"

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type,
            "title": _TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = [dict(error) for error in self.errors]
        body.update(self.extra)
        return body

    def response(self) -> JSONResponse:
        return JSONResponse(
            self.body(),
            status_code=self.status,
            headers=dict(self.headers) or None,
            media_type=PROBLEM_JSON,
        )

    @property
    def param(self) -> str | None:
        """The request field the problem is about (the first one), if any."""
        return str(self.errors[0].get("field")) if self.errors else None

    def openai_body(self) -> dict[str, Any]:
        """The problem in OpenAI's error shape (see the module docstring)."""
        if self.status >= 500:
            kind = "server_error"
        else:
            kind = _OPENAI_TYPES.get(self.status, "invalid_request_error")
        code = _OPENAI_CODES.get(self.status)
        if code is None and self.status == 404 and self.param == "model":
            code = "model_not_found"
        if code is None:
            code = (self.slug or "error").replace("-", "_")
        # One message: OpenAI's shape has no list of field problems, so they are spelled out.
        message = self.detail
        fields = [f"{p.get('field')}: {p.get('reason')}" for p in self.errors[:5]]
        if fields and not (len(self.errors) == 1 and self.errors[0].get("reason") == message):
            message = f"{message} ({'; '.join(fields)})"
        return {"error": {"message": message, "type": kind, "param": self.param, "code": code}}

    def openai_response(self) -> JSONResponse:
        return JSONResponse(
            self.openai_body(), status_code=self.status, headers=dict(self.headers) or None
        )


def render_problem(problem: Problem, path: str) -> JSONResponse:
    """``problem`` as the API at ``path`` speaks: OpenAI's error shape under
    :data:`OPENAI_PREFIX`, problem+json everywhere else."""
    if path == OPENAI_PREFIX or path.startswith(OPENAI_PREFIX + "/"):
        return problem.openai_response()
    return problem.response()


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    errors: Sequence[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
    path: str = "",
    **extra: Any,
) -> JSONResponse:
    """A problem response built by hand (middleware answering before any route), in the
    shape the API at ``path`` speaks (:func:`render_problem`)."""
    return render_problem(Problem(status, detail, slug, errors, headers or {}, extra), path)


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


def _family_problem(exc: e.SnapAgentError) -> Problem:
    status, slug = 500, "internal-error"
    for family, family_status, family_slug in _FAMILIES:
        if isinstance(exc, family):
            status, slug = family_status, family_slug
            if status == 502 and isinstance(exc, TimeoutError):
                status, slug = 504, "provider-timeout"
            break
    headers: dict[str, str] = {}
    errors: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    if isinstance(exc, e.AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, e.RateLimitedError):
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    if isinstance(exc, e.InputValidationError) and exc.field:
        errors.append({"field": exc.field, "reason": exc.message})
    if isinstance(exc, e.NotFoundError) and isinstance(exc.details.get("field"), str):
        # What was looked up and not found, when a request field named it (a model id...).
        errors.append({"field": exc.details["field"], "reason": exc.message})
    if isinstance(exc, e.GraphValidationError):
        errors = graph_problem_errors(exc.problems)
        extra["problems"] = [_problem_dict(p) for p in exc.problems]
    if isinstance(exc, e.ConflictError):
        # What the conflict is with (the bots using a knowledge base...): the caller's own.
        extra.update({k: v for k, v in exc.details.items() if k not in _RESERVED_MEMBERS})
    if isinstance(exc.details.get("run_id"), str):
        extra["run_id"] = exc.details["run_id"]  # a failed run: its record is readable
    return Problem(status, exc.message, slug, errors, headers, extra)


def _field_of(loc: Sequence[Any]) -> str:
    # Drop the "body"/"query"/... source so clients see the field as they sent it, in the path
    # style of graph problems (``files[0].data``).
    parts = list(loc[1:]) if len(loc) > 1 else list(loc)
    return format_loc([p if isinstance(p, int) else str(p) for p in parts]) or "body"


_SEND_JSON = "send a JSON document with Content-Type: application/json"


def _not_json(exc: RequestValidationError) -> Problem | None:
    """The body could not be read as JSON at all: say where it broke, or that it must be JSON.

    FastAPI reports a decoding error at a character offset of the body (kept as ``exc.body``)
    and a body of another media type (a form post) as raw bytes that are "not a valid
    dictionary"; neither tells a user what to change.
    """
    errors = exc.errors()
    if len(errors) != 1:
        return None
    err = errors[0]
    loc = tuple(err.get("loc", ()))
    if err.get("type") == "json_invalid" and len(loc) == 2 and isinstance(loc[1], int):
        document = exc.body if isinstance(exc.body, str) else ""
        offset = min(loc[1], len(document))
        line = document.count("\n", 0, offset) + 1
        column = offset - (document.rfind("\n", 0, offset) + 1) + 1
        why = str((err.get("ctx") or {}).get("error") or "invalid JSON")
        reason = f"not valid JSON at line {line}, column {column}: {why}"
        detail = f"the request body must be JSON; it is {reason} ({_SEND_JSON})"
        return Problem(422, detail, "validation-error", [{"field": "body", "reason": reason}])
    if loc == ("body",) and isinstance(err.get("input"), bytes | bytearray):
        reason = f"the body is not JSON: {_SEND_JSON}"
        detail = f"the request body must be JSON ({_SEND_JSON}, not a form or plain text)"
        return Problem(422, detail, "validation-error", [{"field": "body", "reason": reason}])
    return None


def _request_problem(exc: RequestValidationError) -> Problem:
    not_json = _not_json(exc)
    if not_json is not None:
        return not_json
    errors = [
        {"field": _field_of(err.get("loc", ())), "reason": err.get("msg", "")}
        for err in exc.errors()
    ]
    return Problem(422, "the request is not valid; see errors", "validation-error", errors)


def problem_of(exc: BaseException) -> Problem:
    """The one table: what the client is told about ``exc``."""
    if isinstance(exc, e.SnapAgentError):
        return _family_problem(exc)
    if is_database_unreachable(exc):  # a driver's error: the database is down or restarting
        return Problem(503, "the database is unavailable or busy; retry later", "unavailable")
    if isinstance(exc, DataError):
        # The database refused a value the schemas let through (a NUL character in text on
        # PostgreSQL, a number out of a column's range): the request's fault, not the server's.
        return Problem(
            422,
            "a value in the request cannot be stored (NUL characters, or a number out of range)",
            "validation-error",
        )
    if isinstance(exc, RequestValidationError):
        return _request_problem(exc)
    if isinstance(exc, StarletteHTTPException):
        status = exc.status_code
        if status == 404:
            detail = "no resource at this path"
        elif status == 413:
            detail = "the request body exceeds the configured size limit"
        else:
            detail = str(exc.detail) if exc.detail else _TITLES.get(status, "Error")
        return Problem(status, detail, headers=dict(exc.headers or {}))
    return Problem(500, "an unexpected error occurred", "internal-error", unexpected=True)


def error_event(exc: BaseException, run_id: str | None) -> dict[str, Any]:
    """The data of a chat stream's ``error`` event: the problem a JSON answer would have
    been (``type`` URN, ``title``, ``status``, ``detail``) and the run it ends."""
    problem = problem_of(exc)
    body = problem.body()
    if problem.unexpected:
        body["detail"] = "internal error (logged)"
    return {**body, "run_id": run_id}


def resolve_problem(request: Request, exc: BaseException) -> Problem:
    """:func:`problem_of` as an answer to ``request``: logged (unexpected errors with a
    reference the client is given, server-side failures as warnings) and ready to send."""
    problem = problem_of(exc)
    where = f"{request.method} {request.url.path}"
    if problem.unexpected:
        reference = uuid.uuid4().hex[:12]
        log.error("unhandled error (reference %s) on %s", reference, where, exc_info=exc)
        detail = f"an unexpected error occurred (reference {reference})"
        problem = Problem(500, detail, problem.slug)
    elif problem.status == 503 and not isinstance(exc, e.SnapAgentError):
        log.warning("database error on %s: %s", where, type(exc))
    elif problem.status >= 500:
        log.warning("%s on %s: %s", type(exc).__name__, where, exc)
    elif isinstance(exc, DataError):
        log.info("database refused a value on %s: %s", where, exc)
    if isinstance(exc, StarletteHTTPException) and exc.status_code == 404:
        problem = Problem(404, f"no resource at {request.url.path}", headers=problem.headers)
    return problem


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    return render_problem(resolve_problem(request, exc), request.url.path)


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception through :func:`problem_of` (one handler for all of them)."""
    # Starlette picks the handler of the nearest class in the exception's MRO: these are the
    # roots of what can reach it (asyncpg raises a refused connection as a bare
    # ConnectionRefusedError; driver errors are DBAPIError; everything else is Exception).
    for exc_class in (
        e.SnapAgentError,
        RequestValidationError,
        StarletteHTTPException,
        ConnectionError,
        DBAPIError,
        Exception,
    ):
        app.add_exception_handler(exc_class, _handle)
