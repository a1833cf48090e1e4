"""Message order on one chat session when several processes (replicas) write to it.

Inside one process `SessionLocks` runs the turns of a session one after the other. Across
processes the database decides, in the short transaction that appends a turn's user message:

- PostgreSQL: ``pg_advisory_xact_lock(hashtext(bot_id || ':' || session_key))`` first, so two
  replicas appending to one session take turns (the lock is released at commit; a hash
  collision between two sessions only makes them wait for each other, never mixes them).
  An advisory lock rather than ``SELECT ... FOR UPDATE``: it also covers the session's very
  first message, when no row exists yet to lock.
- SQLite: a write that matches no row takes the database's write lock up front (waiting the
  busy timeout), so the read of the last ``seq`` that follows cannot be stale.

The lock is held only for that append, never across the model call. The order is fixed at
arrival: a turn's user message gets the next ``seq`` and *reserves* the one after it for its
assistant message (written when the run ends, however long that takes). A turn arriving while
another replica's turn on the same session is still running therefore comes after it, sees that
turn's question but not yet its answer in its history, and its own messages follow both. A turn
whose run failed leaves its reserved number unused (a gap, never a reordering). The unique
``(session_id, seq)`` constraint stays the final guard.

    async with db.transaction() as session:
        await lock_session(session, bot_id, session_key)
        last_seq, last_role = ...              # the session's newest message
        user_seq = next_user_seq(last_seq, last_role)   # assistant: user_seq + 1
"""

from __future__ import annotations

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.models.chat import ChatSession

__all__ = ["lock_session", "next_user_seq"]


async def lock_session(session: AsyncSession, bot_id: str, session_key: str) -> None:
    """Serialise appends to one chat session until ``session``'s transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"{bot_id}:{session_key}"},
        )
        return
    # SQLite: begin as a writer (a no-op UPDATE still opens a write transaction).
    await session.execute(
        update(ChatSession)
        .where(ChatSession.id == "")
        .values(title=ChatSession.title)
        .execution_options(synchronize_session=False)
    )


def next_user_seq(last_seq: int, last_role: str) -> int:
    """The ``seq`` of a new user message after the session's newest message.

    A newest message from the user belongs to a turn whose answer is still due (or failed):
    its ``seq + 1`` stays reserved for that answer.
    """
    return last_seq + 2 if last_role == "user" else last_seq + 1
