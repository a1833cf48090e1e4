"""Per-caller limits on chat and upload: 429 problem+json with Retry-After, counted in the
database so two apps (as two server processes would) share one count."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text

from snapagent.api.app import create_app
from snapagent.db.models.rate_limits import RateLimitCounter
from snapagent.db.rate_limiter import DatabaseRateLimiter
from snapagent.db.session import Database
from snapagent.ratelimit.settings import RateLimitSettings
from snapagent.server_settings import ServerSettings
from snapagent.services.knowledge import KnowledgeService
from snapagent.settings import CoreSettings
from snapagent.testing import ScriptedChatModel, ScriptedChatModels
from snapagent.workflow.services import ChatModelProvider

from .conftest import ApiUser, assert_problem, create_knowledge_base, scripted_models
from .test_chat_api import CHAT, publish_bot

LIMITS = RateLimitSettings(chat_per_minute=2, upload_per_minute=1)


@pytest.fixture(autouse=True)
async def _inside_one_window() -> None:
    """The limiter counts in 60 s windows aligned to the epoch: a test whose requests straddle a
    window's end sees the count restart (a first upload at hh:mm:59.9 and a second at
    hh:mm+1:00.1 are both allowed). Start every test with at least 10 s left in its window."""
    left = 60 - time.time() % 60
    if left < 10:
        await asyncio.sleep(left + 0.05)


def build_app(
    db: Database,
    server: ServerSettings,
    core: CoreSettings,
    knowledge: KnowledgeService,
    chat_models: ChatModelProvider | None = None,
) -> FastAPI:
    return create_app(
        server,
        db,
        core_settings=core,
        knowledge=knowledge,
        chat_models=chat_models,
        rate_limits=LIMITS,
    )


@pytest.fixture
def app(
    request: pytest.FixtureRequest,
    migrated_db: Database,
    server_settings: ServerSettings,
    core_settings: CoreSettings,
    api_knowledge: KnowledgeService,
) -> FastAPI:
    models = scripted_models(request)
    return build_app(migrated_db, server_settings, core_settings, api_knowledge, models)


@pytest.fixture
async def second_client(
    migrated_db: Database,
    server_settings: ServerSettings,
    core_settings: CoreSettings,
    api_knowledge: KnowledgeService,
) -> AsyncIterator[httpx.AsyncClient]:
    """A second app on the same database: what a second server process is."""
    second_model = ScriptedChatModel().enqueue("from the second app")
    other = build_app(
        migrated_db, server_settings, core_settings, api_knowledge, ScriptedChatModels(second_model)
    )
    transport = httpx.ASGITransport(app=other, raise_app_exceptions=False)
    async with (
        other.router.lifespan_context(other),
        httpx.AsyncClient(transport=transport, base_url="http://second") as http,
    ):
        yield http


def assert_throttled(response: httpx.Response) -> None:
    body = assert_problem(response, 429)
    assert body["type"] == "urn:snapagent:problem:rate-limited"
    assert 1 <= int(response.headers["retry-after"]) <= 60


async def test_chat_limit_per_user_shared_by_two_apps_on_one_database(
    app: FastAPI,
    chat_model: ScriptedChatModel,
    client: httpx.AsyncClient,
    second_client: httpx.AsyncClient,
    alice: ApiUser,
    bob: ApiUser,
) -> None:
    chat_model.enqueue("one").enqueue("two").enqueue("bob's")
    bot_id = await publish_bot(client, alice)
    payload = {"bot_id": bot_id, "message": "hi"}

    assert (await client.post(CHAT, json=payload, headers=alice.headers)).status_code == 200
    assert (await second_client.post(CHAT, json=payload, headers=alice.headers)).status_code == 200
    # The third request in this minute is refused by either app: they count in one table.
    assert_throttled(await client.post(CHAT, json=payload, headers=alice.headers))
    assert_throttled(await second_client.post(CHAT, json=payload, headers=alice.headers))
    # Another user has a limit of their own (and reaches the route: 404 for alice's bot).
    assert_problem(await client.post(CHAT, json=payload, headers=bob.headers), 404)
    # Routes without a limit are not throttled.
    assert (await client.get("/api/v1/bots", headers=alice.headers)).status_code == 200


async def test_each_api_key_has_its_own_limit(
    app: FastAPI, chat_model: ScriptedChatModel, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    chat_model.enqueue("a").enqueue("b").enqueue("c")
    bot_id = await publish_bot(client, alice)
    created = await client.post("/api/v1/api-keys", json={"name": "ci"}, headers=alice.headers)
    key_headers = {"Authorization": f"Bearer {created.json()['key']}"}
    payload = {"bot_id": bot_id, "message": "hi"}

    for _ in range(2):
        assert (await client.post(CHAT, json=payload, headers=key_headers)).status_code == 200
    assert_throttled(await client.post(CHAT, json=payload, headers=key_headers))
    # The login token of the same user is another credential with its own count.
    assert (await client.post(CHAT, json=payload, headers=alice.headers)).status_code == 200
    # Unauthenticated requests are not counted: they get their 401.
    assert_problem(await client.post(CHAT, json=payload), 401)


async def test_upload_limit(client: httpx.AsyncClient, alice: ApiUser) -> None:
    kb_id = await create_knowledge_base(client, alice, "docs")
    url = f"/api/v1/knowledge-bases/{kb_id}/documents"
    first = await client.post(
        url, files={"file": ("a.md", b"# one", "text/markdown")}, headers=alice.headers
    )
    assert first.status_code == 201, first.text
    second = await client.post(
        url, files={"file": ("b.md", b"# two", "text/markdown")}, headers=alice.headers
    )
    assert_throttled(second)
    # Reading is not limited.
    assert (await client.get(url, headers=alice.headers)).status_code == 200


async def test_counter_windows_retry_after_and_sweep(migrated_db: Database) -> None:
    now = [1_000_040.0]  # 20 s into the 60 s window that starts at 1_000_020
    limiter = DatabaseRateLimiter(migrated_db, window_seconds=60, clock=lambda: now[0])

    assert (await limiter.hit("chat:user:a", limit=2)).allowed
    assert (await limiter.hit("chat:user:a", limit=2)).allowed
    refused = await limiter.hit("chat:user:a", limit=2)
    assert not refused.allowed
    assert refused.hits == 3
    assert refused.retry_after == 40  # until the window ends
    assert (await limiter.hit("chat:user:b", limit=2)).allowed

    now[0] += 60  # the next window: counts restart
    fresh = await limiter.hit("chat:user:a", limit=2)
    assert fresh.allowed
    assert fresh.hits == 1

    now[0] += 180  # much later: the first new window sweeps rows of quiet callers
    await limiter.hit("chat:user:c", limit=2)
    async with migrated_db.session() as session:
        keys = set(await session.scalars(select(RateLimitCounter.key)))
        count = await session.scalar(select(func.count()).select_from(RateLimitCounter))
    assert keys == {"60s:chat:user:c"}  # stored under the limiter's window length
    assert count == 1


async def test_limiters_of_other_windows_share_the_table_and_sweep_only_their_own(
    migrated_db: Database,
) -> None:
    now = [2_000_000.0]
    minute = DatabaseRateLimiter(migrated_db, window_seconds=60, clock=lambda: now[0])
    quarter = DatabaseRateLimiter(migrated_db, window_seconds=900, clock=lambda: now[0])
    assert (await quarter.hit("login:a", limit=2)).hits == 1
    assert (await minute.hit("login:a", limit=2)).hits == 1  # the same key, another count
    now[0] += 300  # several minutes: the minute limiter sweeps, the quarter's row lives on
    await minute.hit("chat:x", limit=2)
    assert (await quarter.hit("login:a", limit=2)).hits == 2
    await quarter.forgive("login:a")
    await quarter.forgive("login:a")
    await quarter.forgive("login:a")  # never below zero
    assert (await quarter.hit("login:a", limit=2)).hits == 1


async def test_postgres_counters_skip_the_wal(migrated_db: Database) -> None:
    if not migrated_db.is_postgres:
        pytest.skip("UNLOGGED is a PostgreSQL table kind")
    async with migrated_db.session() as session:
        kind = await session.scalar(
            text("SELECT relpersistence::text FROM pg_class WHERE relname = 'rate_limit_counters'")
        )
    assert kind == "u"
