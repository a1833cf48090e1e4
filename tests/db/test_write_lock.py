"""`FileWriteLock` through `Database.writing()`: SQLite writers of different processes take
turns on an OS file lock (two `Database` objects stand for two processes: each opens the lock
file itself, and ``flock`` locks conflict between open files even within one process)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from snapagent.db.session import Database


@pytest.fixture
async def two_processes(tmp_path: Path) -> AsyncIterator[tuple[Database, Database]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    first, second = Database(url), Database(url)
    yield first, second
    await first.dispose()
    await second.dispose()


async def test_a_writer_waits_for_the_other_process_and_enters_when_it_leaves(
    two_processes: tuple[Database, Database],
) -> None:
    first, second = two_processes
    order: list[str] = []
    entered = asyncio.Event()

    async def hold() -> None:
        async with first.writing():
            order.append("first in")
            entered.set()
            await asyncio.sleep(0.2)
            order.append("first out")

    async def follow() -> None:
        await entered.wait()
        async with second.writing():
            order.append("second in")

    await asyncio.wait_for(asyncio.gather(hold(), follow()), timeout=10)
    assert order == ["first in", "first out", "second in"]


async def test_a_waiter_cancelled_leaves_the_lock_free(
    two_processes: tuple[Database, Database], tmp_path: Path
) -> None:
    first, second = two_processes
    release = asyncio.Event()

    async def hold() -> None:
        async with first.writing():
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0.05)

    async def enter_second() -> None:
        async with second.writing():
            pass

    waiter = asyncio.create_task(enter_second())
    await asyncio.sleep(0.05)
    waiter.cancel()
    release.set()
    await holder
    with pytest.raises(asyncio.CancelledError):
        await waiter
    third = Database(f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}")
    try:
        for database in (third, first, second):  # nobody kept it
            await asyncio.wait_for(enter(database), timeout=10)
    finally:
        await third.dispose()


async def enter(database: Database) -> None:
    async with database.writing():
        pass


async def test_the_lock_file_is_private(two_processes: tuple[Database, Database]) -> None:
    first, _ = two_processes
    await enter(first)
    path = Path(str(first.url.database) + ".write-lock")
    assert (await asyncio.to_thread(path.stat)).st_mode & 0o077 == 0
