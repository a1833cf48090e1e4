"""`DebugSessionStore`: the conversations of debug runs, in ``debug_sessions`` only.

It stores turns the way `ConversationStore` does for chats - ``begin_turn`` (the history and
conversation variables before the turn, the user message appended), then ``stage_answer`` in
the run record's transaction or ``add_answer`` on its own - so `ChatService` runs a debug turn
exactly like a chat turn, but nothing of it ever reaches ``chat_sessions``: a debug session
named like a real user's session is another row in another table.

A debug session keeps its latest ``keep`` messages inline; every write is a compare-and-set on
its ``revision`` (retried), so concurrent turns on one debug session - from any replica - never
lose a message.

    store = DebugSessionStore(db)
    turn = await store.begin_turn(bot_id, "try-1", user_id, "hi", history_limit=20)
    await store.add_answer(turn, "hello", run_id=run_id, variables={"lang": "en"})
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.base import new_id, utcnow
from snapagent.db.group_commit import Writes
from snapagent.db.models.debug_sessions import DebugSession
from snapagent.db.session import Database
from snapagent.errors import ConflictError
from snapagent.services.conversations import TurnStart
from snapagent.services.session_order import lock_session

__all__ = ["DebugSessionStore"]

_WRITE_ATTEMPTS = 5


class _Stale(Exception):
    """Someone wrote the debug session between our read and our write."""


class DebugSessionStore:
    """See the module docstring. Stateless apart from the database: one per app is enough."""

    def __init__(self, database: Database, *, keep: int = 100) -> None:
        self.database = database
        self.keep = keep

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
        """Append the user message (creating the debug session if new); the history and the
        variables before it. ``known_new`` is accepted for `ConversationStore`'s signature."""
        for _attempt in range(_WRITE_ATTEMPTS):
            try:
                async with self.database.transaction() as session:
                    # Writers take turns, and SQLite's snapshot stays writable (see
                    # session_order); a chat session keyed the same only waits alongside.
                    await lock_session(session, bot_id, f"debug:{session_key}")
                    row = await _row(session, bot_id, session_key)
                    user_message = {"role": "user", "content": message}
                    if row is None:
                        chat_id, now = new_id(), utcnow()
                        await session.execute(
                            insert(DebugSession).values(
                                id=chat_id, bot_id=bot_id, session_key=session_key,
                                user_id=user_id, messages=[user_message], variables=None,
                                revision=1, created_at=now, updated_at=now,
                            )
                        )  # fmt: skip
                        return TurnStart(chat_id, 0, [])
                    messages = list(row.messages or [])
                    history = [
                        {"role": str(m.get("role")), "content": str(m.get("content"))}
                        for m in messages[-history_limit:]
                        if history_limit
                    ]
                    await self._write(session, row, [*messages, user_message], row.variables)
                    return TurnStart(row.id, 0, history, dict(row.variables or {}))
            except (IntegrityError, _Stale):
                continue  # created or written meanwhile by another request: read again
        raise ConflictError("the debug session is busy; retry the request")

    def answer_writes(
        self,
        turn: TurnStart,
        answer: str,
        *,
        variables: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Writes:
        """`stage_answer` as a step of a shared transaction (`GroupCommit`)."""

        async def stage(session: AsyncSession) -> None:
            await self.stage_answer(session, turn, answer, variables=variables, **fields)

        return Writes().then(stage)

    async def stage_answer(
        self,
        session: AsyncSession,
        turn: TurnStart,
        answer: str,
        *,
        variables: dict[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        """Append the answer in ``session``'s transaction (raises when the session moved on:
        the caller then writes it with `add_answer`)."""
        row = await session.get(DebugSession, turn.chat_id, populate_existing=True)
        if row is None:
            return  # the bot (and its debug sessions) was deleted meanwhile
        message = {"role": "assistant", "content": answer, "run_id": fields.get("run_id")}
        new_variables = variables if variables is not None else row.variables
        await self._write(session, row, [*(row.messages or []), message], new_variables)

    async def add_answer(
        self,
        turn: TurnStart,
        answer: str,
        *,
        variables: dict[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        """The answer in its own transaction, retried until it lands."""
        for _attempt in range(_WRITE_ATTEMPTS):
            try:
                async with self.database.transaction() as session:
                    await self.stage_answer(session, turn, answer, variables=variables, **fields)
                    return
            except _Stale:
                continue
        raise ConflictError("the debug session is busy; its answer was not stored")

    async def _write(
        self,
        session: AsyncSession,
        row: DebugSession,
        messages: list[Any],
        variables: dict[str, Any] | None,
    ) -> None:
        result = await session.execute(
            update(DebugSession)
            .where(DebugSession.id == row.id, DebugSession.revision == row.revision)
            .values(
                messages=messages[-self.keep :],
                variables=variables,
                revision=row.revision + 1,
                updated_at=utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 1) != 1:
            raise _Stale


async def _row(session: AsyncSession, bot_id: str, session_key: str) -> DebugSession | None:
    found: DebugSession | None = await session.scalar(
        select(DebugSession)
        .where(DebugSession.bot_id == bot_id, DebugSession.session_key == session_key)
        .execution_options(populate_existing=True)
    )
    return found
