"""``GET /health``: liveness plus the database's state (503 while the database is down)."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from snapagent.api.json_route import OffLoopJsonRoute
from snapagent.api.state import AppState

router = APIRouter(route_class=OffLoopJsonRoute, tags=["health"])

# Read once: the installed version cannot change while the process runs.
_VERSION = version("snapagent")


@router.get("/health", summary="Liveness and database check")
async def health(request: Request) -> JSONResponse:
    """Liveness: the process answers, with the database's state (503, `degraded`, while it is
    unreachable)."""
    # The database straight from the app's state, not through DatabaseDep: monitors call this
    # route more than any other, and each dependency is solved anew per request.
    state: AppState = request.app.state.snapagent
    db: dict[str, Any] = await state.database.health()
    ok = db.get("status") == "ok"
    body = {"status": "ok" if ok else "degraded", "version": _VERSION, "database": db}
    return JSONResponse(body, status_code=200 if ok else 503)
