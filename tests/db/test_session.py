"""`Database`: URL handling, dialect flags, health, credentials never shown."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import event, text
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from snapagent.db.session import Database
from snapagent.errors import InputValidationError
from snapagent.services.database_outage import is_database_unreachable
from snapagent.settings import CoreSettings, DatabaseSettings


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:pw@db/app", "postgresql+asyncpg://u:***@db/app"),
        ("postgresql://u:pw@db/app", "postgresql+asyncpg://u:***@db/app"),
        ("postgresql+psycopg://u:pw@db/app", "postgresql+asyncpg://u:***@db/app"),
        (
            "postgresql://u:pw@db/app?sslmode=require",
            "postgresql+asyncpg://u:***@db/app?ssl=require",
        ),
        ("sqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
    ],
)
async def test_urls_are_normalised_to_async_drivers(given: str, expected: str) -> None:
    db = Database(given)
    try:
        assert db.safe_url == expected
        assert "pw" not in repr(db)
    finally:
        await db.dispose()


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url", ""])
def test_unsupported_urls_are_input_errors(url: str) -> None:
    with pytest.raises(InputValidationError) as info:
        Database(url)
    assert info.value.field == "DATABASE_URL"


async def test_embedded_default_lives_under_the_data_dir(tmp_path: Path) -> None:
    settings = CoreSettings(data_dir=tmp_path / "nested" / "data")
    db = Database.from_settings(settings)
    try:
        assert db.is_sqlite
        assert not db.is_postgres
        assert (await db.health()) == {"status": "ok", "dialect": "sqlite"}
        assert (tmp_path / "nested" / "data" / "snapagent.db").exists()
    finally:
        await db.dispose()


async def test_health_of_a_live_database(migrated_db: Database) -> None:
    report = await migrated_db.health()
    assert report["status"] == "ok"
    assert report["dialect"] == migrated_db.dialect


@pytest.mark.postgres
async def test_a_connection_the_server_closed_is_replaced_without_an_error(
    postgres_url: str,
) -> None:
    """No pre-ping round trip, yet a pooled connection killed server-side (as by a restart)
    is never handed out: the next session gets a fresh one."""
    db = Database(postgres_url, settings=DatabaseSettings(pool_size=1, max_overflow=0))
    other = Database(postgres_url)
    try:
        assert db.engine.pool._pre_ping is False
        async with db.session() as session:
            first = await session.scalar(text("SELECT pg_backend_pid()"))
            raw = await (await session.connection()).get_raw_connection()
            pooled = raw.driver_connection
        async with other.session() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        for _ in range(250):  # asyncpg reads the server's goodbye on the event loop
            if pooled.is_closed():
                break
            await asyncio.sleep(0.02)
        assert pooled.is_closed()
        async with db.session() as session:
            second = await session.scalar(text("SELECT pg_backend_pid()"))
        assert second != first
    finally:
        await db.dispose()
        await other.dispose()


async def test_health_keeps_one_connection_between_probes(database_url: str) -> None:
    """Probe after probe, /health's check uses the same connection: no pool checkout each."""
    db = Database(database_url, settings=DatabaseSettings(pool_size=2, max_overflow=0))
    checkouts: list[object] = []
    event.listen(db.engine.sync_engine, "checkout", lambda *args: checkouts.append(args[0]))
    try:
        for _ in range(5):
            assert (await db.health())["status"] == "ok"
        assert len(checkouts) == 1
        async with db.session() as session:  # the other pooled connection is still free
            await session.execute(text("SELECT 1"))
    finally:
        await db.dispose()


async def test_sqlite_health_asks_the_kept_connection_without_a_thread_hop(
    tmp_path: Path,
) -> None:
    """SQLite's ``SELECT 1`` reads nothing: once a connection is kept, each /health asks it on
    the event loop, inside the request. A kept connection that broke is replaced."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'health.db'}")
    try:
        assert (await db.health())["status"] == "ok"  # the shared way: keeps its connection
        kept = db._probe_conn
        assert kept is not None
        assert kept[2] is not None
        driver = (await kept[1].get_raw_connection()).driver_connection
        hops: list[object] = []
        execute = driver._execute

        async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
            hops.append(fn)
            return await execute(fn, *args, **kwargs)

        driver._execute = counted
        for _ in range(5):
            assert await db.health() == {"status": "ok", "dialect": "sqlite"}
        assert hops == []  # no hand-off to the connection's thread
        assert db._probe_conn is kept

        kept[2].close()  # broken under the probe: the inline ask fails, the shared way decides
        assert await db.health() == {"status": "ok", "dialect": "sqlite"}
        assert hops  # (it tried the kept connection on its thread first)
        assert db._probe_conn is not None
        assert db._probe_conn[1] is not kept[1]
        assert await db.health() == {"status": "ok", "dialect": "sqlite"}
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_health_replaces_a_kept_connection_the_server_closed(postgres_url: str) -> None:
    """A restart kills the probe's kept connection: the next probe answers from a fresh one,
    no false outage (a real outage: tests/faults/test_database_outage.py)."""
    db = Database(postgres_url)
    other = Database(postgres_url)
    try:
        assert (await db.health())["status"] == "ok"
        assert db._probe_conn is not None
        raw = await db._probe_conn[1].get_raw_connection()
        pid = raw.driver_connection.get_server_pid()
        async with other.session() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert (await db.health())["status"] == "ok"
        raw = await db._probe_conn[1].get_raw_connection()
        assert raw.driver_connection.get_server_pid() != pid
    finally:
        await db.dispose()
        await other.dispose()


async def test_pool_sizes_come_from_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNAPAGENT_DATABASE_POOL_SIZE", "7")
    monkeypatch.setenv("SNAPAGENT_DATABASE_MAX_OVERFLOW", "2")
    db = Database.from_settings(CoreSettings(data_dir=tmp_path))
    try:
        assert (db.engine.pool.size(), db.engine.pool._max_overflow) == (7, 2)  # type: ignore[attr-defined]
    finally:
        await db.dispose()


async def test_a_pool_busy_past_its_timeout_is_reported_unavailable(tmp_path: Path) -> None:
    settings = DatabaseSettings(pool_size=1, max_overflow=0, pool_timeout_s=0.05)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}", settings=settings)
    try:
        async with db.session() as holder:
            await holder.execute(text("SELECT 1"))  # holds the only connection
            with pytest.raises(PoolTimeoutError) as info:
                await _select_one(db)
        assert is_database_unreachable(info.value)  # answered 503 "retry later", not 500
    finally:
        await db.dispose()


async def _select_one(db: Database) -> None:
    async with db.session() as session:
        await session.execute(text("SELECT 1"))


@pytest.mark.parametrize(("setting", "pragma"), [(None, 1), ("FULL", 2)])
async def test_sqlite_durability_is_a_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str | None, pragma: int
) -> None:
    if setting is not None:
        monkeypatch.setenv("SNAPAGENT_DATABASE_SQLITE_SYNCHRONOUS", setting)
    db = Database.from_settings(CoreSettings(data_dir=tmp_path))
    try:
        async with db.session() as session:
            assert await session.scalar(text("PRAGMA synchronous")) == pragma  # 1 NORMAL, 2 FULL
    finally:
        await db.dispose()


def test_an_unknown_sqlite_durability_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNAPAGENT_DATABASE_SQLITE_SYNCHRONOUS", "OFF; DROP TABLE users")
    with pytest.raises(ValidationError, match="sqlite_synchronous"):
        DatabaseSettings()
