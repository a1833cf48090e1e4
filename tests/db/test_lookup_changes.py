"""`LookupChanges`: which statements announce a change, and that another process hears it.

"Another process" is a second `Database` on the same database: its own engine, its own
`LookupChanges` (on SQLite the same counter file, on PostgreSQL its own LISTEN connection),
exactly what a second `snapagent serve` has.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import delete, insert, text, update

from snapagent.db.lookup_changes import LISTENER_NAME, UNCHANGED, changes_lookups
from snapagent.db.migrate import upgrade
from snapagent.db.models.accounts import User
from snapagent.db.models.bots import Bot
from snapagent.db.models.chat import ChatMessageRecord
from snapagent.db.models.knowledge import KnowledgeBase
from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.db.session import Database


def test_only_writes_that_can_stale_a_cached_lookup_count() -> None:
    bots, versions = Bot.__table__, BotWorkflowVersion.__table__
    assert changes_lookups(update(bots).values(name="x"), [], {}, {})
    assert changes_lookups(delete(User), [], {}, {})
    assert changes_lookups(update(BotWorkflowVersion).values(status="archived"), [], {}, {})
    # Retrieval caches knowledge-base rows: a new revision (any document change) counts.
    assert changes_lookups(update(KnowledgeBase).values(revision=2), [], {}, {})
    assert not changes_lookups(insert(KnowledgeBase.__table__), [{"id": "k"}], {}, {})
    # A new row stales nothing (misses are never cached) - unless a version goes live with it.
    assert not changes_lookups(insert(bots), [{"id": "b"}], {}, {})
    assert not changes_lookups(insert(versions), [{"status": "draft"}], {}, {})
    assert changes_lookups(insert(versions), [{"status": "draft"}, {"status": "published"}], {}, {})
    assert changes_lookups(insert(versions).values(status="published"), [], {}, {})
    # Marked by the writer, or another table, or not a write at all.
    assert not changes_lookups(update(bots).execution_options(**{UNCHANGED: True}), [], {}, {})
    assert not changes_lookups(update(bots), [], {}, {UNCHANGED: True})
    assert not changes_lookups(update(ChatMessageRecord).values(content="x"), [], {}, {})
    assert not changes_lookups(text("UPDATE bots SET name = 'x'"), [], {}, {})


@pytest.fixture
async def two_processes(migrated_db: Database) -> AsyncIterator[tuple[Database, Database]]:
    other = Database(migrated_db.url.render_as_string(hide_password=False))
    async with (
        migrated_db.lookup_changes.listening(migrated_db.engine, check_s=0.5),
        other.lookup_changes.listening(other.engine, check_s=0.5),
    ):
        try:
            yield migrated_db, other
        finally:
            await other.dispose()


async def _eventually(check: Callable[[], bool], within_s: float = 5.0) -> None:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < within_s, "not within the bound"
        await asyncio.sleep(0.01)


async def _generation(db: Database) -> int:
    """The generation once known (PostgreSQL: once the listener listens)."""
    await _eventually(lambda: db.lookup_changes.generation() is not None)
    generation = db.lookup_changes.generation()
    assert generation is not None
    return generation


async def _user(db: Database) -> str:
    async with db.transaction() as session:
        user = User(email=f"u{time.monotonic_ns()}@example.com")
        session.add(user)
    return user.id


async def test_a_commit_is_heard_by_the_writer_at_once_and_by_the_other_process(
    two_processes: tuple[Database, Database],
) -> None:
    writer, other = two_processes
    user_id = await _user(writer)  # an INSERT: nothing announced
    seen_by_writer, seen_by_other = await _generation(writer), await _generation(other)
    await _eventually(lambda: other.lookup_changes.generation() == seen_by_other)

    async with writer.transaction() as session:
        await session.execute(update(User).where(User.id == user_id).values(token_version=1))
        during = other.lookup_changes.generation()  # a copy read now must not survive
    assert writer.lookup_changes.generation() != seen_by_writer  # no waiting in the writer
    await _eventually(lambda: other.lookup_changes.generation() not in (seen_by_other, during))


async def test_statements_marked_unchanged_and_rollbacks_leave_no_announcement_behind(
    two_processes: tuple[Database, Database],
) -> None:
    writer, other = two_processes
    user_id = await _user(writer)
    before = await _generation(writer)
    async with writer.transaction() as session:
        await session.execute(
            update(User)
            .where(User.id == user_id)
            .values(email="same@example.com")
            .execution_options(**{UNCHANGED: True})
        )
    assert writer.lookup_changes.generation() == before
    # A rolled-back change announced itself (harmless) and the next one announces again.
    async with writer.session() as session:
        await session.execute(update(User).where(User.id == user_id).values(token_version=5))
        await session.rollback()
    after_rollback = writer.lookup_changes.generation()
    async with writer.transaction() as session:
        await session.execute(update(User).where(User.id == user_id).values(token_version=6))
    assert writer.lookup_changes.generation() != after_rollback
    seen = await _generation(other)
    async with writer.transaction() as session:
        await session.execute(update(User).where(User.id == user_id).values(token_version=7))
    await _eventually(lambda: other.lookup_changes.generation() != seen)


@pytest.mark.postgres
async def test_the_caches_are_bypassed_while_the_listener_is_down(postgres_url: str) -> None:
    db = Database(postgres_url)
    await upgrade(db)
    try:
        assert db.lookup_changes.generation() is None  # not listening yet: never cache
        async with db.lookup_changes.listening(db.engine, check_s=0.2):
            await _generation(db)
            async with db.engine.connect() as conn:  # kill the listener's connection
                await conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        f"WHERE application_name = '{LISTENER_NAME}'"
                    )
                )
            await _eventually(lambda: db.lookup_changes.generation() is None)
            await _generation(db)  # back, with a new generation
        assert db.lookup_changes.generation() is None
    finally:
        await db.dispose()
