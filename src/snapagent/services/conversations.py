"""Chat sessions and their messages: storing turns in order, reading history and transcripts.

``begin_turn`` runs in one short transaction: find or create the session, read its recent
history, append the user message. ``answer_writes`` is the assistant message for a caller's
transaction (the chat stores it with the run record, through `GroupCommit`); ``add_answer``
writes it in its own.
Message numbers (``seq``) follow the last one read under the in-process `SessionLocks` and,
across processes, a database lock on the session (`snapagent.services.session_order`: a
turn's user message takes the next ``seq`` and reserves the one after it for its answer); the
unique ``(session_id, seq)`` constraint stays the last guard, and the write is retried.

    store = ConversationStore(db)
    turn = await store.begin_turn(bot_id, "s1", user_id, "hi", history_limit=20)
    await store.add_answer(turn, "hello", run_id=run_id, sources=[], usage={})
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.base import new_id, utcnow
from snapagent.db.group_commit import GroupCommit, Writes
from snapagent.db.models.chat import ChatMessageRecord, ChatSession
from snapagent.db.pagination import Page, SortKey, page_of, paginate
from snapagent.db.session import Database
from snapagent.db.sqlite_driver import deferred_inserts
from snapagent.errors import NotFoundError
from snapagent.services.session_order import lock_session, next_user_seq

__all__ = [
    "ChatMessagePublic",
    "ChatSessionPublic",
    "ChatSessionsPublic",
    "ConversationStore",
    "SessionLocks",
    "SessionTranscript",
    "TurnStart",
    "list_sessions",
    "read_transcript",
]

_WRITE_ATTEMPTS = 3
TITLE_CHARS = 100


class SessionLocks:
    """One asyncio lock per (bot, session) while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, bot_id: str, session_key: str) -> AsyncIterator[None]:
        key = (bot_id, session_key)
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class ChatSessionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    session_id: str = Field(description="The session id chat was given (or made up).")
    title: str = Field(
        description="The start of the session's first message (at most 100 characters)."
    )
    message_count: int = Field(description="Messages stored: the users' and the bot's.")
    created_at: datetime = Field(description="When the session started (UTC).")
    last_message_at: datetime = Field(description="When its latest message was stored (UTC).")


class ChatMessagePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int = Field(
        description="The message's number in its session, increasing in order (an answer takes "
        "the number after its user message)."
    )
    role: str = Field(description="`user` or `assistant`.")
    content: str = Field(description="The message's text.")
    run_id: str | None = Field(
        description="For an answer: the workflow run that produced it; null for a user message."
    )
    sources: list[Any] = Field(
        description="For an answer: its citations, as chat returned them; empty otherwise."
    )
    usage: dict[str, Any] = Field(
        description="For an answer: the model tokens its run used; empty otherwise."
    )
    created_at: datetime = Field(description="When the message was stored (UTC).")


class ChatSessionsPublic(Page):
    data: list[ChatSessionPublic] = Field(description="The bot's sessions on this page.")


class SessionTranscript(ChatSessionPublic):
    messages: list[ChatMessagePublic] = Field(description="Every message, oldest first.")
    variables: dict[str, Any] = Field(
        default_factory=dict,
        description="The session's conversation variables (after its last turn that wrote one).",
    )


def _activity(bot_id: str) -> Any:
    """Per session of the bot: message count and last message time (one grouped read)."""
    return (
        select(
            ChatMessageRecord.session_id.label("chat_id"),
            func.count(ChatMessageRecord.id).label("messages"),
            func.max(ChatMessageRecord.created_at).label("last_at"),
        )
        .join(ChatSession, ChatSession.id == ChatMessageRecord.session_id)
        .where(ChatSession.bot_id == bot_id)
        .group_by(ChatMessageRecord.session_id)
        .subquery()
    )


def _public_session(row: ChatSession, messages: int, last_at: datetime) -> dict[str, Any]:
    return {
        "session_id": row.session_key,
        "title": row.title,
        "message_count": messages,
        "created_at": row.created_at,
        "last_message_at": last_at,
    }


@dataclass(frozen=True, slots=True)
class TurnStart:
    """Where a turn's user message went: the session row, its ``seq``, the history before it,
    and the session's conversation variables (``{}`` for a new session)."""

    chat_id: str
    user_seq: int
    history: list[dict[str, str]]
    variables: dict[str, Any] = field(default_factory=dict)


