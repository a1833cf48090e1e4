"""Chat sessions and their messages: storing turns in order, reading history and transcripts.

``begin_turn`` runs in one short transaction: find or create the session, read its recent
history, append the user message. ``stage_answer`` appends the assistant message inside a
caller's transaction (the chat stores it with the run record); ``add_answer`` in its own.
Message numbers (``seq``) follow the last one read under the in-process `SessionLocks`; the
unique ``(session_id, seq)`` constraint catches a second process writing the same session,
and the write is retried.

    store = ConversationStore(db)
    turn = await store.begin_turn(bot_id, "s1", user_id, "hi", history_limit=20)
    await store.add_answer(turn, "hello", run_id=run_id, sources=[], usage={})
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.base import new_id, utcnow
from snapagent.db.models.chat import ChatMessageRecord, ChatSession
from snapagent.db.session import Database
from snapagent.errors import InputValidationError, NotFoundError

__all__ = [
    "ChatMessagePublic",
    "ChatSessionPublic",
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

    session_id: str
    title: str
    message_count: int
    created_at: datetime
    updated_at: datetime


class ChatMessagePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    role: str
    content: str
    run_id: str | None
    sources: list[Any]
    usage: dict[str, Any]
    created_at: datetime


class SessionTranscript(ChatSessionPublic):
    messages: list[ChatMessagePublic]


def _public_session(row: ChatSession) -> dict[str, Any]:
    return {
        "session_id": row.session_key,
        "title": row.title,
        "message_count": row.message_count,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


@dataclass(frozen=True, slots=True)
class TurnStart:
    """Where a turn's user message went: the session row, its ``seq``, the history before it."""

    chat_id: str
    user_seq: int
    history: list[dict[str, str]]


async def _insert_message(
    session: AsyncSession, chat_id: str, seq: int, role: str, content: str, **fields: Any
) -> None:
    now = utcnow()
    await session.execute(
        insert(ChatMessageRecord).values(
            id=new_id(), session_id=chat_id, seq=seq, role=role, content=content,
            sources=fields.get("sources", []), usage=fields.get("usage", {}),
            run_id=fields.get("run_id"), created_at=now,
        )
    )  # fmt: skip
    await session.execute(
        update(ChatSession)
        .where(ChatSession.id == chat_id)
        .values(message_count=ChatSession.message_count + 1, updated_at=now)
    )


async def _next_seq(session: AsyncSession, chat_id: str) -> int:
    last = await session.scalar(
        select(func.max(ChatMessageRecord.seq)).where(ChatMessageRecord.session_id == chat_id)
    )
    return int(last or 0) + 1


class ConversationStore:
    """Writes turns; see the module docstring. Statements are few on purpose (chat is
    benchmarked): a new session is two inserts, a known one reads its history and last
    ``seq`` in one query."""

    def __init__(self, database: Database) -> None:
        self.database = database

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
        skips the lookup for a session id the server just generated."""
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                async with self.database.transaction() as session:
                    chat_id = None
                    if not known_new:
                        chat_id = await session.scalar(
                            select(ChatSession.id).where(
                                ChatSession.bot_id == bot_id,
                                ChatSession.session_key == session_key,
                            )
                        )
                    if chat_id is None:
                        return await self._start_session(
                            session, bot_id, session_key, user_id, message
                        )
                    rows = list(
                        await session.execute(
                            select(
                                ChatMessageRecord.seq,
                                ChatMessageRecord.role,
                                ChatMessageRecord.content,
                            )
                            .where(ChatMessageRecord.session_id == chat_id)
                            .order_by(ChatMessageRecord.seq.desc())
                            .limit(max(history_limit, 1))
                        )
                    )
                    seq = rows[0][0] + 1 if rows else 1
                    history = [{"role": r, "content": c} for _, r, c in rows[:history_limit]]
                    await _insert_message(session, chat_id, seq, "user", message)
                    return TurnStart(chat_id, seq, history[::-1])
            except IntegrityError:
                # Another process created the session or took the seq first: read again.
                known_new = False
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def _start_session(
        self, session: AsyncSession, bot_id: str, session_key: str, user_id: str, message: str
    ) -> TurnStart:
        chat_id, now = new_id(), utcnow()
        await session.execute(
            insert(ChatSession).values(
                id=chat_id, bot_id=bot_id, session_key=session_key, user_id=user_id,
                title=message.strip()[:TITLE_CHARS], message_count=1, created_at=now,
                updated_at=now,
            )
        )  # fmt: skip
        await session.execute(
            insert(ChatMessageRecord).values(
                id=new_id(), session_id=chat_id, seq=1, role="user", content=message,
                sources=[], usage={}, run_id=None, created_at=now,
            )
        )  # fmt: skip
        return TurnStart(chat_id, 1, [])

    async def stage_answer(
        self, session: AsyncSession, turn: TurnStart, answer: str, **fields: Any
    ) -> None:
        """Add the assistant message right after the turn's user message, in ``session``."""
        await _insert_message(
            session, turn.chat_id, turn.user_seq + 1, "assistant", answer, **fields
        )

    async def add_answer(self, turn: TurnStart, answer: str, **fields: Any) -> None:
        """The assistant message in its own transaction, after any message stored meanwhile."""
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                async with self.database.transaction() as session:
                    seq = await _next_seq(session, turn.chat_id)
                    await _insert_message(session, turn.chat_id, seq, "assistant", answer, **fields)
                    return
            except IntegrityError:
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise


async def list_sessions(
    session: AsyncSession, bot_id: str, *, limit: int = 20, offset: int = 0
) -> list[ChatSessionPublic]:
    """A bot's sessions, most recently active first (the caller checked bot ownership)."""
    if not 1 <= limit <= 100:
        raise InputValidationError("limit must be 1..100", field="limit")
    if offset < 0:
        raise InputValidationError("offset must be 0 or more", field="offset")
    rows = await session.scalars(
        select(ChatSession)
        .where(ChatSession.bot_id == bot_id)
        .order_by(ChatSession.updated_at.desc(), ChatSession.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [ChatSessionPublic.model_validate(_public_session(row)) for row in rows]


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
    return SessionTranscript.model_validate({**_public_session(chat), "messages": messages})
