"""A bot's chat sessions and their transcripts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from snapagent.api.deps import CurrentUser, DbSession
from snapagent.api.json_route import OffLoopJsonRoute
from snapagent.api.schemas.common import problem_responses
from snapagent.db.pagination import MAX_PAGE_SIZE
from snapagent.services.conversations import (
    ChatSessionsPublic,
    SessionTranscript,
    list_sessions,
    read_transcript,
)
from snapagent.services.workflow_versions import get_owned_bot

__all__ = ["router"]

router = APIRouter(
    route_class=OffLoopJsonRoute,
    prefix="/api/v1/bots/{bot_id}/sessions",
    tags=["sessions"],
    responses=problem_responses(401, 404, 422),
)


@router.get("", summary="List a bot's chat sessions, most recently active first")
async def get_sessions(
    bot_id: str,
    user: CurrentUser,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
    cursor: Annotated[
        str | None, Query(max_length=1000, description="`next_cursor` of the previous page")
    ] = None,
) -> ChatSessionsPublic:
    """A bot's chat sessions, most recently active first, with message counts, a page at a time."""
    await get_owned_bot(session, user, bot_id)
    return await list_sessions(session, bot_id, limit=limit, cursor=cursor)


@router.get("/{session_id}", summary="A chat session with its messages, oldest first")
async def get_session(
    bot_id: str,
    session_id: Annotated[str, Path(max_length=64)],
    user: CurrentUser,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=1000, description="latest N messages")] = 200,
) -> SessionTranscript:
    """One chat session with its messages, oldest first."""
    await get_owned_bot(session, user, bot_id)
    return await read_transcript(session, bot_id, session_id, limit=limit)
