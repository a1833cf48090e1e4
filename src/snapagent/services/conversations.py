"""Chat sessions and their messages: storing turns in order, reading history and transcripts.

``begin_turn`` runs in one short transaction: find or create the session, read its recent
history, append the user message. ``add_answer`` appends the assistant message. Message
numbers (``seq``) come from ``max(seq) + 1`` under the in-process `SessionLocks`; the unique
``(session_id, seq)`` constraint catches a second process writing the same session, and the
write is retried.

    store = ConversationStore(db)
    chat_id, history = await store.begin_turn(bot_id, "s1", user_id, "hi", history_limit=20)
    await store.add_answer(chat_id, "hello", run_id, sources=[], usage={})
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.base import utcnow
from snapagent.db.models.chat import ChatMessageRecord, ChatSession
from snapagent.db.session import Database
from snapagent.errors import InputValidationError, NotFoundError

__all__ = [
    "ChatMessagePublic",
    "ChatSessionPublic",
    "ConversationStore",
    "SessionLocks",
    "SessionTranscript",
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


async def _append(
    session: AsyncSession, chat_id: str, role: str, content: str, **fields: Any
) -> None:
    next_seq = await session.scalar(
        select(func.coalesce(func.max(ChatMessageRecord.seq), 0) + 1).where(
            ChatMessageRecord.session_id == chat_id
        )
    )
    session.add(
        ChatMessageRecord(
            session_id=chat_id, seq=int(next_seq or 1), role=role, content=content, **fields
        )
    )
    await session.execute(
        update(ChatSession)
        .where(ChatSession.id == chat_id)
        .values(message_count=ChatSession.message_count + 1, updated_at=utcnow())
    )


class ConversationStore:
    """Writes turns; see the module docstring."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def begin_turn(
        self, bot_id: str, session_key: str, user_id: str, message: str, history_limit: int
    ) -> tuple[str, list[dict[str, str]]]:
        """Store the user message; return the session's row id and the history before it."""
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                async with self.database.transaction() as session:
                    chat = await session.scalar(
                        select(ChatSession).where(
                            ChatSession.bot_id == bot_id, ChatSession.session_key == session_key
                        )
                    )
                    history: list[dict[str, str]] = []
                    if chat is None:
                        chat = ChatSession(
                            bot_id=bot_id,
                            session_key=session_key,
                            user_id=user_id,
                            title=message.strip()[:TITLE_CHARS],
                            message_count=0,
                        )
                        session.add(chat)
                        await session.flush()
                    elif history_limit:
                        rows = await session.execute(
                            select(ChatMessageRecord.role, ChatMessageRecord.content)
                            .where(ChatMessageRecord.session_id == chat.id)
                            .order_by(ChatMessageRecord.seq.desc())
                            .limit(history_limit)
                        )
                        history = [{"role": r, "content": c} for r, c in rows][::-1]
                    await _append(session, chat.id, "user", message)
                    return chat.id, history
            except IntegrityError:
                # Another process created the session or took the seq first: read again.
                if attempt == _WRITE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def add_answer(
        self,
        chat_id: str,
        answer: str,
        run_id: str,
        sources: list[dict[str, Any]],
        usage: dict[str, Any],
    ) -> None:
        for attempt in range(_WRITE_ATTEMPTS):
            try:
                async with self.database.transaction() as session:
                    await _append(
                        session, chat_id, "assistant", answer, run_id=run_id,
                        sources=sources, usage=usage,
                    )  # fmt: skip
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
