"""`ChatService`: one chat turn - session, history, the bot's published workflow, the record.

A turn is prepared (validated, read-only: unknown bot -> 404, nothing runnable -> 409; V1 or
V2 chosen per session by :func:`snapagent.services.rollout.choose_engine`) before any byte of
the answer is sent, then run under a per-session lock so concurrent requests on one
session store their messages as whole turns, in order, each seeing the previous turn in its
history. The user message is stored before the run (it is kept when the run fails); the
assistant message after it. Across replicas the database orders a session's turns
(`snapagent.services.session_order`); at shutdown :meth:`ChatService.close` stops the turns
still open and waits for their records.

Every run is started through the engine's run handle with its observers: a
`RecordingObserver` (the record, and on success the answer in the same transaction) and the
app's others (metrics, traces: ``observers``, one factory each). The handle awaits them once
however the run ends - succeeded, failed, cancelled, or its task cancelled - so every run is
recorded without this service calling the recorder from each way out.

    service = ChatService(db, runtime, RunRecorder(db.sessionmaker), observers=[telemetry.for_run])
    async with db.session() as session:
        turn = await service.prepare(session, user, bot_id, "What is SnapAgent?", None)
    answer = await service.answer(turn)            # or: async for event in service.stream(turn)

Debug runs (`snapagent.services.debugging`) are turns too - a ``ChatTurn`` with ``debug`` set:
the version to run is chosen by the caller (a draft or any published one), the turn's messages
and conversation variables live in a debug session (`DebugSessionStore`, never a user's chat
session), a replay's recorded outcomes stand in for the nodes upstream of where it starts, and
the run is recorded with ``trigger = "debug"`` (listed, never counted in statistics). One node
run alone goes through `run_recorded`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import string
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.base import new_id, new_key
from snapagent.db.group_commit import GroupCommit, Writes
from snapagent.db.models.accounts import User
from snapagent.db.models.bots import Bot
from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.db.session import Database
from snapagent.errors import (
    InputValidationError,
    NotFoundError,
    SnapAgentError,
    UnavailableError,
)
from snapagent.log_context import bind_run_id
from snapagent.services.chat_results import (
    answer_text,
    collect_sources,
    engine_event,
    failure_error,
)
from snapagent.services.conversations import ConversationStore, SessionLocks, TurnStart
from snapagent.services.database_outage import is_database_unreachable
from snapagent.services.debug_sessions import DebugSessionStore
from snapagent.services.lookup_cache import LookupCache
from snapagent.services.rollout import (
    Engine,
    choose_engine,
    compile_v1,
    has_v1_workflow,
    v1_version_key,
)
from snapagent.services.run_recorder import RunInfo, RunRecorder
from snapagent.services.run_recording import RecordingObserver
from snapagent.services.runtime import BotRuntime, CompiledVersion
from snapagent.services.system_values import RunKind, system_inputs
from snapagent.workflow.cancel_signal import CancelSignal
from snapagent.workflow.handle import RunObserver, WorkflowRun
from snapagent.workflow.plan import ExecutionPlan
from snapagent.workflow.replay import ReplayedNode
from snapagent.workflow.result import RunStatus, WorkflowRunResult

__all__ = [
    "ChatAnswer",
    "ChatError",
    "ChatEvent",
    "ChatService",
    "ChatSettings",
    "ChatTurn",
    "DebugTurn",
    "LiveBot",
    "LiveBotCache",
    "RunObserverFactory",
]

SESSION_KEY = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")

_SESSION_KEY_CHARS = frozenset(string.ascii_letters + string.digits + "._:-")


def session_id_problem(session_id: str) -> str:
    """Why ``session_id`` is refused, naming the first character that may not be used."""
    allowed = "ASCII letters A-Z and a-z, digits 0-9 and . _ : -"
    if not 1 <= len(session_id) <= 64:
        return f"session_id must be 1 to 64 characters long (it has {len(session_id)})"
    bad = next(c for c in session_id if c not in _SESSION_KEY_CHARS)
    shown = repr(bad) if bad.isprintable() else f"U+{ord(bad):04X}"
    return f"session_id may contain only {allowed}; {shown} is not one of them"


RunObserverFactory = Callable[[RunInfo], RunObserver]
"""Makes the observer of one run from what is known about it (`create_app` passes the
metrics and tracing ones)."""

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
class DebugTurn:
    """What makes a turn a debug run: declared start ``inputs`` given by hand, and for a
    replay the run it replays, the node it starts from and the recorded outcomes of the nodes
    upstream (``replay``; their ids are reported as ``reused``)."""

    inputs: Mapping[str, Any] = field(default_factory=dict)
    rerun_of: str | None = None
    rerun_from_node: str | None = None
    replay: Mapping[str, ReplayedNode] | None = None

    def answer_fields(self, version_id: str | None) -> dict[str, Any]:
        """What a debug run's answer adds to a chat answer."""
        return {
            "version_id": version_id,
            "trigger": "debug",
            "rerun_of": self.rerun_of,
            "reused": sorted(self.replay or ()),
        }


