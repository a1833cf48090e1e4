"""The packaged migrations build exactly the models' schema on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from snapagent.db.migrate import (
    current_revision,
    downgrade,
    ensure_database_ready,
    head_revisions,
    history,
    include_object,
    upgrade,
)
from snapagent.db.models import load_all_models
from snapagent.db.session import Database
from snapagent.errors import ConflictError, UnavailableError


def _diff(conn: Connection) -> list[Any]:
    ctx = MigrationContext.configure(
        conn, opts={"compare_type": True, "include_object": include_object}
    )
    return list(compare_metadata(ctx, load_all_models()))


def test_one_head() -> None:
    # Later revisions must chain after the current head, never fork the history.
    assert len(head_revisions()) == 1
    assert [m.revision for m in history() if m.is_head] == head_revisions()


async def test_blank_database_upgrades_to_exactly_the_models(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert await current_revision(db) is None
        await upgrade(db)
        assert await current_revision(db) == head_revisions()[0]
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert {"users", "knowledge_bases", "documents", "document_files", "chunks"} <= tables
    finally:
        await db.dispose()


async def test_downgrade_to_base_removes_everything_and_upgrade_again(database_url: str) -> None:
    db = Database(database_url)
    try:
        await upgrade(db)
        await downgrade(db, "base")
        assert await current_revision(db) is None
        async with db.engine.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert tables <= {"alembic_version"}
        await upgrade(db)
        assert await current_revision(db) == head_revisions()[0]
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_postgres_has_vector_extension_and_hnsw_index(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        await upgrade(db)
        async with db.engine.connect() as conn:
            ext = await conn.scalar(text("SELECT extname FROM pg_extension WHERE extname='vector'"))
            indexdef = await conn.scalar(
                text(
                    "SELECT indexdef FROM pg_indexes WHERE indexname='ix_chunks_embedding_hnsw_384'"
                )
            )
            coltype = await conn.scalar(
                text(
                    "SELECT udt_name FROM information_schema.columns "
                    "WHERE table_name='chunks' AND column_name='embedding'"
                )
            )
        assert ext == "vector"
        assert coltype == "vector"
        assert indexdef is not None
        assert "hnsw" in indexdef
        assert "vector_cosine_ops" in indexdef
    finally:
        await db.dispose()


async def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        async with db.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() >= 1000
    finally:
        await db.dispose()


async def test_ensure_ready_upgrades_embedded_database(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        await ensure_database_ready(db)
        assert await current_revision(db) == head_revisions()[0]
        await ensure_database_ready(db)  # idempotent
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_ensure_ready_refuses_a_postgres_schema_behind_head(postgres_url: str) -> None:
    db = Database(postgres_url)
    try:
        with pytest.raises(ConflictError, match="snapagent db upgrade"):
            await ensure_database_ready(db)
        await ensure_database_ready(db, auto_upgrade=True)
        await ensure_database_ready(db)
    finally:
        await db.dispose()


async def test_unreachable_database_is_unavailable_not_a_traceback(tmp_path: Path) -> None:
    # A port nobody listens on (postgres) and a directory that cannot be created (sqlite).
    blocked = tmp_path / "file"
    blocked.write_text("x")
    for url in (
        "postgresql+asyncpg://u:secret-pw@127.0.0.1:1/x",
        f"sqlite+aiosqlite:///{blocked}/db/x.db",
    ):
        try:
            db = Database(url)
        except OSError:
            continue  # sqlite: the parent directory cannot even be made
        try:
            with pytest.raises(UnavailableError) as info:
                await ensure_database_ready(db)
            assert "secret-pw" not in str(info.value) + repr(info.value.details)
            assert (await db.health())["status"] == "unavailable"
        finally:
            await db.dispose()
