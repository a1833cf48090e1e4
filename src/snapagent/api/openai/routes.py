"""``GET /v1/models`` and ``POST /v1/chat/completions``: every bot of the caller is a model.

Authentication is the API's own (``Authorization: Bearer`` with an API key or a login token;
a revoked key stops working here too). A completion is one chat turn through the app's
`ChatService` - prepared (404 for a model that is not the caller's bot, 409 for a bot with
nothing published), run under the session's order, recorded like every chat (it shows in the
bot's workflow executions) - and answered as a ``chat.completion`` or streamed as chunks
(`snapagent.api.openai.completions`). Errors are the one table's problems in OpenAI's error
shape (`snapagent.api.errors.render_problem`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import JSONResponse

from snapagent.api.deps import AppStateDep, CurrentUser, DbSession
from snapagent.api.json_route import OffLoopJsonRoute
from snapagent.api.openai.completions import completion_body, completion_frames
from snapagent.api.openai.conversation import explicit_session, read_conversation
from snapagent.api.openai.schemas import ChatCompletion, ChatCompletionRequest, ModelList
from snapagent.api.sse import FrameStreamResponse
from snapagent.errors import NotFoundError
from snapagent.services.chat import ChatService
from snapagent.services.published_bots import (
    MAX_REFERENCE_CHARS,
    bot_not_found,
    list_published_bots,
)

__all__ = ["SESSION_HEADER", "router"]

SESSION_HEADER = "X-SnapAgent-Session-Id"

router = APIRouter(route_class=OffLoopJsonRoute, prefix="/v1", tags=["openai-compatible"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description + ' (OpenAI\'s shape: {"error": {message, type, param, code}})'
    }
    for status, description in {
        401: "Missing, invalid or revoked credentials",
        404: "Unknown model (`code: model_not_found`)",
        409: "The bot has nothing published",
        422: "Invalid or unsupported parameter (`param` names it)",
        429: "Chat rate limit (see `Retry-After`)",
        502: "The model provider failed",
        504: "The model provider or the workflow timed out",
    }.items()
}


async def get_chat_service(state: AppStateDep) -> ChatService:
    return state.chat


Chat = Annotated[ChatService, Depends(get_chat_service)]


@router.get(
    "/models",
    summary="Your published bots, as OpenAI models",
    response_model=ModelList,
    responses={401: _ERRORS[401]},
)
async def list_models(user: CurrentUser, session: DbSession) -> dict[str, Any]:
    bots = await list_published_bots(session, user.id)
    data = [
        {
            "id": bot.id,
            "object": "model",
            "created": int(bot.created_at.timestamp()),
            "owned_by": "snapagent",
            "name": bot.name,
            "description": bot.description,
        }
        for bot in bots
    ]
    return {"object": "list", "data": data}


@router.post(
    "/chat/completions",
    summary="Chat with a bot as an OpenAI model (JSON or streamed chunks)",
    response_model=ChatCompletion,
    responses={
        200: {
            "description": "The completion; with `stream: true`, `text/event-stream` chunks.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **{status: _ERRORS[status] for status in (401, 404, 409, 422, 429, 502, 504)},
    },
)
async def chat_completions(
    body: ChatCompletionRequest, user: CurrentUser, session: DbSession, service: Chat
) -> Any:
    conversation = read_conversation(body.messages, service.settings.history_messages)
    explicit = explicit_session(body.session_id, body.metadata)
    bot_id = await _model_bot(service, session, user.id, body.model)
    session_id = conversation.session_for(bot_id, body.user, explicit)
    turn = await service.prepare(
        session,
        user,
        bot_id,
        conversation.message,
        session_id,
        history=conversation.history_for(explicit),
        instructions=conversation.instructions,
    )
    await session.close()  # release the request's connection before the (long) run
    headers = {SESSION_HEADER: turn.session_key}
    if body.stream:
        include_usage = body.stream_options is not None and body.stream_options.include_usage
        frames = completion_frames(
            service.stream(turn),
            model=body.model,
            bot_id=bot_id,
            include_usage=include_usage,
            ping_interval_s=service.settings.ping_interval_s,
        )
        return FrameStreamResponse(frames, headers=headers)
    answer = await service.answer(turn)
    return JSONResponse(completion_body(body.model, bot_id, answer), headers=headers)


async def _model_bot(
    service: ChatService, session: AsyncSession, owner_id: str, reference: str
) -> str:
    """The id of the caller's bot that ``model`` names (the chat's cached lookup, scoped to the
    owner like it); otherwise the 404 of the ``model`` field."""
    if len(reference) <= MAX_REFERENCE_CHARS:
        try:
            return (await service.live_bot(session, owner_id, reference)).id
        except NotFoundError:
            pass
    raise bot_not_found(reference, field="model")
