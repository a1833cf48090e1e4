"""Request context: request id in and out, access log, HTTP metrics, EMF on 5xx.

An incoming ``X-Request-ID`` (1-128 of letters, digits, ``.``, ``_``, ``-``) is kept, anything
else is replaced by a fresh id; the answer echoes it. While the request runs, its id is in the
log context.
Every request ends with one access log line (5xx at ERROR) and one observation in the metrics.

    app.add_middleware(RequestContextMiddleware, metrics=metrics, emf=None)
"""

from __future__ import annotations

import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from snapagent.db.base import new_id
from snapagent.log_context import request_id_var, run_id_var
from snapagent.observability.access_log import AccessLog
from snapagent.observability.emf import EmfEmitter
from snapagent.observability.metrics import Metrics
from snapagent.observability.routing import UNMATCHED, route_template

__all__ = ["REQUEST_ID_HEADER", "RequestContextMiddleware"]

REQUEST_ID_HEADER = "X-Request-ID"
_HEADER_NAME = REQUEST_ID_HEADER.lower().encode()
_VALID_ID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")

access_log = AccessLog(logging.getLogger("snapagent.access"))


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _VALID_ID.match(candidate) else None
    return None


class RequestContextMiddleware:
    """Pure ASGI middleware (streams pass through untouched); see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        emf: EmfEmitter | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.emf = emf

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # new_id, not uuid.uuid4: the same CSPRNG bits, read in bulk (uuid4 is a system call).
        request_id = _incoming_id(scope) or new_id()
        request_id_var.set(request_id)
        run_id_var.set(None)
        status = 500
        header = (_HEADER_NAME, request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            status = 500  # the server's error middleware answers it; log and count here
            raise
        finally:
            self._finish(scope, status, time.perf_counter() - started, request_id)

    def _finish(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        route = route_template(scope) or UNMATCHED
        method = str(scope["method"])
        self.metrics.observe_http(method, route, status, seconds)
        access_log.write(method, str(scope.get("path", "")), route, status, seconds)
        if status >= 500 and self.emf is not None:
            self.emf.error_count(status=status, route=route, method=method, request_id=request_id)