def _message_row(chat_id: str, seq: int, role: str, content: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": new_id(), "session_id": chat_id, "seq": seq, "role": role, "content": content,
        "sources": fields.get("sources", []), "usage": fields.get("usage", {}),
        "run_id": fields.get("run_id"), "created_at": utcnow(),
    }  # fmt: skip


async def _insert_message(
    session: AsyncSession, chat_id: str, seq: int, role: str, content: str, **fields: Any
) -> None:
    row = _message_row(chat_id, seq, role, content, **fields)
    await session.execute(insert(ChatMessageRecord).values(**row))


async def _next_seq(session: AsyncSession, chat_id: str) -> int:
    last = await session.scalar(
        select(func.max(ChatMessageRecord.seq)).where(ChatMessageRecord.session_id == chat_id)
    )
    return int(last or 0) + 1


def _variables_writes(turn: TurnStart, variables: dict[str, Any] | None) -> Writes:
    # Turns on one session take turns (SessionLocks, session_order), so the values read at the
    # start of this turn are still the session's: a plain write, no merge.
    writes = Writes()
    if variables is not None and variables != turn.variables:
        writes.execute(
            update(ChatSession).where(ChatSession.id == turn.chat_id).values(variables=variables)
        )
    return writes


async def _store_variables(
    session: AsyncSession, turn: TurnStart, variables: dict[str, Any] | None
) -> None:
    await _variables_writes(turn, variables).apply(session)


def _new_session(
    bot_id: str, session_key: str, user_id: str, message: str
) -> tuple[TurnStart, Writes]:
    """A session's row with its first (user) message."""
    chat_id, now = new_id(), utcnow()
    row = {
        "id": chat_id, "bot_id": bot_id, "session_key": session_key, "user_id": user_id,
        "title": message.strip()[:TITLE_CHARS], "variables": None,
        "created_at": now, "updated_at": now,
    }  # fmt: skip
    writes = Writes().insert(ChatSession, row)
    writes.insert(ChatMessageRecord, _message_row(chat_id, 1, "user", message))
    return TurnStart(chat_id, 1, []), writes


