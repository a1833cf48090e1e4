"""`ChatService`: one chat turn - session, history, the bot's published workflow, the record.

A turn is prepared (validated, read-only: unknown bot -> 404, nothing runnable -> 409; V1 or
V2 chosen per session by :func:`snapagent.services.rollout.choose_engine`) before any byte of
the answer is sent, then run under a per-session lock so concurrent requests on one
session store their messages as whole turns, in order, each seeing the previous turn in its
history. The user message is stored before the run (it is kept when the run fails); the
assistant message after it. Every run is recorded (succeeded, failed or cancelled). Across
replicas the database orders a session's turns (`snapagent.services.session_order`); at
shutdown :meth:`ChatService.close` stops the turns still open and waits for their records.

    service = ChatService(db, runtime, RunRecorder(db.sessionmaker))
    async with db.session() as session:
        turn = await service.prepare(session, user, bot_id, "What is SnapAgent?", None)
    answer = await service.answer(turn)            # or: async for event in service.stream(turn)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import anyio
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.base import new_id
from snapagent.db.models.accounts import User
from snapagent.db.models.bots import Bot
from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.db.session import Database
from snapagent.errors import (
    DefinitionError,
    InputValidationError,
    NodeTimeoutError,
    NotFoundError,
    ProviderError,
    RunLimitError,
    SnapAgentError,
    UnavailableError,
)
from snapagent.observability.logging import bind_run_id
from snapagent.services.chat_results import (
    answer_text,
    collect_sources,
    engine_event,
    failure_error,
)
from snapagent.services.conversations import ConversationStore, SessionLocks, TurnStart
from snapagent.services.database_outage import is_database_unreachable
from snapagent.services.rollout import Engine, choose_engine, compile_v1
from snapagent.services.run_recorder import (
    RunContext,
    RunRecord,
    RunRecorder,
    record_from_result,
    unfinished_record,
)
from snapagent.services.runtime import BotRuntime, CompiledVersion
from snapagent.workflow.result import RunStatus, WorkflowRunResult

__all__ = ["ChatAnswer", "ChatEvent", "ChatService", "ChatSettings", "ChatTurn"]

SESSION_KEY = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_END: Any = object()

log = logging.getLogger(__name__)


class ChatSettings(BaseSettings):
    """Chat limits (environment: ``SNAPAGENT_CHAT_*``)."""

    model_config = SettingsConfigDict(env_prefix="SNAPAGENT_CHAT_", extra="ignore")

    max_message_chars: int = Field(default=8000, ge=1, description="Longest accepted message.")
    history_messages: int = Field(
        default=20, ge=0, le=500, description="Earlier messages passed to the workflow."
    )
    ping_interval_s: float = Field(
        default=15.0, gt=0, description="SSE keep-alive ping after this much silence."
    )


class ChatEvent(NamedTuple):
    """One streamed event: its SSE name and JSON payload."""

    event: str
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChatTurn:
    """A validated request, ready to run."""

    user_id: str
    bot_id: str
    default_model: str | None
    session_key: str
    message: str
    engine: Engine
    version_id: str | None
    version_number: int | None
    """``None`` on the legacy V1 engine (a bot's V1 workflow has no versions)."""
    compiled: CompiledVersion
    owner_id: str
    """The bot's owner: the only account whose knowledge bases the run may read."""
    new_session: bool = False
    """The server generated ``session_key`` just now: no session to look up."""
    files: tuple[Mapping[str, Any], ...] = ()
    """Files attached to the turn (``{"name", "content_type", "data"}``), as ``sys.files``."""


@dataclass(frozen=True, slots=True)
class ChatAnswer:
    answer: str
    session_id: str
    run_id: str
    version: int | None
    sources: list[dict[str, Any]]
    usage: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "session_id": self.session_id,
            "run_id": self.run_id,
            "version": self.version,
            "sources": self.sources,
            "usage": self.usage,
        }


