"""`POST /api/v1/chat`: one chat turn, answered as JSON or streamed as Server-Sent Events.

Streaming is chosen by ``"stream": true`` or ``Accept: text/event-stream``. Events, in order:
``session`` (ids), ``node_started`` / ``node_finished`` / ``node_retrying``, ``text`` (chunks of
the answer as the model produces them), ``sources``, and ``message`` (the same body the JSON
answer has) - or ``error`` (``status``, ``detail``, ``run_id``) instead. ``ping`` events keep
the connection alive while nothing else happens.

The app's `ChatService` is built on first use from the app state; tests and benches replace
its model provider or retriever with :func:`configure_chat` before the first request.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, Field, field_validator

from snapagent.api.deps import AppStateDep, CurrentUser, DbSession
from snapagent.api.json_route import OffLoopJsonRoute
from snapagent.api.schemas.common import RequestModel, problem_responses
from snapagent.api.sse import EventStreamResponse, with_pings
from snapagent.api.state import AppState
from snapagent.knowledge.file_reader import IsolatedDocumentReader
from snapagent.nodes.settings import get_node_settings
from snapagent.observability.runs import observe_chat_models
from snapagent.services.chat import ChatService, ChatSettings
from snapagent.services.executions import ExecutionSettings
from snapagent.services.run_recorder import RunRecorder
from snapagent.services.runtime import BotRuntime
from snapagent.workflow.services import ChatModelProvider, Retriever

__all__ = ["ChatAnswerPublic", "ChatRequestBody", "configure_chat", "router"]

CHAT_SERVICE = "chat.service"

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
    bot_id: str = Field(min_length=1, max_length=64)
    message: str = Field(min_length=1, description="The user's message (length capped).")
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
    document_id: str | None
    document_title: str | None
    knowledge_base_id: str | None
    chunk_id: str | None
    chunk_index: int | None
    heading: str | None
    score: float | None
    snippet: str


class ChatAnswerPublic(BaseModel):
    answer: str
    session_id: str
    run_id: str
    version: int | None
    sources: list[Citation]
    usage: dict[str, int]


def _default_retriever(state: AppState) -> Retriever:
    # The app's knowledge service: its retriever's index caches follow ingestion.
    retriever: Retriever = state.knowledge.retriever
    return retriever


def _document_reader() -> IsolatedDocumentReader:
    # Its worker process starts only when a workflow first reads a file.
    settings = get_node_settings()
    return IsolatedDocumentReader.create(
        max_chars=settings.document_max_chars, timeout_s=settings.document_timeout_s
    )


def configure_chat(
    state: AppState,
    *,
    chat_models: ChatModelProvider | None = None,
    retriever: Retriever | None = None,
    settings: ChatSettings | None = None,
    execution_settings: ExecutionSettings | None = None,
) -> ChatService:
    """Build (or rebuild) the app's chat service; unset parts use the embedded defaults."""
    runtime = BotRuntime(
        chat_models=observe_chat_models(chat_models or state.chat_models),
        retriever=retriever or _default_retriever(state),
        registry=state.node_registry,
        documents=_document_reader(),
    )
    recorder = RunRecorder(state.database.sessionmaker, execution_settings)
    service = ChatService(state.database, runtime, recorder, settings)
    state.extras[CHAT_SERVICE] = service
    return service


async def get_chat_service(state: AppStateDep) -> ChatService:
    # async on purpose: FastAPI runs sync dependencies in a thread pool (a hop per request,
    # and two first requests could each build a service); on the loop, check-and-set is atomic.
    service = state.extras.get(CHAT_SERVICE)
    if not isinstance(service, ChatService):
        service = configure_chat(state)
    return service


Chat = Annotated[ChatService, Depends(get_chat_service)]

_SSE_DOC: dict[int | str, dict[str, Any]] = {
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
    responses={**_SSE_DOC, **problem_responses(401, 404, 409, 422, 502, 504)},
)
async def chat(
    body: ChatRequestBody,
    user: CurrentUser,
    session: DbSession,
    service: Chat,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    files = [f.model_dump() for f in body.files]
    turn = await service.prepare(session, user, body.bot_id, body.message, body.session_id, files)
    # Release the request's connection before the (possibly long) run.
    await session.close()
    if body.stream or "text/event-stream" in (accept or ""):
        events = with_pings(service.stream(turn), service.settings.ping_interval_s)
        return EventStreamResponse(events)
    answer = await service.answer(turn)
    return answer.to_dict()
