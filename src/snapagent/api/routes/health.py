"""``GET /health``: liveness plus the database's state (503 while the database is down).

Monitors and load balancers call this route more than any other, so the app answers it with
`serve_health`, a plain ASGI app (`IndexedRouter` hands it the request FastAPI would have
routed to the endpoint, see `snapagent.api.route_index.served_by`): no `Request`, no
dependency solving, no serializing - the same answer, byte for byte. The endpoint below
declares the route (its OpenAPI entry, FastAPI's own router) and answers the same way.
"""

from __future__ import annotations

import functools
from importlib.metadata import version
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from snapagent.api.json_route import OffLoopJsonRoute
from snapagent.api.route_index import served_by
from snapagent.api.state import AppState

router = APIRouter(route_class=OffLoopJsonRoute, tags=["health"])

# Read once: the installed version cannot change while the process runs.
_VERSION = version("snapagent")


async def _answer(state: AppState) -> Response:
    db: dict[str, Any] = await state.database.health()
    if db.keys() == {"status", "dialect"} and db["status"] == "ok":
        # The usual answer, encoded once per dialect: the same bytes JSONResponse would make.
        return Response(_ok_body(db["dialect"]), media_type=JSONResponse.media_type)
    return _render(db)


def _render(db: dict[str, Any]) -> JSONResponse:
    ok = db.get("status") == "ok"
    body = {"status": "ok" if ok else "degraded", "version": _VERSION, "database": db}
    return JSONResponse(body, status_code=200 if ok else 503)


@functools.cache
def _ok_body(dialect: str) -> bytes:
    return bytes(_render({"status": "ok", "dialect": dialect}).body)


async def serve_health(scope: Scope, receive: Receive, send: Send) -> None:
    """``GET /health`` as a plain ASGI app (see the module docstring)."""
    response = await _answer(scope["app"].state.snapagent)
    await response(scope, receive, send)


@router.get("/health", summary="Liveness and database check")
@served_by(serve_health)
async def health(request: Request) -> Response:
    """Liveness: the process answers, with the database's state (503, `degraded`, while it is
    unreachable)."""
    return await _answer(request.app.state.snapagent)
