"""Bots: create, list, read, update, delete; and the legacy (V1) workflow."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response, status

from snapagent.api.deps import Bots, CurrentUser, PageQuery
from snapagent.api.json_route import OffLoopJsonRoute
from snapagent.api.schemas.bots import (
    BotCreate,
    BotPublic,
    BotsPublic,
    BotUpdate,
    LegacyWorkflowPublic,
)
from snapagent.api.schemas.common import problem_responses
from snapagent.db.models.bots import Bot
from snapagent.errors import InputValidationError

router = APIRouter(
    route_class=OffLoopJsonRoute,
    prefix="/api/v1/bots",
    tags=["bots"],
    responses=problem_responses(401, 422),
)
_NOT_FOUND = problem_responses(404)


def bot_public(bot: Bot) -> BotPublic:
    return BotPublic(
        id=bot.id,
        name=bot.name,
        description=bot.description,
        default_model=bot.default_model,
        knowledge_base_ids=list(bot.knowledge_base_ids),
        use_workflow_v2=bot.use_workflow_v2,
        v2_rollout_percent=bot.v2_rollout_percent,
        has_legacy_workflow=bot.workflow is not None,
        created_at=bot.created_at,
        updated_at=bot.updated_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a bot (with a V2 draft)")
async def create_bot(body: BotCreate, user: CurrentUser, bots: Bots) -> BotPublic:
    bot = await bots.create(user, **body.model_dump())
    return bot_public(bot)


@router.get("", summary="List your bots, newest first")
async def list_bots(user: CurrentUser, bots: Bots, page: PageQuery) -> BotsPublic:
    rows, next_cursor = await bots.list_bots(user, limit=page.limit, cursor=page.cursor)
    return BotsPublic(data=[bot_public(b) for b in rows], next_cursor=next_cursor)


@router.get("/{bot_id}", responses=_NOT_FOUND, summary="Get a bot")
async def get_bot(bot_id: str, user: CurrentUser, bots: Bots) -> BotPublic:
    return bot_public(await bots.get(user, bot_id))


@router.patch("/{bot_id}", responses=_NOT_FOUND, summary="Change a bot's settings")
async def update_bot(bot_id: str, body: BotUpdate, user: CurrentUser, bots: Bots) -> BotPublic:
    changes = body.model_dump(exclude_unset=True)
    # null clears optional text fields; for the others it means "no change".
    changes = {
        k: v for k, v in changes.items() if v is not None or k in {"default_model", "description"}
    }
    return bot_public(await bots.update(user, bot_id, changes))


@router.delete(
    "/{bot_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_NOT_FOUND,
    summary="Delete a bot with its versions, runs and sessions",
)
async def delete_bot(bot_id: str, user: CurrentUser, bots: Bots) -> Response:
    await bots.delete(user, bot_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{bot_id}/workflow", responses=_NOT_FOUND, summary="The legacy (V1) workflow")
async def get_legacy_workflow(bot_id: str, user: CurrentUser, bots: Bots) -> LegacyWorkflowPublic:
    return LegacyWorkflowPublic(workflow=await bots.get_legacy_workflow(user, bot_id))


@router.put("/{bot_id}/workflow", responses=_NOT_FOUND, summary="Replace the legacy (V1) workflow")
async def put_legacy_workflow(
    bot_id: str,
    user: CurrentUser,
    bots: Bots,
    workflow: Annotated[
        dict[str, Any],
        Body(
            description="A V1 graph (nodes and edges, no ports), bare or as GET returns it: "
            '`{"workflow": {...}}`.'
        ),
    ],
) -> LegacyWorkflowPublic:
    if workflow.keys() == {"workflow"}:  # what GET answered, sent back as it is
        inner = workflow["workflow"]
        if not isinstance(inner, dict):
            raise InputValidationError("workflow must be a V1 graph object", field="workflow")
        workflow = inner
    return LegacyWorkflowPublic(workflow=await bots.set_legacy_workflow(user, bot_id, workflow))
