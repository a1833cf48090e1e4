"""`GroupCommit`: concurrent writers share transactions; a bad member fails alone."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.base import new_id, utcnow
from snapagent.db.group_commit import GroupCommit, Writes
from snapagent.db.models.accounts import User
from snapagent.db.models.api_keys import ApiKey
from snapagent.db.models.chat import ChatMessageRecord, ChatSession
from snapagent.db.session import Database
from snapagent.services.conversations import _new_session
from snapagent.testing.seeding import user_and_bot


def _user(email: str) -> Writes:
    row = {"id": new_id(), "email": email, "created_at": utcnow(), "token_version": 0}
    return Writes().insert(User, row)


async def _emails(db: Database) -> list[str]:
    async with db.session() as session:
        return list(await session.scalars(select(User.email).order_by(User.email)))


async def test_concurrent_writes_share_transactions_and_all_commit(migrated_db: Database) -> None:
    group = GroupCommit(migrated_db, max_batch=16)
    emails = [f"u{i:02}@example.com" for i in range(40)]
    await asyncio.gather(*(group.write(_user(e)) for e in emails))
    assert await _emails(migrated_db) == emails
    assert group.members == 40
    assert group.batches <= 4  # 40 queued at once, 16 at most per transaction: 3 batches


async def test_a_failing_member_gets_its_own_error_and_the_others_commit(
    migrated_db: Database,
) -> None:
    await GroupCommit(migrated_db).write(_user("taken@example.com"))
    group = GroupCommit(migrated_db)
    outcomes = await asyncio.gather(
        group.write(_user("a@example.com")),
        group.write(_user("taken@example.com")),  # the unique email: this one fails
        group.write(_user("b@example.com")),
        return_exceptions=True,
    )
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert isinstance(outcomes[1], IntegrityError)
    assert await _emails(migrated_db) == ["a@example.com", "b@example.com", "taken@example.com"]


async def test_statements_run_after_the_batch_inserts(migrated_db: Database) -> None:
    group = GroupCommit(migrated_db)
    writes = _user("c@example.com")
    writes.execute(
        update(User)
        .where(User.email == "c@example.com")
        .values(token_version=User.token_version + 5)
    )
    await group.write(writes)
    async with migrated_db.session() as session:
        assert await session.scalar(select(func.max(User.token_version))) == 5


async def test_a_cancelled_caller_still_has_its_rows_committed(migrated_db: Database) -> None:
    group = GroupCommit(migrated_db)
    writer = asyncio.create_task(group.write(_user("gone@example.com")))
    await asyncio.sleep(0)
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writer
    for _ in range(200):  # the writer task finishes the transaction on its own
        if await _emails(migrated_db) == ["gone@example.com"]:
            break
        await asyncio.sleep(0.01)
    assert await _emails(migrated_db) == ["gone@example.com"]


async def test_parent_rows_go_in_before_their_children_whatever_the_order_given(
    migrated_db: Database,
) -> None:
    user_id = new_id()
    key = {
        "id": new_id(), "user_id": user_id, "name": "ci", "prefix": "sa_0123456789ab",
        "key_hash": "0" * 64, "created_at": utcnow(), "last_used_at": None, "revoked_at": None,
    }  # fmt: skip
    child_first = Writes().insert(ApiKey, key)
    child_first.merge(_user("parent@example.com"))
    child_first.rows[-1][1]["id"] = user_id
    await GroupCommit(migrated_db).write(child_first)
    async with migrated_db.session() as session:
        assert await session.scalar(select(ApiKey.user_id)) == user_id


async def test_on_postgresql_a_batch_commits_while_another_is_still_open(
    migrated_db: Database,
) -> None:
    """Two transactions in flight (PostgreSQL): a batch need not wait for the one before it to
    commit. SQLite has one writer: the second waits for the first."""
    group = GroupCommit(migrated_db, in_flight=2)
    opened, release = asyncio.Event(), asyncio.Event()

    async def hold_open(_session: AsyncSession) -> None:
        opened.set()
        await release.wait()

    first = asyncio.create_task(group.write(_user("slow@example.com").then(hold_open)))
    await asyncio.wait_for(opened.wait(), timeout=10)
    second = asyncio.create_task(group.write(_user("quick@example.com")))
    if migrated_db.is_postgres:
        await asyncio.wait_for(second, timeout=10)  # committed while the first is open
        assert not first.done()
    else:
        await asyncio.sleep(0.2)
        assert not second.done()
    release.set()
    await asyncio.wait_for(asyncio.gather(first, second), timeout=10)
    assert await _emails(migrated_db) == ["quick@example.com", "slow@example.com"]


def _turn(bot_id: str, user_id: str, n: int) -> Writes:
    """What a chat turn on a new session writes first: the session row and its user message,
    the message listed first (a child before its parent)."""
    _start, writes = _new_session(bot_id, f"key-{n}", user_id, f"question {n}")
    writes.rows.reverse()
    writes.rows[-1][1]["variables"] = {"n": n, "tags": ["a", None]}  # JSON through the arrays
    return writes


@pytest.mark.parametrize("sqlite_direct", [True, False], ids=["direct", "orm"])
async def test_on_postgresql_a_batch_of_rows_is_one_statement(
    migrated_db: Database, sqlite_direct: bool
) -> None:
    """Rows alone (no other statement) of tables the lookup caches do not watch: on PostgreSQL
    one statement per batch, no BEGIN or COMMIT of its own; on SQLite (``sqlite_direct``) an
    executemany per table and the COMMIT on the connection's thread, no statement through
    SQLAlchemy. The rows read back as written, JSON and NULLs included, either way."""
    if migrated_db.is_postgres and not sqlite_direct:
        pytest.skip("the switch is SQLite's")
    user_id, bot_id = await user_and_bot(migrated_db)
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(migrated_db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        group = GroupCommit(migrated_db, in_flight=1, sqlite_direct=sqlite_direct)
        await asyncio.gather(*(group.write(_turn(bot_id, user_id, n)) for n in range(12)))
    finally:
        event.remove(migrated_db.engine.sync_engine, "before_cursor_execute", seen)
    async with migrated_db.session() as session:
        by_key = select(ChatSession).order_by(ChatSession.session_key)
        sessions = (await session.scalars(by_key)).all()
        messages = await session.scalar(select(func.count()).select_from(ChatMessageRecord))
    assert [s.session_key for s in sessions] == sorted(f"key-{n}" for n in range(12))
    assert {s.session_key: s.variables for s in sessions}["key-7"] == {"n": 7, "tags": ["a", None]}
    assert all(s.created_at is not None and s.title.startswith("question") for s in sessions)
    assert messages == 12
    if migrated_db.is_postgres:
        assert len(statements) == group.batches
        assert all(s.startswith("WITH i0 AS (INSERT INTO chat_sessions") for s in statements)
    elif sqlite_direct:
        assert statements == []
    else:
        assert any(s.startswith("INSERT INTO chat_sessions") for s in statements)


async def test_on_sqlite_a_direct_batch_waits_for_another_process_write_lock(
    migrated_db: Database,
) -> None:
    """Another process holds SQLite's write lock: the batch tries again until it is free (as
    SQLAlchemy's path does), then commits; the lock is never held past the batch."""
    if not migrated_db.is_sqlite:
        pytest.skip("SQLite's write lock")
    user_id, bot_id = await user_and_bot(migrated_db)
    other = sqlite3.connect(str(migrated_db.url.database), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        write = asyncio.create_task(GroupCommit(migrated_db).write(_turn(bot_id, user_id, 1)))
        await asyncio.sleep(0.3)
        assert not write.done()
        other.execute("COMMIT")
        await asyncio.wait_for(write, timeout=10)
        other.execute("BEGIN IMMEDIATE")  # free again: the batch committed and let go
        other.execute("ROLLBACK")
    finally:
        other.close()
    async with migrated_db.session() as session:
        assert await session.scalar(select(ChatSession.session_key)) == "key-1"


async def test_a_failed_batch_leaves_its_connection_clean(migrated_db: Database) -> None:
    """A broken foreign key (a bot that does not exist) fails the batch with SQLAlchemy's
    IntegrityError, rolled back; the pool's connections go on writing."""
    user_id, bot_id = await user_and_bot(migrated_db)
    group = GroupCommit(migrated_db, in_flight=1)
    with pytest.raises(IntegrityError):
        await group.write(_turn("no-such-bot", user_id, 1))
    for n in range(2, 8):  # every connection of the pool would do
        await group.write(_turn(bot_id, user_id, n))
    async with migrated_db.session() as session:
        count = await session.scalar(select(func.count()).select_from(ChatSession))
    assert count == 6


async def test_on_postgresql_a_failing_batch_statement_fails_its_member_alone(
    migrated_db: Database,
) -> None:
    user_id, bot_id = await user_and_bot(migrated_db)
    await GroupCommit(migrated_db).write(_turn(bot_id, user_id, 1))
    group = GroupCommit(migrated_db, in_flight=1)
    outcomes = await asyncio.gather(
        group.write(_turn(bot_id, user_id, 2)),
        group.write(_turn(bot_id, user_id, 1)),  # the session's key again: unique per bot
        group.write(_turn(bot_id, user_id, 3)),
        return_exceptions=True,
    )
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert isinstance(outcomes[1], IntegrityError)
    async with migrated_db.session() as session:
        by_key = select(ChatSession.session_key).order_by(ChatSession.session_key)
        keys = await session.scalars(by_key)
        assert list(keys) == ["key-1", "key-2", "key-3"]
        messages = await session.scalar(select(func.count()).select_from(ChatMessageRecord))
    assert messages == 3  # nothing of the failed member's rows


@pytest.mark.parametrize(("yields", "batches"), [(2, 1), (0, 2)])
async def test_the_writer_lets_turns_finishing_meanwhile_join_its_batch(
    migrated_db: Database, yields: int, batches: int
) -> None:
    """A write queued one event-loop turn after the writer started joins its batch when the
    writer lets the loop run first (``gather_yields``); taken at once, it waits for the next."""
    group = GroupCommit(migrated_db, in_flight=1, gather_yields=yields)

    async def a_turn_later() -> None:
        await asyncio.sleep(0)
        await group.write(_user("late@example.com"))

    await asyncio.gather(group.write(_user("first@example.com")), a_turn_later())
    assert group.batches == batches
    assert await _emails(migrated_db) == ["first@example.com", "late@example.com"]


async def test_a_writer_cancelled_while_it_lets_the_loop_run_cancels_what_it_held(
    migrated_db: Database,
) -> None:
    """Cancelled before it took its batch (the server closing its loop), the writer cancels
    every queued member's outcome instead of leaving its caller waiting forever."""
    group = GroupCommit(migrated_db, in_flight=1, gather_yields=2)
    write = asyncio.create_task(group.write(_user("never@example.com")))
    await asyncio.sleep(0)  # the write queued its member and made the writer
    await asyncio.sleep(0)  # the writer runs: it lets the loop run before taking its batch
    (writer,) = group._writers
    assert group._queue
    writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(write, timeout=10)
