"""The V1 -> V2 migration at a glance: ``GET /api/v1/migration/status``.

Counts cover the caller's own bots (another owner's bots are never visible); run figures come
from the execution records of the last 24 hours, split by engine, against the seed's 99 % goal.
"""

from __future__ import annotations

from fastapi import APIRouter

from snapagent.api.deps import CurrentUser, DbSession
from snapagent.api.json_route import OffLoopJsonRoute
from snapagent.api.schemas.common import problem_responses
from snapagent.services.rollout import MigrationStatus, migration_status

__all__ = ["router"]

router = APIRouter(
    route_class=OffLoopJsonRoute,
    prefix="/api/v1/migration",
    tags=["migration"],
    responses=problem_responses(401),
)


@router.get("/status", summary="Migration and rollout state of your bots, V2 success rate (24 h)")
async def get_migration_status(user: CurrentUser, session: DbSession) -> MigrationStatus:
    """Where each of the caller's bots stands in the V1 -> V2 migration and rollout, and V2's
    success rate over 24 hours against the 99% goal."""
    return await migration_status(session, user.id)