class ChatError(NamedTuple):
    """The stream's last event when the turn failed after the response started: the HTTP
    layer turns ``error`` into the same problem a JSON answer would have carried."""

    error: Exception
    run_id: str | None


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
    history: tuple[Mapping[str, str], ...] | None = None
    """The conversation so far as the client sent it (the OpenAI-compatible API): the
    workflow's history instead of the session's stored messages. ``None``: the stored ones."""
    instructions: tuple[Mapping[str, str], ...] = ()
    """System messages the client sent, placed before the history."""
    debug: DebugTurn | None = None
    """Set for a debug run (see the module docstring)."""

    @property
    def trigger(self) -> str:
        return "chat" if self.debug is None else "debug"

    @property
    def lock_key(self) -> str:
        """The in-process lock of its session (debug sessions are apart from chat sessions)."""
        return self.session_key if self.debug is None else f"debug\x00{self.session_key}"


@dataclass(frozen=True, slots=True)
class ChatAnswer:
    answer: str
    session_id: str
    run_id: str
    version: int | None
    sources: list[dict[str, Any]]
    usage: dict[str, int]
    extra: Mapping[str, Any] | None = None
    """A debug run's additions (`DebugTurn.answer_fields`)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "session_id": self.session_id,
            "run_id": self.run_id,
            "version": self.version,
            "sources": self.sources,
            "usage": self.usage,
            **(self.extra or {}),
        }


@dataclass(frozen=True, slots=True)
class LiveBot:
    """What a chat turn needs of a bot and its published version, as read at one moment
    (immutable: shared between requests by `LiveBotCache`)."""

    id: str
    owner_id: str
    default_model: str | None
    use_workflow_v2: bool
    v2_rollout_percent: int
    workflow: Any
    """The V1 workflow (``None`` without one)."""
    v1_key: str | None
    """Its compiled plan's cache key (`v1_version_key`), ``None`` without one."""
    version_id: str | None
    version_number: int | None
    graph: Mapping[str, Any] | None
    """The published version's graph (immutable once published), ``None`` without one."""


LiveBotCache = LookupCache[tuple[str, str], LiveBot]
"""Bots by ``(owner id, bot id)``: an entry exists only for the owner that read it."""


async def _bot_and_published_version(session: AsyncSession, user_id: str, bot_id: str) -> LiveBot:
    """The caller's bot and its published version in one query; another owner's is a 404."""
    published = and_(BotWorkflowVersion.bot_id == Bot.id, BotWorkflowVersion.status == "published")
    row = (
        await session.execute(
            select(Bot, BotWorkflowVersion)
            .outerjoin(BotWorkflowVersion, published)
            .where(Bot.id == bot_id)
        )
    ).first()
    if row is None or row[0].owner_id != user_id:
        raise NotFoundError(f"bot {bot_id} not found")
    bot, version = row[0], row[1]
    v1_key = None
    if has_v1_workflow(bot.workflow):
        # Hashes the user's workflow: CPU work on what a user wrote, off the event loop.
        v1_key = await asyncio.to_thread(v1_version_key, bot.id, bot.workflow)
    return LiveBot(
        id=bot.id,
        owner_id=bot.owner_id,
        default_model=bot.default_model,
        use_workflow_v2=bot.use_workflow_v2,
        v2_rollout_percent=bot.v2_rollout_percent,
        workflow=bot.workflow,
        v1_key=v1_key,
        version_id=version.id if version is not None else None,
        version_number=version.version_number if version is not None else None,
        graph=version.graph if version is not None else None,
    )


