"""`sqlite_driver`: a statement is one hop to the connection's thread, idle commits none, and
a group commit's batch one with its COMMIT."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.base import new_id, utcnow
from snapagent.db.group_commit import GroupCommit, Writes
from snapagent.db.migrate import upgrade
from snapagent.db.models.accounts import User
from snapagent.db.session import Database
from snapagent.db.sqlite_driver import SQLITE_BUSY_TIMEOUT_MS


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'hops.db'}")
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield database
    await database.dispose()


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every function aiosqlite runs on a connection's thread, by name."""
    seen: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Callable[..., Any], *a: Any, **k: Any) -> Any:
        seen.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *a, **k)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return seen


async def _counting(hops: list[str], work: Callable[[], Awaitable[Any]]) -> tuple[Any, int]:
    before = len(hops)
    result = await work()
    return result, len(hops) - before


async def test_a_read_is_one_hop_and_its_session_ends_without_another(
    db: Database, hops: list[str]
) -> None:
    async with db.transaction() as session:
        await session.execute(text("INSERT INTO t (name) VALUES ('a'), ('b')"))

    async def read() -> list[Any]:
        async with db.session() as session:
            rows = list(await session.execute(text("SELECT id, name FROM t ORDER BY id")))
            await session.commit()  # nothing written: no COMMIT to send
        return rows

    rows, count = await _counting(hops, read)
    assert [tuple(row) for row in rows] == [(1, "a"), (2, "b")]
    assert count == 1


async def test_a_write_transaction_is_a_hop_per_statement_and_one_commit(
    db: Database, hops: list[str]
) -> None:
    async def write() -> tuple[int, int]:
        async with db.transaction() as session:
            await session.execute(
                text("INSERT INTO t (name) VALUES (:n)"), [{"n": "x"}, {"n": "y"}]
            )
            updated = await session.execute(text("UPDATE t SET name = name || '!'"))
            inserted = await session.execute(text("INSERT INTO t (name) VALUES ('z')"))
        return updated.rowcount, inserted.lastrowid  # type: ignore[attr-defined]

    (rowcount, lastrowid), count = await _counting(hops, write)
    assert (rowcount, lastrowid) == (2, 3)
    assert count == 4  # executemany, update, insert, commit
    async with db.session() as session:
        assert list(await session.scalars(text("SELECT name FROM t ORDER BY id"))) == [
            "x!", "y!", "z"
        ]  # fmt: skip


async def test_errors_are_sqlalchemys_and_roll_the_transaction_back(db: Database) -> None:
    async def insert_twice() -> None:
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO t (name) VALUES ('dup')"))
            await session.execute(text("INSERT INTO t (name) VALUES ('dup')"))

    with pytest.raises(IntegrityError):
        await insert_twice()
    async with db.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM t")) == 0
    async with db.transaction() as session:  # the pooled connection is usable again
        await session.execute(text("INSERT INTO t (name) VALUES ('after')"))
    async with db.session() as session:
        assert await session.scalar(text("SELECT count(*) FROM t")) == 1


async def test_server_side_cursors_still_stream(db: Database) -> None:
    async with db.transaction() as session:
        await session.execute(
            text("INSERT INTO t (name) VALUES (:n)"), [{"n": f"r{i}"} for i in range(300)]
        )
    async with db.session() as session:
        result = await session.stream(text("SELECT name FROM t ORDER BY id"))
        names = [row[0] async for row in result]
    assert names == [f"r{i}" for i in range(300)]


async def test_a_group_commit_batch_is_one_hop_and_later_reads_see_its_rows(
    tmp_path: Path, hops: list[str]
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'batch.db'}")
    await upgrade(db)
    try:
        await db.check()  # a pooled connection, its pragmas run
        group = GroupCommit(db)
        seen: list[int] = []

        async def count_users(session: AsyncSession) -> None:  # reads after the inserts
            seen.append(await session.scalar(select(func.count()).select_from(User)) or 0)

        def user(i: int) -> Writes:
            row = {"id": new_id(), "email": f"b{i}@example.com", "created_at": utcnow()}
            return Writes().insert(User, {**row, "token_version": 0})

        _, count = await _counting(
            hops, lambda: asyncio.gather(*(group.write(user(i)) for i in range(10)))
        )
        assert (group.batches, group.members) == (1, 10)
        assert count == 1  # ten members' inserts and the COMMIT
        _, count = await _counting(hops, lambda: group.write(user(10).then(count_users)))
        assert seen == [11]
        assert count == 2  # the inserts went with the read; then the COMMIT
    finally:
        await db.dispose()


async def test_a_batch_takes_the_write_lock_as_soon_as_another_process_frees_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process (here a plain sqlite3 connection on its own thread) holds the write lock
    until 245 ms after the batch's first try. SQLite's busy handler would try again at 1, 3,
    8 ... 228 and 328 ms - over 80 ms after the lock was free; the group commit tries every
    0.2 ms."""
    path = tmp_path / "locks.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    await upgrade(db)
    try:
        await db.check()
        first_try = threading.Event()
        original = aiosqlite.Connection._execute

        async def noted(self: aiosqlite.Connection, fn: Callable[..., Any], *a: Any) -> Any:
            if getattr(fn, "__name__", "") == "_commit_after":
                first_try.set()  # (just before: the hop is queued for the thread)
            return await original(self, fn, *a)

        monkeypatch.setattr(aiosqlite.Connection, "_execute", noted)
        other = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        released = 0.0

        def release_later() -> None:
            nonlocal released
            first_try.wait(10)
            time.sleep(0.245)
            released = time.monotonic()
            other.execute("COMMIT")

        holder = threading.Thread(target=release_later)
        holder.start()
        row = {"id": new_id(), "email": "late@example.com", "created_at": utcnow()}
        await GroupCommit(db).write(Writes().insert(User, {**row, "token_version": 0}))
        committed = time.monotonic()
        holder.join()
        other.close()
        assert released > 0
        assert committed - released < 0.05  # SQLite's own handler: over 0.08 s
        async with db.session() as session:
            assert await session.scalar(select(User.email)) == "late@example.com"
            busy = await session.scalar(text("PRAGMA busy_timeout"))
        assert busy == SQLITE_BUSY_TIMEOUT_MS  # restored after the tries
    finally:
        await db.dispose()