class ConversationStore:
    """Writes turns; see the module docstring. Statements are few on purpose (chat is
    benchmarked): a new session is two inserts; a known one is one read (its row, history
    and last ``seq``) and one insert."""

    def __init__(self, database: Database, group: GroupCommit | None = None) -> None:
        self.database = database
        # A new session's first rows, shared with other turns' writes (see begin_turn).
        self.group = group

    async def begin_turn(
        self,
        bot_id: str,
        session_key: str,
        user_id: str,
        message: str,
        history_limit: int,
        *,
        known_new: bool = False,
    ) -> TurnStart:
        """Store the user message (creating the session unless it exists); ``known_new``
        skips the lookup for a session id the server just generated - then, with a group
        commit, its two rows share a transaction with other turns' writes."""
        if known_new and self.group is not None:
            start, writes = _new_session(bot_id, session_key, user_id, message)
            try:
                await self.group.write(writes)
                return start
            except IntegrityError:
                known_new = False  # someone created it first: look it up below
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                async with self.database.writing(), self.database.transaction() as session:
                    rows = []
                    if not known_new:
                        # Other replicas append to this session too: take turns (see
                        # session_order); a key we just generated is nobody else's.
                        await lock_session(session, bot_id, session_key)
                        rows = await self._recent(session, bot_id, session_key, history_limit)
                    if not rows:
                        return await self._start_session(
                            session, bot_id, session_key, user_id, message
                        )
                    # The next seq after the newest message, leaving a pending answer its slot.
                    chat_id, seq = rows[0][0], next_user_seq(rows[0][1], rows[0][2])
                    history = [{"role": r, "content": c} for _, _, r, c, _ in rows[:history_limit]]
                    # Sent with the COMMIT (one thread hop on SQLite); a seq taken meanwhile by
                    # another process fails the COMMIT with IntegrityError: read again.
                    async with deferred_inserts(session):
                        await _insert_message(session, chat_id, seq, "user", message)
                    return TurnStart(chat_id, seq, history[::-1], dict(rows[0][4] or {}))
            except IntegrityError:
                # Another process created the session or took the seq first: read again.
                known_new = False
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def _recent(
        self, session: AsyncSession, bot_id: str, session_key: str, history_limit: int
    ) -> list[Any]:
        """The session's latest messages, newest first, with its row id; [] if it is new.
        (A session is created with its first message, so a known one always has a row.)"""
        result = await session.execute(
            select(
                ChatSession.id,
                ChatMessageRecord.seq,
                ChatMessageRecord.role,
                ChatMessageRecord.content,
                ChatSession.variables,
            )
            .join(ChatMessageRecord, ChatMessageRecord.session_id == ChatSession.id)
            .where(ChatSession.bot_id == bot_id, ChatSession.session_key == session_key)
            .order_by(ChatMessageRecord.seq.desc())
            .limit(max(history_limit, 1))
        )
        return list(result)

    async def _start_session(
        self, session: AsyncSession, bot_id: str, session_key: str, user_id: str, message: str
    ) -> TurnStart:
        start, writes = _new_session(bot_id, session_key, user_id, message)
        await writes.apply(session)
        return start

    def answer_writes(
        self,
        turn: TurnStart,
        answer: str,
        *,
        variables: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Writes:
        """The assistant message right after the turn's user message (for a shared
        transaction); ``variables`` (when the run wrote any) become the session's
        conversation variables."""
        row = _message_row(turn.chat_id, turn.user_seq + 1, "assistant", answer, **fields)
        return Writes().insert(ChatMessageRecord, row).merge(_variables_writes(turn, variables))

    async def stage_answer(
        self,
        session: AsyncSession,
        turn: TurnStart,
        answer: str,
        *,
        variables: dict[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        """:meth:`answer_writes`, executed in ``session``'s transaction."""
        writes = self.answer_writes(turn, answer, variables=variables, **fields)
        await writes.apply(session)

    async def add_answer(
        self,
        turn: TurnStart,
        answer: str,
        *,
        variables: dict[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        """The assistant message in its own transaction: in its reserved slot (right after its
        user message), else after any message stored meanwhile; ``variables`` as above."""
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                async with self.database.writing(), self.database.transaction() as session:
                    seq = (
                        turn.user_seq + 1
                        if attempt == 0
                        else await _next_seq(session, turn.chat_id)
                    )
                    await _insert_message(session, turn.chat_id, seq, "assistant", answer, **fields)
                    await _store_variables(session, turn, variables)
                    return
            except IntegrityError:
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise


async def list_sessions(
    session: AsyncSession, bot_id: str, *, limit: int = 20, cursor: str | None = None
) -> ChatSessionsPublic:
    """A page of a bot's sessions, most recently active first (the caller checked bot
    ownership)."""
    activity = _activity(bot_id)
    order = (
        SortKey(activity.c.last_at, descending=True, kind=datetime),
        SortKey(ChatSession.id, descending=True),
    )
    query = select(ChatSession, activity.c.messages, activity.c.last_at).join(
        activity, activity.c.chat_id == ChatSession.id
    )
    rows = list(await session.execute(paginate(query, order, limit=limit, cursor=cursor)))
    page, next_cursor = page_of(rows, limit=limit, key=lambda row: (row[2], row[0].id))
    return ChatSessionsPublic(
        data=[ChatSessionPublic.model_validate(_public_session(*row)) for row in page],
        next_cursor=next_cursor,
    )


async def read_transcript(
    session: AsyncSession, bot_id: str, session_key: str, *, limit: int = 200
) -> SessionTranscript:
    """A session with its latest ``limit`` messages in order (the caller checked the bot)."""
    chat = await session.scalar(
        select(ChatSession).where(
            ChatSession.bot_id == bot_id, ChatSession.session_key == session_key
        )
    )
    if chat is None:
        raise NotFoundError(f"chat session {session_key} not found")
    rows = list(
        await session.scalars(
            select(ChatMessageRecord)
            .where(ChatMessageRecord.session_id == chat.id)
            .order_by(ChatMessageRecord.seq.desc())
            .limit(limit)
        )
    )[::-1]
    messages = [ChatMessagePublic.model_validate(row) for row in rows]
    count = await session.scalar(
        select(func.count(ChatMessageRecord.id)).where(ChatMessageRecord.session_id == chat.id)
    )
    last_at = rows[-1].created_at if rows else chat.created_at
    public = _public_session(chat, int(count or 0), last_at)
    return SessionTranscript.model_validate(
        {**public, "messages": messages, "variables": chat.variables or {}}
    )
