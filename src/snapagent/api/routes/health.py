"""``GET /health``: liveness plus the database's state (503 while the database is down)."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from snapagent.api.deps import DatabaseDep

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness and database check")
async def health(database: DatabaseDep) -> JSONResponse:
    db: dict[str, Any] = await database.health()
    ok = db.get("status") == "ok"
    body = {"status": "ok" if ok else "degraded", "version": version("snapagent"), "database": db}
    return JSONResponse(body, status_code=200 if ok else 503)
