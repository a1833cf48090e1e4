"""The request caches: their bounds, and that authentication and a chat's bot are answered from
them (no SQL) while nothing changed, per owner, and read again after a change.

Real databases throughout (`migrated_db`: SQLite and PostgreSQL, whose caches work only while
the listener listens).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update

from snapagent.db.lookup_changes import LookupChanges
from snapagent.db.models.accounts import User
from snapagent.db.models.bots import Bot
from snapagent.db.session import Database
from snapagent.errors import AuthenticationError, ConflictError, NotFoundError
from snapagent.nodes import default_registry
from snapagent.services.accounts import AccountService, CredentialCache, Credentials
from snapagent.services.bots import BotService
from snapagent.services.chat import ChatService, LiveBotCache
from snapagent.services.knowledge import KnowledgeService
from snapagent.services.lookup_cache import LookupCache
from snapagent.services.run_recorder import RunRecorder
from snapagent.services.runtime import BotRuntime
from snapagent.services.workflow_versions import WorkflowVersionService
from snapagent.testing import InMemoryRetriever, ScriptedChatModel, ScriptedChatModels

REGISTRY = default_registry()


# -- the bounds -------------------------------------------------------------------------------


@pytest.fixture
def changes(tmp_path: Path) -> LookupChanges:
    return LookupChanges.for_database("sqlite", str(tmp_path / "x.db"))


def test_entries_are_bounded_oldest_out_first(changes: LookupChanges) -> None:
    cache: LookupCache[str, int] = LookupCache(changes, "bots", max_entries=2, ttl_s=60)
    for n, key in enumerate("abc"):
        cache.put(key, cache.tag(), n)
    assert len(cache) == 2
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, 1, 2)
    cache.put("b", cache.tag(), 10)  # replacing a held key evicts nothing
    assert (len(cache), cache.get("b"), cache.get("c")) == (2, 10, 2)
    off: LookupCache[str, int] = LookupCache(changes, "bots", max_entries=0, ttl_s=60)
    off.put("a", off.tag(), 1)
    assert (len(off), off.get("a")) == (0, None)


def test_entries_expire_after_the_ttl(changes: LookupChanges) -> None:
    cache: LookupCache[str, int] = LookupCache(changes, "bots", max_entries=10, ttl_s=0.05)
    cache.put("a", cache.tag(), 1)
    assert cache.get("a") == 1
    time.sleep(0.06)
    assert cache.get("a") is None
    assert len(cache) == 0


def test_a_change_empties_the_cache_and_voids_what_was_being_loaded(
    changes: LookupChanges, tmp_path: Path
) -> None:
    cache: LookupCache[str, int] = LookupCache(changes, "bots", max_entries=10, ttl_s=60)
    cache.put("a", cache.tag(), 1)
    tag = cache.tag()  # a load starts...
    # ...another process (its own LookupChanges on the same file) announces a change...
    LookupChanges.for_database("sqlite", str(tmp_path / "x.db")).bump(["bots"])
    cache.put("b", tag, 2)  # ...so what the load read may be stale: not kept
    assert (cache.get("a"), cache.get("b"), len(cache)) == (None, None, 0)


def test_a_change_of_another_kind_leaves_the_cache_warm(
    changes: LookupChanges, tmp_path: Path
) -> None:
    credentials: LookupCache[str, int] = LookupCache(
        changes, "credentials", max_entries=10, ttl_s=60
    )
    credentials.put("key", credentials.tag(), 1)
    other_process = LookupChanges.for_database("sqlite", str(tmp_path / "x.db"))
    other_process.bump(["bots", "knowledge_bases"])  # a publish, a document upload
    assert credentials.get("key") == 1
    other_process.bump(["credentials"])  # a key revoked
    assert credentials.get("key") is None


def test_nothing_is_cached_while_changes_cannot_be_heard() -> None:
    unheard = LookupChanges.for_database("postgresql", "db")  # no listener running
    cache: LookupCache[str, int] = LookupCache(unheard, "bots", max_entries=10, ttl_s=60)
    cache.put("a", cache.tag(), 1)
    assert cache.get("a") is None
    uri = LookupChanges.for_database("sqlite", "file:x.db?mode=rwc")  # where is the file?
    assert uri.generation("credentials") is None


# -- the cached lookups on real databases -----------------------------------------------------


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        seen.append(sql)

    event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", note)


@pytest.fixture
async def db(migrated_db: Database) -> AsyncIterator[Database]:
    async with migrated_db.lookup_changes.listening(migrated_db.engine, check_s=1):
        async with asyncio.timeout(10):
            while migrated_db.lookup_changes.generation("credentials") is None:  # noqa: ASYNC110
                await asyncio.sleep(0.01)  # PostgreSQL: until the listener listens
        yield migrated_db


CREDENTIALS = Credentials(secret="s" * 32, token_ttl=timedelta(hours=1))


async def test_authentication_is_answered_from_the_cache_until_a_change(db: Database) -> None:
    cache: CredentialCache = LookupCache(
        db.lookup_changes, "credentials", max_entries=100, ttl_s=60
    )

    async def authenticate(bearer: str) -> User:
        async with db.session() as session:
            return await AccountService(session, CREDENTIALS, cache=cache).authenticate(bearer)

    async with db.session() as session:
        accounts = AccountService(session, CREDENTIALS)
        user = await accounts.register("ada@example.com", "correct horse")
        key = await accounts.create_api_key(user, "ci")
        token = CREDENTIALS.issue_token(user.id, 0).access_token
    for bearer in (key.secret, token):
        assert (await authenticate(bearer)).id == user.id  # read, cached
        with statements(db) as seen:
            first, second = await authenticate(bearer), await authenticate(bearer)
        assert seen == []
        assert first.id == second.id == user.id
        assert first is not second  # each request its own copy: changing one changes nothing
    # A wrong secret behind a known prefix is never a hit.
    with statements(db) as seen, pytest.raises(AuthenticationError):
        await authenticate(key.secret[:-2] + "zz")
    assert seen

    async with db.session() as session:
        await AccountService(session, CREDENTIALS).revoke_tokens(user)
    with pytest.raises(AuthenticationError, match="revoked"):
        await authenticate(token)
    async with db.session() as session:
        await AccountService(session, CREDENTIALS).revoke_api_key(user, key.key.id)
    with pytest.raises(AuthenticationError, match="revoked"):
        await authenticate(key.secret)


async def test_an_api_keys_last_use_is_still_written_without_emptying_the_cache(
    db: Database,
) -> None:
    cache: CredentialCache = LookupCache(
        db.lookup_changes, "credentials", max_entries=100, ttl_s=60
    )
    async with db.session() as session:
        accounts = AccountService(session, CREDENTIALS, cache=cache)
        user = await accounts.register("bo@example.com", "correct horse")
        key = await accounts.create_api_key(user, "ci")
        await accounts.authenticate(key.secret)
    async with db.session() as session:
        page, _ = await AccountService(session, CREDENTIALS).api_key_page(user)
    assert page[0].last_used_at is not None
    assert len(cache) == 1  # the write is marked: nothing a lookup holds changed


async def _bot(db: Database, owner: User, graph_text: str) -> str:
    async with db.session() as session:
        bot = await BotService(session, REGISTRY).create(owner, name="helper")
        versions = WorkflowVersionService(session, REGISTRY)
        draft = await versions.current_draft(owner, bot.id)
        assert draft is not None
        graph = {
            "nodes": [
                {"id": "start", "type": "start", "config": {}},
                {"id": "tpl", "type": "template", "config": {"template": graph_text}},
                {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
            ],
            "edges": [
                {"source": "start", "target": "tpl"},
                {"source": "tpl", "source_port": "text", "target": "end", "target_port": "answer"},
            ],
        }
        await versions.update_draft(owner, bot.id, draft.id, graph, revision=draft.revision)
        await versions.publish(owner, bot.id, draft.id)
        return bot.id


async def test_a_chats_bot_is_cached_per_owner_and_read_again_after_a_change(
    db: Database,
) -> None:
    bots: LiveBotCache = LookupCache(db.lookup_changes, "bots", max_entries=100, ttl_s=60)
    runtime = BotRuntime(
        chat_models=ScriptedChatModels(ScriptedChatModel()),
        retriever=InMemoryRetriever(),
        registry=REGISTRY,
    )
    chat = ChatService(db, runtime, RunRecorder(db.sessionmaker), bots=bots)
    async with db.transaction() as session:
        alice, mallory = User(email="alice@example.com"), User(email="mallory@example.com")
        session.add_all([alice, mallory])
    bot_id = await _bot(db, alice, "one")

    async def prepare(user: User) -> Any:
        async with db.session() as session:
            return await chat.prepare(session, user, bot_id, "hi", None)

    assert (await prepare(alice)).version_number == 1
    with statements(db) as seen:
        turn = await prepare(alice)
    assert seen == []  # the bot, its version and the compiled plan: all held
    assert (turn.version_number, turn.owner_id) == (1, alice.id)
    for _ in range(2):  # alice's entry is never mallory's
        with pytest.raises(NotFoundError):
            await prepare(mallory)

    async with db.transaction() as session:  # a settings change anywhere empties the cache
        await session.execute(update(Bot).where(Bot.id == bot_id).values(use_workflow_v2=False))
    with pytest.raises(ConflictError):  # V2 off and no V1 workflow: nothing can run
        await prepare(alice)


async def test_a_document_upload_leaves_credentials_and_bots_cached(
    db: Database, knowledge_service: KnowledgeService
) -> None:
    credentials: CredentialCache = LookupCache(
        db.lookup_changes, "credentials", max_entries=100, ttl_s=60
    )
    bots: LiveBotCache = LookupCache(db.lookup_changes, "bots", max_entries=100, ttl_s=60)
    rows = knowledge_service.retriever.rows_cache = LookupCache(
        db.lookup_changes, "knowledge_bases", max_entries=100, ttl_s=60
    )
    async with db.session() as session:
        accounts = AccountService(session, CREDENTIALS, cache=credentials)
        user = await accounts.register("cy@example.com", "correct horse")
        key = await accounts.create_api_key(user, "ci")
    bot_id = await _bot(db, user, "one")
    runtime = BotRuntime(
        chat_models=ScriptedChatModels(ScriptedChatModel()),
        retriever=InMemoryRetriever(),
        registry=REGISTRY,
    )
    chat = ChatService(db, runtime, RunRecorder(db.sessionmaker), bots=bots)
    kb = await knowledge_service.create_knowledge_base(user.id, "handbook")

    async def authenticate_and_prepare() -> None:
        async with db.session() as session:
            found = await AccountService(session, CREDENTIALS, cache=credentials).authenticate(
                key.secret
            )
            await chat.prepare(session, found, bot_id, "hi", None)

    async def upload(name: str) -> None:
        body = f"{name}: the beaches of Busan.".encode()
        document = await knowledge_service.add_document(user.id, kb.id, name, body)
        async with asyncio.timeout(60):
            [state] = await knowledge_service.wait_for_documents([document.id])
        assert state.status == "indexed"

    await upload("one.md")
    await authenticate_and_prepare()  # both cached
    await knowledge_service.query(user.id, [kb.id], "beaches", mode="keyword")
    assert (len(credentials), len(bots), len(rows)) == (1, 1, 1)

    await upload("two.md")  # commits a new revision of the knowledge base

    assert rows.get((user.id, kb.id)) is None  # its rows: read again
    with statements(db) as seen:
        await authenticate_and_prepare()
    assert seen == []  # the key, its user and the bot: still cached
    assert (len(credentials), len(bots)) == (1, 1)
