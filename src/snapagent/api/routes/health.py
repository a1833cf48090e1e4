"""``GET /health``: liveness plus the database's state (503 while the database is down)."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from snapagent.api.deps import DatabaseDep
from snapagent.api.json_route import OffLoopJsonRoute

router = APIRouter(route_class=OffLoopJsonRoute, tags=["health"])

# Read once: the installed version cannot change while the process runs.
_VERSION = version("snapagent")


@router.get("/health", summary="Liveness and database check")
async def health(database: DatabaseDep) -> JSONResponse:
    """Liveness: the process answers, with the database's state (503, `degraded`, while it is
    unreachable)."""
    db: dict[str, Any] = await database.health()
    ok = db.get("status") == "ok"
    body = {"status": "ok" if ok else "degraded", "version": _VERSION, "database": db}
    return JSONResponse(body, status_code=200 if ok else 503)
