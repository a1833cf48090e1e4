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
    """Create a bot; it runs V2 and comes with a ready draft (start -> knowledge -> llm -> end, or
    start -> llm -> end without knowledge bases). Publish the draft and it can chat."""
    bot = await bots.create(user, **body.model_dump())
    return bot_public(bot)


@router.get("", summary="List your bots, newest first")
async def list_bots(user: CurrentUser, bots: Bots, page: PageQuery) -> BotsPublic:
    """The caller's bots, newest first, a page at a time (`{data, next_cursor}`: pass `next_cursor`
    back as `cursor`)."""
    rows, next_cursor = await bots.list_bots(user, limit=page.limit, cursor=page.cursor)
    return BotsPublic(data=[bot_public(b) for b in rows], next_cursor=next_cursor)


@router.get("/{bot_id}", responses=_NOT_FOUND, summary="Get a bot")
async def get_bot(bot_id: str, user: CurrentUser, bots: Bots) -> BotPublic:
    """One bot of the caller (another account's bot is a 404)."""
    return bot_public(await bots.get(user, bot_id))


@router.patch("/{bot_id}", responses=_NOT_FOUND, summary="Change a bot's settings")
async def update_bot(bot_id: str, body: BotUpdate, user: CurrentUser, bots: Bots) -> BotPublic:
    """Change only the fields sent; `null` clears `default_model` and `description`, and means "no
    change" for the others."""
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
    """Delete the bot with its workflow versions, runs and chat sessions."""
    await bots.delete(user, bot_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{bot_id}/workflow", responses=_NOT_FOUND, summary="The legacy (V1) workflow")
async def get_legacy_workflow(bot_id: str, user: CurrentUser, bots: Bots) -> LegacyWorkflowPublic:
    """The bot's V1 workflow (`null` when it has none) and what chat does with it given the bot's
    settings."""
    workflow = await bots.get_legacy_workflow(user, bot_id)
    return LegacyWorkflowPublic(
        workflow=workflow, effect=await bots.legacy_workflow_effect(user, bot_id)
    )


@router.put("/{bot_id}/workflow", responses=_NOT_FOUND, summary="Replace the legacy (V1) workflow")
async def put_legacy_workflow(
    bot_id: str,
    user: CurrentUser,
    bots: Bots,
    workflow: Annotated[
        dict[str, Any],
        Body(
            description="A V1 graph (nodes and edges, no ports), bare or as GET returns it: "
            '`{"workflow": {...}, "effect": "..."}` (`effect` is ignored).'
        ),
    ],
) -> LegacyWorkflowPublic:
    """Replace the V1 workflow, bare or as GET returns it. Every problem is reported at once (422
    `invalid-workflow`), with V2's codes and paths; `effect` in the answer says whether chat runs
    it."""
    if "workflow" in workflow and workflow.keys() <= {"workflow", "effect"}:  # what GET answered
        inner = workflow["workflow"]
        if not isinstance(inner, dict):
            raise InputValidationError("workflow must be a V1 graph object", field="workflow")
        workflow = inner
    stored = await bots.set_legacy_workflow(user, bot_id, workflow)
    return LegacyWorkflowPublic(
        workflow=stored, effect=await bots.legacy_workflow_effect(user, bot_id)
    )
