"""``GET /health/ready``: may this replica take traffic? (database reachable, schema at head)

``/health`` answers "is the process alive"; a load balancer routes to a replica only while
this says ready. It answers 503 problem+json (``type`` ``urn:snapagent:problem:not-ready``,
``checks`` naming what failed) when the database does not answer within
``READINESS_TIMEOUT_S`` or its schema is not at the newest migration (run ``snapagent db
upgrade``). Like ``/health`` it needs no credentials and reveals no secret.

    curl -fsS http://127.0.0.1:8000/health/ready
    {"status": "ready", "database": {"status": "ok", "dialect": "postgresql",
     "revision": "0003", "head": ["0003"]}}
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from snapagent.api.deps import DatabaseDep
from snapagent.api.errors import problem_response
from snapagent.api.json_route import OffLoopJsonRoute
from snapagent.db.migrate import current_revision, head_revisions
from snapagent.db.session import Database
from snapagent.errors import UnavailableError

router = APIRouter(route_class=OffLoopJsonRoute, tags=["health"])

# Load balancers time out their probes after a few seconds; answer before they do.
READINESS_TIMEOUT_S = 3.0


@lru_cache(maxsize=1)
def _heads() -> tuple[str, ...]:
    # The packaged migrations do not change while the process runs: read them once.
    return tuple(head_revisions())


async def _database_state(database: Database) -> dict[str, Any]:
    heads = list(_heads())
    state: dict[str, Any] = {"dialect": database.dialect, "head": heads}
    try:
        revision = await asyncio.wait_for(current_revision(database), READINESS_TIMEOUT_S)
    except TimeoutError:
        return {**state, "status": "unavailable", "detail": "no answer within the probe timeout"}
    except UnavailableError as exc:
        return {**state, "status": "unavailable", "detail": exc.message}
    state["revision"] = revision
    if revision not in heads:
        return {**state, "status": "behind", "detail": "run `snapagent db upgrade`"}
    return {**state, "status": "ok"}


# Public like /health (load balancers call it) and never rate limited; documented in the
# OpenAPI schema beside /health so operators find both probes in /docs.
@router.get("/health/ready", summary="Readiness: database reachable, migrations at head")
async def ready(database: DatabaseDep) -> JSONResponse:
    """Readiness: may this replica take traffic? The database answers and its schema is at the
    newest migration; 503 `not-ready` otherwise."""
    db = await _database_state(database)
    if db["status"] == "ok":
        return JSONResponse({"status": "ready", "database": db})
    return problem_response(
        503,
        f"not ready: database {db['status']} ({db['detail']})",
        slug="not-ready",
        checks={"database": db},
    )
