"""Execution records of a bot: list (cursor-paginated), statistics, detail with node executions.

``/statistics`` is declared before ``/{run_id}`` so it is never read as a run id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from snapagent.api.deps import CurrentUser, DbSession
from snapagent.api.json_route import OffLoopJsonRoute
from snapagent.api.schemas.common import problem_responses
from snapagent.services.executions import MAX_PAGE_SIZE, ExecutionService, RunDetail, RunPage
from snapagent.services.statistics import RunStatistics, StatisticsService
from snapagent.services.workflow_versions import get_owned_bot

__all__ = ["router"]

router = APIRouter(
    route_class=OffLoopJsonRoute,
    prefix="/api/v1/bots/{bot_id}/workflow-executions",
    tags=["executions"],
    responses=problem_responses(401, 404, 422),
)


@router.get("", summary="List a bot's workflow runs, newest first")
async def list_executions(
    bot_id: str,
    user: CurrentUser,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 10,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page")
    ] = None,
    status: Annotated[
        str | None, Query(pattern="^(succeeded|failed|cancelled)$", description="run status")
    ] = None,
    version: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="published version number")
    ] = None,
    engine: Annotated[
        str | None, Query(pattern="^(v1|v2)$", description="engine that ran it: v1 or v2")
    ] = None,
    trigger: Annotated[
        str | None,
        Query(
            pattern="^(chat|debug)$",
            description="chat (users' turns) or debug (debug runs and replays); default: both",
        ),
    ] = None,
) -> RunPage:
    """A bot's run records, newest first, with cursor pagination and filters."""
    await get_owned_bot(session, user, bot_id)
    return await ExecutionService(session).list_runs(
        bot_id,
        limit=limit,
        cursor=cursor,
        status=status,
        version=version,
        engine=engine,
        trigger=trigger,
    )


@router.get(
    "/statistics", summary="Run counts, success rate, latency and tokens of a bot, by engine too"
)
async def execution_statistics(
    bot_id: str,
    user: CurrentUser,
    session: DbSession,
    start: Annotated[
        datetime | None, Query(description="inclusive, ISO 8601 (no zone means UTC)")
    ] = None,
    end: Annotated[datetime | None, Query(description="exclusive, ISO 8601")] = None,
) -> RunStatistics:
    """Counts, success rate, latency percentiles and tokens of a bot's runs in a time range, per
    day, per node and per engine."""
    await get_owned_bot(session, user, bot_id)
    return await StatisticsService(session).compute(bot_id, start=start, end=end)


@router.get("/{run_id}", summary="One run with its node executions")
async def get_execution(
    bot_id: str, run_id: str, user: CurrentUser, session: DbSession
) -> RunDetail:
    """One run with its inputs, outputs, error and every node execution."""
    await get_owned_bot(session, user, bot_id)
    return await ExecutionService(session).get_run(bot_id, run_id)