async def _bot_and_published_version(
    session: AsyncSession, user: User, bot_id: str
) -> tuple[Bot, BotWorkflowVersion | None]:
    """The caller's bot and its published version in one query; another owner's is a 404."""
    published = and_(BotWorkflowVersion.bot_id == Bot.id, BotWorkflowVersion.status == "published")
    row = (
        await session.execute(
            select(Bot, BotWorkflowVersion)
            .outerjoin(BotWorkflowVersion, published)
            .where(Bot.id == bot_id)
        )
    ).first()
    if row is None or row[0].owner_id != user.id:
        raise NotFoundError(f"bot {bot_id} not found")
    return row[0], row[1]


class ChatService:
    """See the module docstring. One per app (it holds the session locks)."""

    def __init__(
        self,
        database: Database,
        runtime: BotRuntime,
        recorder: RunRecorder,
        settings: ChatSettings | None = None,
    ) -> None:
        self.database = database
        self.runtime = runtime
        self.recorder = recorder
        self.settings = settings or ChatSettings()
        self.conversations = ConversationStore(database)
        self.locks = SessionLocks()
        # Graceful shutdown: the cancel event of every turn still running, and whether the
        # server is closing (see close()).
        self._open: set[asyncio.Event] = set()
        self._closed = asyncio.Event()
        self._closing = False

    @contextlib.asynccontextmanager
    async def _tracked(self) -> AsyncIterator[asyncio.Event]:
        """A turn's cancel event, known to close() until the turn (and its record) is done."""
        cancel = asyncio.Event()
        if self._closing:
            cancel.set()
        self._open.add(cancel)
        try:
            yield cancel
        finally:
            self._open.discard(cancel)
            if not self._open:
                self._closed.set()

    async def close(self, timeout_s: float = 10.0) -> int:
        """Shut down: stop every open run (it is recorded ``cancelled``) and wait up to
        ``timeout_s`` for their records; returns how many turns were still open.

        The server calls this from its lifespan shutdown, after uvicorn's grace period let
        in-flight requests finish (``snapagent serve --graceful-timeout``)."""
        self._closing = True
        open_turns = len(self._open)
        if not open_turns:
            return 0
        log.warning("shutting down: cancelling %d open chat run(s)", open_turns)
        self._closed.clear()
        for cancel in list(self._open):
            cancel.set()
        try:
            await asyncio.wait_for(self._closed.wait(), timeout_s)
        except TimeoutError:
            log.error("%d chat run(s) did not finish recording before shutdown", len(self._open))
        return open_turns

    async def prepare(
        self,
        session: AsyncSession,
        user: User,
        bot_id: str,
        message: str,
        session_id: str | None,
        files: Sequence[Mapping[str, Any]] = (),
    ) -> ChatTurn:
        """Validate a request; raises InputValidationError, NotFoundError or ConflictError.
        ``files`` (already checked by the API's schema) reach the run as ``sys.files``."""
        if not message.strip():
            raise InputValidationError("message must not be blank", field="message")
        if len(message) > self.settings.max_message_chars:
            raise InputValidationError(
                f"message is longer than {self.settings.max_message_chars} characters",
                field="message",
            )
        if session_id is not None and not SESSION_KEY.match(session_id):
            raise InputValidationError(
                "session_id must be 1-64 letters, digits or . _ : -", field="session_id"
            )
        bot, version = await _bot_and_published_version(session, user, bot_id)
        session_key = session_id or new_id()
        # V1 or V2 for this session (stable per session; ConflictError if neither can run).
        decision = choose_engine(
            bot_id=bot.id,
            session_id=session_key,
            use_workflow_v2=bot.use_workflow_v2,
            v2_rollout_percent=bot.v2_rollout_percent,
            has_published_v2=version is not None,
            v1_workflow=bot.workflow,
        )
        if decision.engine == "v2" and version is not None:
            compiled = self.runtime.compile(version.id, version.graph)
        else:
            compiled, version = compile_v1(self.runtime, bot.id, bot.workflow), None
        return ChatTurn(
            user_id=user.id,
            bot_id=bot.id,
            default_model=bot.default_model,
            session_key=session_key,
            message=message,
            engine=decision.engine,
            version_id=version.id if version else None,
            version_number=version.version_number if version else None,
            compiled=compiled,
            owner_id=bot.owner_id,
            new_session=session_id is None,
            files=tuple(files),
        )

    async def _begin(
        self, turn: ChatTurn, mode: str
    ) -> tuple[TurnStart, RunContext, dict[str, Any]]:
        start = await self.conversations.begin_turn(
            turn.bot_id,
            turn.session_key,
            turn.user_id,
            turn.message,
            self.settings.history_messages,
            known_new=turn.new_session,
        )
        history = start.history
        run_id = new_id()
        bind_run_id(run_id)  # the rest of this turn's log lines carry it
        inputs = {"query": turn.message, "session_id": turn.session_key, "history": history}
        context = RunContext(
            run_id=run_id,
            bot_id=turn.bot_id,
            # History is already stored as messages; the record keeps only its length.
            inputs={"query": turn.message, "session_id": turn.session_key, "history": len(history)},
            version_id=turn.version_id,
            version_number=turn.version_number,
            session_id=turn.session_key,
            user_id=turn.user_id,
            engine=turn.engine,
            mode=mode,
        )
        return start, context, inputs

    def _sys(self, turn: ChatTurn, run_id: str) -> dict[str, Any]:
        return {
            "bot_id": turn.bot_id,
            "run_id": run_id,
            "user_id": turn.user_id,
            "owner_id": turn.owner_id,
            "default_model": turn.default_model,
            "files": list(turn.files),
        }

    async def _finish(
        self, turn: ChatTurn, start: TurnStart, context: RunContext, result: WorkflowRunResult
    ) -> ChatAnswer:
        """Record the run; on success store and return the answer, else raise its error."""
        record = record_from_result(result, context=context, titles=turn.compiled.titles)
        if result.status is not RunStatus.SUCCEEDED:
            await self.recorder.record(record)
            if self._closing and result.status is RunStatus.CANCELLED:
                raise UnavailableError("the server is shutting down; retry the request")
            raise failure_error(result)
        answer = ChatAnswer(
            answer=answer_text(result),
            session_id=turn.session_key,
            run_id=context.run_id,
            version=turn.version_number,
            sources=collect_sources(result),
            usage=result.usage.to_dict(),
        )
        fields: dict[str, Any] = {
            "run_id": answer.run_id,
            "sources": answer.sources,
            "usage": answer.usage,
            # Conversation variables are kept when the turn succeeded and wrote one.
            "variables": result.conversation if result.conversation_writes else None,
        }
        # Shielded: a client leaving now must not lose an answer the run already produced.
        with anyio.CancelScope(shield=True):
            try:
                # The fast path: the run record and the answer in one transaction.
                async with self.database.transaction() as session:
                    await self.recorder.stage(session, record)
                    await self.conversations.stage_answer(session, start, answer.answer, **fields)
            except Exception:
                # Apart, so the answer never depends on the record (which logs its own failure).
                log.warning("storing run %s with its answer failed; retrying apart", answer.run_id)
                await self.recorder.record(record)
                await self.conversations.add_answer(start, answer.answer, **fields)
        return answer

    async def answer(self, turn: ChatTurn) -> ChatAnswer:
        """Run a turn to the end; provider failures raise ProviderError (502/504 upstream)."""
        async with self.locks.hold(turn.bot_id, turn.session_key), self._tracked() as cancel:
            start, context, inputs = await self._begin(turn, "blocking")
            executor = self.runtime.executor(turn.owner_id)
            try:
                result = await executor.run(
                    turn.compiled.plan,
                    inputs,
                    self._sys(turn, context.run_id),
                    cancel_event=cancel,
                    conversation=start.variables,
                )
            except BaseException as exc:
                await self.recorder.record(_interrupted(context, exc))
                raise
            return await self._finish(turn, start, context, result)

    async def stream(self, turn: ChatTurn) -> AsyncIterator[ChatEvent]:
        """The turn as events: ``session``, node/text events, ``sources``, then ``message`` (or
        ``error``). Closing the iterator early cancels the run, which is recorded cancelled."""
        async with self.locks.hold(turn.bot_id, turn.session_key), self._tracked() as cancel:
            try:
                start, context, inputs = await self._begin(turn, "streaming")
            except Exception as exc:
                # The response has started: a database outage can only travel as an event.
                if not is_database_unreachable(exc):
                    raise
                yield ChatEvent("error", _error_payload(exc, None))
                return
            yield ChatEvent(
                "session",
                {
                    "session_id": turn.session_key,
                    "run_id": context.run_id,
                    "version": turn.version_number,
                },
            )
            queue: asyncio.Queue[Any] = asyncio.Queue()
            task = asyncio.create_task(
                self.runtime.executor(turn.owner_id).run(
                    turn.compiled.plan,
                    inputs,
                    self._sys(turn, context.run_id),
                    on_event=queue.put_nowait,
                    cancel_event=cancel,
                    conversation=start.variables,
                )
            )
            task.add_done_callback(lambda _task: queue.put_nowait(_END))
            try:
                while (item := await queue.get()) is not _END:
                    mapped = engine_event(item)
                    if mapped is not None:
                        yield ChatEvent(*mapped)
            except (GeneratorExit, asyncio.CancelledError):
                # The client went away: stop the run and record what it did, as cancelled.
                cancel.set()
                with anyio.CancelScope(shield=True):
                    await self.recorder.record(await self._stopped_record(turn, context, task))
                raise
            try:
                result = task.result()
            except Exception as exc:
                await self.recorder.record(_interrupted(context, exc))
                yield ChatEvent("error", _error_payload(exc, context.run_id))
                return
            try:
                answer = await self._finish(turn, start, context, result)
            except Exception as exc:
                # Headers are sent: the failure can only travel as the stream's last event.
                if not isinstance(exc, SnapAgentError):
                    log.exception("chat turn %s failed after its run", context.run_id)
                yield ChatEvent("error", _error_payload(exc, context.run_id))
                return
            yield ChatEvent("sources", {"sources": answer.sources})
            yield ChatEvent("message", answer.to_dict())

    async def _stopped_record(
        self, turn: ChatTurn, context: RunContext, task: asyncio.Task[WorkflowRunResult]
    ) -> RunRecord:
        (outcome,) = await asyncio.gather(task, return_exceptions=True)
        if not isinstance(outcome, WorkflowRunResult):
            return unfinished_record(context, "the client disconnected")
        if outcome.status is RunStatus.SUCCEEDED:
            outcome.status = RunStatus.CANCELLED  # finished, but nobody received the answer
        return record_from_result(outcome, context=context, titles=turn.compiled.titles)


def _interrupted(context: RunContext, exc: BaseException) -> RunRecord:
    if isinstance(exc, asyncio.CancelledError):
        return unfinished_record(context, "the request was cancelled")
    return unfinished_record(
        context,
        f"the workflow engine failed: {exc}",
        status="failed",
        error_type=type(exc).__name__,
    )


def _error_payload(exc: Exception, run_id: str | None) -> dict[str, Any]:
    """The ``error`` event: the same status a non-streamed request would have answered."""
    status = 500
    if isinstance(exc, DefinitionError):
        status = 422
    elif isinstance(exc, ProviderError):
        status = 504 if isinstance(exc, TimeoutError) else 502
    elif isinstance(exc, NodeTimeoutError | RunLimitError):
        status = 504
    elif is_database_unreachable(exc):  # UnavailableError included
        status = 503
    detail = exc.message if isinstance(exc, SnapAgentError) else "internal error (logged)"
    return {"status": status, "type": type(exc).__name__, "detail": detail, "run_id": run_id}
