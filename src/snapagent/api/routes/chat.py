"""`POST /api/v1/chat`: one chat turn, answered as JSON or streamed as Server-Sent Events.

Streaming is chosen by ``"stream": true`` or ``Accept: text/event-stream``. Events, in order:
``session`` (ids), ``node_started`` / ``node_finished`` / ``node_retrying``, ``text`` (chunks of
the answer as the model produces them), ``sources``, and ``message`` (the same body the JSON
answer has) - or ``error`` instead: the problem a JSON answer would have been (``type`` URN,
``title``, ``status``, ``detail``, from the one table in `snapagent.api.errors`) and the
``run_id``. ``ping`` events keep the connection alive while nothing else happens.

The app's `ChatService` is built once by ``create_app`` (tests and benches pass their chat
model provider or retriever there).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, Field, field_validator

from snapagent.api.deps import AppStateDep, CurrentUser, DbSession
from snapagent.api.errors import error_event
from snapagent.api.json_route import OffLoopJsonRoute
from snapagent.api.schemas.common import RequestModel, problem_responses
from snapagent.api.sse import EventStreamResponse, SSEMessage, with_pings
from snapagent.nodes.settings import get_node_settings
from snapagent.services.chat import ChatError, ChatEvent, ChatService, ChatTurn

__all__ = ["SSE_DOC", "ChatAnswerPublic", "ChatRequestBody", "Citation", "router", "turn_events"]

router = APIRouter(route_class=OffLoopJsonRoute, prefix="/api/v1", tags=["chat"])


class ChatFile(RequestModel):
    """A file attached to the turn; workflows read it as ``sys.files`` (``document_extractor``)."""

    name: str = Field(min_length=1, max_length=255, description="The file's name.")
    content_type: str | None = Field(default=None, max_length=255, description="Its MIME type.")
    data: str = Field(description="Its bytes, base64-encoded.")

    @field_validator("data")
    @classmethod
    def _size(cls, data: str) -> str:
        limit = get_node_settings().document_max_bytes
        if len(data) > limit * 4 // 3 + 4:
            raise ValueError(f"the file is larger than {limit} bytes")
        return data


class ChatRequestBody(RequestModel):
    bot_id: str = Field(min_length=1, max_length=64, description="The bot to talk to (yours).")
    message: str = Field(
        min_length=1,
        description="The user's message; at most SNAPAGENT_CHAT_MAX_MESSAGE_CHARS characters "
        "(8000 by default).",
    )
    session_id: str | None = Field(
        default=None,
        max_length=64,
        description="Continue this session (created if new); omitted: a new session.",
    )
    stream: bool = Field(default=False, description="Answer as Server-Sent Events.")
    files: list[ChatFile] = Field(
        default_factory=list,
        description="Files attached to the turn (read by document_extractor nodes; at most "
        "SNAPAGENT_DOCUMENT_MAX_FILES, each at most SNAPAGENT_DOCUMENT_MAX_BYTES).",
    )

    @field_validator("files")
    @classmethod
    def _count(cls, files: list[ChatFile]) -> list[ChatFile]:
        limit = get_node_settings().document_max_files
        if len(files) > limit:
            raise ValueError(f"at most {limit} files per turn")
        return files


class Citation(BaseModel):
    """A retrieved chunk the answer drew on (the fields a retrieval node reported)."""

    document_id: str | None = Field(description="The document the chunk comes from.")
    document_title: str | None = Field(description="That document's title.")
    knowledge_base_id: str | None = Field(description="The knowledge base it comes from.")
    chunk_id: str | None = Field(description="The chunk's id.")
    chunk_index: int | None = Field(description="The chunk's position in its document, from 0.")
    heading: str | None = Field(description="The heading the chunk falls under, if any.")
    score: float | None = Field(description="Its retrieval score (higher is better).")
    snippet: str = Field(description="The start of the chunk's text (at most 300 characters).")


class ChatAnswerPublic(BaseModel):
    answer: str = Field(description="The bot's answer.")
    session_id: str = Field(description="The session; send it back to continue the conversation.")
    run_id: str = Field(description="The workflow run that answered (see the executions API).")
    version: int | None = Field(
        description="The published version number that answered; null when the V1 workflow did."
    )
    sources: list[Citation] = Field(
        description="Documents given to the model (else retrieved), deduplicated, as citations."
    )
    usage: dict[str, int] = Field(
        description="Model tokens the run used: `input_tokens`, `output_tokens`, `total_tokens`."
    )


async def get_chat_service(state: AppStateDep) -> ChatService:
    return state.chat


Chat = Annotated[ChatService, Depends(get_chat_service)]

SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "model": ChatAnswerPublic,
        "description": "The answer; with streaming, `text/event-stream` events instead.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@router.post(
    "/chat",
    summary="Chat with a bot (JSON answer or Server-Sent Events)",
    response_model=ChatAnswerPublic,
    responses={**SSE_DOC, **problem_responses(401, 404, 409, 422, 502, 504)},
)
async def chat(
    body: ChatRequestBody,
    user: CurrentUser,
    session: DbSession,
    service: Chat,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    """One chat turn with a bot's published workflow: a JSON answer, or Server-Sent Events with
    `"stream": true` or `Accept: text/event-stream` (a failure then ends the stream with an
    `error` event carrying the problem)."""
    files = [f.model_dump() for f in body.files]
    turn = await service.prepare(session, user, body.bot_id, body.message, body.session_id, files)
    # Release the request's connection before the (possibly long) run.
    await session.close()
    if body.stream or "text/event-stream" in (accept or ""):
        return turn_events(service, turn)
    answer = await service.answer(turn)
    return answer.to_dict()


def turn_events(service: ChatService, turn: ChatTurn) -> EventStreamResponse:
    """A turn streamed as Server-Sent Events, with pings (chat and debug runs alike)."""
    return EventStreamResponse(
        with_pings(_sse(service.stream(turn)), service.settings.ping_interval_s)
    )


async def _sse(
    events: AsyncGenerator[ChatEvent | ChatError, None],
) -> AsyncIterator[SSEMessage]:
    """The chat's events as SSE messages; a failure becomes its problem (see the module doc)."""
    async with aclosing(events):  # closing this closes the chat's stream (and stops its run)
        async for item in events:
            if isinstance(item, ChatError):
                yield ("error", error_event(item.error, item.run_id))
            else:
                yield item