class ChatService:
    """See the module docstring. One per app (it holds the session locks)."""

    def __init__(
        self,
        database: Database,
        runtime: BotRuntime,
        recorder: RunRecorder,
        settings: ChatSettings | None = None,
        *,
        observers: Sequence[RunObserverFactory] = (),
        bots: LiveBotCache | None = None,
    ) -> None:
        self.database = database
        # The bots turns were prepared for, while unchanged (`snapagent.services.lookup_cache`).
        self.bots = bots
        self.runtime = runtime
        self.recorder = recorder
        self.settings = settings or ChatSettings()
        # Besides recording: what else watches every run (metrics, traces), one per run.
        self.observers = tuple(observers)
        # Turns' writes (a new session's first rows; every record with its answer): one
        # transaction for all that are ready together.
        self.group = GroupCommit(
            database,
            max_batch=recorder.settings.record_batch_max,
            in_flight=recorder.settings.record_batches_in_flight,
            sqlite_direct=recorder.settings.record_sqlite_direct,
            gather_yields=recorder.settings.record_batch_yields,
        )
        self.conversations = ConversationStore(database, self.group)
        self.debug_sessions = DebugSessionStore(database)
        self.locks = SessionLocks()
        # Graceful shutdown: the cancel event of every turn still running, and whether the
        # server is closing (see close()).
        self._open: set[asyncio.Event] = set()
        self._closed = asyncio.Event()
        self._closing = False

    @contextlib.asynccontextmanager
    async def _tracked(self) -> AsyncIterator[asyncio.Event]:
        """A turn's cancel event, known to close() until the turn (and its record) is done."""
        cancel = CancelSignal()  # stops its run without a watcher task (handle.py)
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
        *,
        history: Sequence[Mapping[str, str]] | None = None,
        instructions: Sequence[Mapping[str, str]] = (),
    ) -> ChatTurn:
        """Validate a request; raises InputValidationError, NotFoundError or ConflictError.
        ``files`` (already checked by the API's schema) reach the run as ``sys.files``;
        ``history`` and ``instructions`` (``{"role", "content"}`` each) replace the stored
        history and go before it (see `ChatTurn`)."""
        self.check_request(message, session_id)
        bot = await self.live_bot(session, user.id, bot_id)
        session_key = session_id or new_key()  # the client's handle: fully random
        # V1 or V2 for this session (stable per session; ConflictError if neither can run).
        decision = choose_engine(
            bot_id=bot.id,
            session_id=session_key,
            use_workflow_v2=bot.use_workflow_v2,
            v2_rollout_percent=bot.v2_rollout_percent,
            has_published_v2=bot.version_id is not None,
            v1_workflow=bot.workflow,
        )
        v2 = decision.engine == "v2" and bot.version_id is not None
        return ChatTurn(
            user_id=user.id,
            bot_id=bot.id,
            default_model=bot.default_model,
            session_key=session_key,
            message=message,
            engine=decision.engine,
            version_id=bot.version_id if v2 else None,
            version_number=bot.version_number if v2 else None,
            compiled=await self._compiled(bot, v2=v2),
            owner_id=bot.owner_id,
            new_session=session_id is None,
            files=tuple(files),
            history=None if history is None else tuple(history),
            instructions=tuple(instructions),
        )

    async def live_bot(self, session: AsyncSession, owner_id: str, bot_id: str) -> LiveBot:
        """The owner's bot with its published version (NotFoundError for any other owner's),
        from the cache while no bot or version changed anywhere."""
        key = (owner_id, bot_id)
        if self.bots is not None:
            found = self.bots.get(key)
            if found is not None:
                return found
        tag = self.bots.tag() if self.bots is not None else None
        bot = await _bot_and_published_version(session, owner_id, bot_id)
        if self.bots is not None:
            self.bots.put(key, tag, bot)
        return bot

    async def _compiled(self, bot: LiveBot, *, v2: bool) -> CompiledVersion:
        """The plan to run. Compiling validates the graph and reads its templates: CPU work
        on what a user wrote, kept off the event loop (plans are cached by version id, and
        asked for here first: no thread hop once compiled)."""
        if v2:
            assert bot.version_id is not None
            assert bot.graph is not None
            compiled = self.runtime.cached(bot.version_id)
            if compiled is None:
                compiled = await asyncio.to_thread(self.runtime.compile, bot.version_id, bot.graph)
            return compiled
        compiled = self.runtime.cached(bot.v1_key) if bot.v1_key is not None else None
        if compiled is None:
            compiled = await asyncio.to_thread(compile_v1, self.runtime, bot.id, bot.workflow)
        return compiled

    def _store(self, turn: ChatTurn) -> ConversationStore | DebugSessionStore:
        return self.conversations if turn.debug is None else self.debug_sessions

    def check_request(self, message: str, session_id: str | None) -> None:
        """The message and session id rules of every turn (chat or debug run)."""
        if not message.strip():
            raise InputValidationError("message must not be blank", field="message")
        if len(message) > self.settings.max_message_chars:
            raise InputValidationError(
                f"message is longer than {self.settings.max_message_chars} characters",
                field="message",
            )
        if session_id is not None and not SESSION_KEY.match(session_id):
            raise InputValidationError(session_id_problem(session_id), field="session_id")

    async def _begin(self, turn: ChatTurn, mode: str) -> tuple[TurnStart, RunInfo, dict[str, Any]]:
        start = await self._store(turn).begin_turn(
            turn.bot_id,
            turn.session_key,
            turn.user_id,
            turn.message,
            self.settings.history_messages,
            known_new=turn.new_session,
        )
        stored = start.history if turn.history is None else [dict(m) for m in turn.history]
        history = [*(dict(m) for m in turn.instructions), *stored]
        run_id = new_id()
        bind_run_id(run_id)  # the rest of this turn's log lines carry it
        declared = dict(turn.debug.inputs) if turn.debug is not None else {}
        inputs = {
            **declared,
            "query": turn.message,
            "session_id": turn.session_key,
            "history": history,
        }
        info = RunInfo(
            run_id=run_id,
            bot_id=turn.bot_id,
            # History is already stored as messages; the record keeps only its length.
            inputs={**inputs, "history": len(history)},
            titles=turn.compiled.titles,
            version_id=turn.version_id,
            version_number=turn.version_number,
            session_id=turn.session_key,
            user_id=turn.user_id,
            engine=turn.engine,
            mode=mode,
            trigger=turn.trigger,
            rerun_of=turn.debug.rerun_of if turn.debug else None,
            rerun_from_node=turn.debug.rerun_from_node if turn.debug else None,
        )
        return start, info, inputs

    def _start(
        self,
        turn: ChatTurn,
        start: TurnStart,
        info: RunInfo,
        inputs: dict[str, Any],
        cancel: asyncio.Event,
    ) -> tuple[WorkflowRun, _TurnAnswer, RecordingObserver]:
        """The turn's run handle, observed by the app's observers (metrics, traces) and by
        the recording observer, which stores the record and - on success - the answer."""
        answer = _TurnAnswer(self._store(turn), turn, start, info.run_id)
        recording = RecordingObserver(self.recorder, self.group, info, companion=answer)
        observers = [*(make(info) for make in self.observers), recording]
        sys = system_inputs(
            RunKind.CHAT,
            bot_id=turn.bot_id,
            run_id=info.run_id,
            user_id=turn.user_id,
            default_model=turn.default_model,
            files=list(turn.files),
        )
        handle = self.runtime.start(
            turn.compiled,
            inputs,
            sys,
            owner_id=turn.owner_id,
            observers=observers,
            cancel_event=cancel,
            conversation=start.variables,
            replay=turn.debug.replay if turn.debug else None,
        )
        return handle, answer, recording

    def _outcome(
        self, result: WorkflowRunResult, answer: _TurnAnswer, recording: RecordingObserver
    ) -> ChatAnswer:
        """The stored answer of a finished run, else the error it is reported as."""
        if result.status is not RunStatus.SUCCEEDED:
            if self._closing and result.status is RunStatus.CANCELLED:
                raise UnavailableError("the server is shutting down; retry the request")
            raise failure_error(result)
        if recording.companion_error is not None:
            raise recording.companion_error
        assert answer.answer is not None  # staged or written by the recording observer
        return answer.answer

    async def answer(self, turn: ChatTurn) -> ChatAnswer:
        """Run a turn to the end; provider failures raise ProviderError (502/504 upstream)."""
        async with self.locks.hold(turn.bot_id, turn.lock_key), self._tracked() as cancel:
            start, info, inputs = await self._begin(turn, "blocking")
            handle, answer, recording = self._start(turn, start, info, inputs, cancel)
            result = await handle.result()  # recorded, whatever happens to this task
            return self._outcome(result, answer, recording)

    async def run_recorded(
        self,
        info: RunInfo,
        compiled: CompiledVersion,
        inputs: Mapping[str, Any],
        sys: Mapping[str, Any],
        *,
        owner_id: str,
        plan: ExecutionPlan | None = None,
        links: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> WorkflowRunResult:
        """A run outside any session (one node run alone): observed and recorded like a
        turn's run (``info`` says how), and stopped at shutdown like one."""
        async with self._tracked() as cancel:
            bind_run_id(info.run_id)
            recording = RecordingObserver(self.recorder, self.group, info)
            handle = self.runtime.start(
                compiled,
                inputs,
                {**sys, "run_id": info.run_id},
                owner_id=owner_id,
                observers=[*(make(info) for make in self.observers), recording],
                cancel_event=cancel,
                plan=plan,
                links=links,
            )
            return await handle.result()

    async def stream(self, turn: ChatTurn) -> AsyncGenerator[ChatEvent | ChatError, None]:
        """The turn as events: ``session``, node/text events, ``sources``, then ``message`` (or
        a `ChatError`). Closing the iterator early cancels the run, which is recorded
        cancelled before the iterator is closed."""
        async with self.locks.hold(turn.bot_id, turn.lock_key), self._tracked() as cancel:
            try:
                start, info, inputs = await self._begin(turn, "streaming")
            except Exception as exc:
                # The response has started: a database outage can only travel as an event.
                if not is_database_unreachable(exc):
                    raise
                yield ChatError(exc, None)
                return
            yield ChatEvent(
                "session",
                {
                    "session_id": turn.session_key,
                    "run_id": info.run_id,
                    "version": turn.version_number,
                },
            )
            handle, answer, recording = self._start(turn, start, info, inputs, cancel)
            events = handle.events()
            try:
                async for event in events:
                    mapped = engine_event(event)
                    if mapped is not None:
                        yield ChatEvent(*mapped)
                outcome = self._outcome(await handle.result(), answer, recording)
            except Exception as exc:
                # Headers are sent: the failure can only travel as the stream's last event.
                if not isinstance(exc, SnapAgentError) and not is_database_unreachable(exc):
                    log.exception("chat turn %s failed", info.run_id)
                yield ChatError(exc, info.run_id)
                return
            finally:
                # Leaving early (the client went away): stop the run, wait for its record.
                await events.aclose()
            yield ChatEvent("sources", {"sources": outcome.sources})
            yield ChatEvent("message", outcome.to_dict())


class _TurnAnswer:
    """The answer of a succeeded turn, stored as the recording observer's companion."""

    def __init__(
        self,
        conversations: ConversationStore | DebugSessionStore,
        turn: ChatTurn,
        start: TurnStart,
        run_id: str,
    ) -> None:
        self.conversations = conversations
        self.turn = turn
        self.start = start
        self.run_id = run_id
        self.answer: ChatAnswer | None = None

    def _build(self, result: WorkflowRunResult) -> ChatAnswer:
        self.answer = ChatAnswer(
            answer=answer_text(result),
            session_id=self.turn.session_key,
            run_id=self.run_id,
            version=self.turn.version_number,
            sources=collect_sources(result),
            usage=result.usage.to_dict(),
            extra=(
                self.turn.debug.answer_fields(self.turn.version_id)
                if self.turn.debug is not None
                else None
            ),
        )
        return self.answer

    def _fields(self, answer: ChatAnswer, result: WorkflowRunResult) -> dict[str, Any]:
        return {
            "run_id": answer.run_id,
            "sources": answer.sources,
            "usage": answer.usage,
            # Conversation variables are kept when the turn succeeded and wrote one.
            "variables": result.conversation if result.conversation_writes else None,
        }

    def writes(self, result: WorkflowRunResult) -> Writes:
        answer = self._build(result)
        fields = self._fields(answer, result)
        return self.conversations.answer_writes(self.start, answer.answer, **fields)

    async def write(self, result: WorkflowRunResult) -> None:
        answer = self._build(result)
        fields = self._fields(answer, result)
        await self.conversations.add_answer(self.start, answer.answer, **fields)
