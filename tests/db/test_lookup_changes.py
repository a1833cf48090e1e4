"""`LookupChanges`: which statements announce a change, and that another process hears it.

"Another process" is a second `Database` on the same database: its own engine, its own
`LookupChanges` (on SQLite the same counter file, on PostgreSQL its own LISTEN connection),
exactly what a second `snapagent serve` has.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import delete, insert, text, update

from snapagent.db.lookup_changes import KINDS, LISTENER_NAME, UNCHANGED, LookupKind, changed_kinds
from snapagent.db.migrate import upgrade
from snapagent.db.models.accounts import User
from snapagent.db.models.api_keys import ApiKey
from snapagent.db.models.bots import Bot
from snapagent.db.models.chat import ChatMessageRecord
from snapagent.db.models.knowledge import KnowledgeBase
from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.db.session import Database


def test_only_writes_that_can_stale_a_cached_lookup_count_and_only_for_their_kind() -> None:
    bots, versions = Bot.__table__, BotWorkflowVersion.__table__

    def kinds(statement: Any, rows: Any = (), options: Any = None) -> set[str]:
        return set(changed_kinds(statement, list(rows), {}, options or {}))

    assert kinds(update(bots).values(name="x")) == {"bots"}
    assert kinds(update(BotWorkflowVersion).values(status="archived")) == {"bots"}
    assert kinds(delete(ApiKey)) == {"credentials"}
    # A user owns everything cached (and their deletion cascades in the database): all kinds.
    assert kinds(delete(User)) == set(KINDS)
    # Retrieval caches knowledge-base rows: a new revision (any document change) counts - for
    # them alone, so a document upload leaves credentials and bots cached.
    assert kinds(update(KnowledgeBase).values(revision=2)) == {"knowledge_bases"}
    assert kinds(insert(KnowledgeBase.__table__), [{"id": "k"}]) == set()
    # A new row stales nothing (misses are never cached) - unless a version goes live with it.
    assert kinds(insert(bots), [{"id": "b"}]) == set()
    assert kinds(insert(versions), [{"status": "draft"}]) == set()
    assert kinds(insert(versions), [{"status": "draft"}, {"status": "published"}]) == {"bots"}
    assert kinds(insert(versions).values(status="published")) == {"bots"}
    # Marked by the writer, or another table, or not a write at all.
    assert kinds(update(bots).execution_options(**{UNCHANGED: True})) == set()
    assert kinds(update(bots), options={UNCHANGED: True}) == set()
    assert kinds(update(ChatMessageRecord).values(content="x")) == set()
    assert kinds(text("UPDATE bots SET name = 'x'")) == set()


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


async def _generation(db: Database, kind: LookupKind = "credentials") -> int:
    """The generation of ``kind`` once known (PostgreSQL: once the listener listens)."""
    await _eventually(lambda: db.lookup_changes.generation(kind) is not None)
    generation = db.lookup_changes.generation(kind)
    assert generation is not None
    return generation


async def _generations(db: Database) -> dict[LookupKind, int]:
    return {kind: await _generation(db, kind) for kind in KINDS}


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
    await _eventually(lambda: other.lookup_changes.generation("credentials") == seen_by_other)

    async with writer.transaction() as session:
        await session.execute(update(User).where(User.id == user_id).values(token_version=1))
        during = other.lookup_changes.generation("credentials")  # a copy read now must not survive
    assert (
        writer.lookup_changes.generation("credentials") != seen_by_writer
    )  # no waiting in the writer
    await _eventually(
        lambda: other.lookup_changes.generation("credentials") not in (seen_by_other, during)
    )


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
    assert writer.lookup_changes.generation("credentials") == before
    # A rolled-back change announced itself (harmless) and the next one announces again.
    async with writer.session() as session:
        await session.execute(update(User).where(User.id == user_id).values(token_version=5))
        await session.rollback()
    after_rollback = writer.lookup_changes.generation("credentials")
    async with writer.transaction() as session:
        await session.execute(update(User).where(User.id == user_id).values(token_version=6))
    assert writer.lookup_changes.generation("credentials") != after_rollback
    seen = await _generation(other)
    async with writer.transaction() as session:
        await session.execute(update(User).where(User.id == user_id).values(token_version=7))
    await _eventually(lambda: other.lookup_changes.generation("credentials") != seen)


@pytest.mark.postgres
async def test_the_caches_are_bypassed_while_the_listener_is_down(postgres_url: str) -> None:
    db = Database(postgres_url)
    await upgrade(db)
    try:
        assert db.lookup_changes.generation("credentials") is None  # not listening yet: never cache
        async with db.lookup_changes.listening(db.engine, check_s=0.2):
            await _generation(db)
            async with db.engine.connect() as conn:  # kill the listener's connection
                await conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        f"WHERE application_name = '{LISTENER_NAME}'"
                    )
                )
            await _eventually(lambda: db.lookup_changes.generation("credentials") is None)
            await _generation(db)  # back, with a new generation
        assert db.lookup_changes.generation("credentials") is None
    finally:
        await db.dispose()


# Statements (matching no row: the hook reads statements, not their effect) and the kinds of
# cache they must empty; the other kinds' caches must stay.
_BOT = update(Bot).where(Bot.id == "none").values(name="x")
_KB = update(KnowledgeBase).where(KnowledgeBase.id == "none").values(revision=2)
_CHANGES: dict[str, tuple[list[Any], set[LookupKind]]] = {
    "an API key": (
        [update(ApiKey).where(ApiKey.id == "none").values(name="x")],
        {"credentials"},
    ),
    "a bot": ([_BOT], {"bots"}),
    "a version": (
        [update(BotWorkflowVersion).where(BotWorkflowVersion.id == "none").values(status="x")],
        {"bots"},
    ),
    "a knowledge base": ([_KB], {"knowledge_bases"}),
    "a user": (
        [update(User).where(User.id == "none").values(token_version=1)],
        {"credentials", "bots", "knowledge_bases"},
    ),
    "a bot, then a knowledge base": ([_BOT, _KB], {"bots", "knowledge_bases"}),
}


@pytest.mark.parametrize("change", list(_CHANGES))
async def test_each_kind_is_announced_to_its_own_caches_on_every_process(
    two_processes: tuple[Database, Database], change: str
) -> None:
    writer, other = two_processes
    statements, stales = _CHANGES[change]
    before_writer, before_other = await _generations(writer), await _generations(other)

    async with writer.transaction() as session:
        for statement in statements:
            await session.execute(statement)
        during = {kind: other.lookup_changes.generation(kind) for kind in stales}

    after = {kind: writer.lookup_changes.generation(kind) for kind in KINDS}
    assert {kind for kind in KINDS if after[kind] != before_writer[kind]} == stales  # at once
    # The other process: every stale kind moves past what a copy read meanwhile carries...
    for kind in stales:
        await _eventually(
            lambda kind=kind: (
                other.lookup_changes.generation(kind) not in (before_other[kind], during[kind])
            )
        )
    # ...and the kinds nobody touched keep their caches (the announcement has arrived).
    for kind in set(KINDS) - stales:
        assert other.lookup_changes.generation(kind) == before_other[kind], kind
