"""`sqlite_driver`: a statement is one hop to the connection's thread; idle commits are free."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from snapagent.db.session import Database


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
