"""What a chat request's lookups cost before its run, with the request caches and without.

In one process on a real database (a temporary SQLite file; ``--databases sqlite,postgresql``
adds a throwaway PostgreSQL): authenticate an API key, then `ChatService.prepare` (the bot, its
published version, the compiled plan) - the work every chat request does before its session's.
The same requests go through a service with caches and one without (the baseline), in
interleaved batches, and the script prints the median microseconds per request of each, the
ratio, and PASS/FAIL against the target: cached lookups cost at most a fifth of uncached ones.

    python bench/lookups.py                       # SQLite, ~10 s
    python bench/lookups.py --databases sqlite,postgresql --requests 2000
"""

from __future__ import annotations

import _bootstrap  # noqa: F401  (first: bench/http.py must not shadow the stdlib `http`)

# isort: split

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

import _live_servers as live
from snapagent.db.migrate import upgrade
from snapagent.db.session import Database
from snapagent.nodes import default_registry
from snapagent.services.accounts import AccountService, CredentialCache, Credentials
from snapagent.services.bots import BotService
from snapagent.services.chat import ChatService, LiveBotCache
from snapagent.services.lookup_cache import LookupCache
from snapagent.services.run_recorder import RunRecorder
from snapagent.services.runtime import BotRuntime
from snapagent.services.workflow_versions import WorkflowVersionService
from snapagent.testing import InMemoryRetriever, ScriptedChatModel, ScriptedChatModels
from snapagent.testing.postgres import PostgresServer

TARGET = 0.2  # cached / uncached
REGISTRY = default_registry()
CREDENTIALS = Credentials(secret="s" * 32, token_ttl=timedelta(hours=1))

Lookup = Callable[[], Awaitable[object]]


async def _seed(db: Database) -> tuple[str, str]:
    """A user with an API key and a published bot: the key's secret and the bot id."""
    async with db.session() as session:
        accounts = AccountService(session, CREDENTIALS)
        user = await accounts.register("bench@example.com", "correct horse")
        key = await accounts.create_api_key(user, "bench")
        bot = await BotService(session, REGISTRY).create(user, name="bench")
        versions = WorkflowVersionService(session, REGISTRY)
        draft = await versions.current_draft(user, bot.id)
        assert draft is not None
        await versions.update_draft(
            user, bot.id, draft.id, live.OFFLINE_GRAPH, revision=draft.revision
        )
        await versions.publish(user, bot.id, draft.id)
        return key.secret, bot.id


def _request(db: Database, secret: str, bot_id: str, *, cached: bool) -> Lookup:
    """One chat request's lookups: authentication, then prepare."""
    changes = db.lookup_changes
    credentials: CredentialCache | None = None
    bots: LiveBotCache | None = None
    if cached:
        credentials = LookupCache(changes, "credentials", max_entries=1000, ttl_s=3600)
        bots = LookupCache(changes, "bots", max_entries=1000, ttl_s=3600)
    runtime = BotRuntime(
        chat_models=ScriptedChatModels(ScriptedChatModel()),
        retriever=InMemoryRetriever(),
        registry=REGISTRY,
    )
    chat = ChatService(db, runtime, RunRecorder(db.sessionmaker), bots=bots)

    async def request() -> object:
        async with db.session() as session:
            user = await AccountService(session, CREDENTIALS, cache=credentials).authenticate(
                secret
            )
            return await chat.prepare(session, user, bot_id, "hello", "s1")

    return request


async def _per_request_us(lookup: Lookup, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        await lookup()
    return (time.perf_counter() - started) / count * 1e6


async def measure(url: str, requests: int, batches: int) -> tuple[float, float]:
    """Median microseconds per request: (uncached, cached)."""
    db = Database(url)
    await upgrade(db)
    try:
        async with db.lookup_changes.listening(db.engine):
            while db.lookup_changes.generation("bots") is None:  # noqa: ASYNC110 (PostgreSQL: until it listens)
                await asyncio.sleep(0.01)
            secret, bot_id = await _seed(db)
            uncached = _request(db, secret, bot_id, cached=False)
            cached = _request(db, secret, bot_id, cached=True)
            for lookup in (uncached, cached):  # warm up: plans compiled, connections open
                await _per_request_us(lookup, 20)
            plain: list[float] = []
            fast: list[float] = []
            per_batch = max(1, requests // batches)
            for _ in range(batches):
                plain.append(await _per_request_us(uncached, per_batch))
                fast.append(await _per_request_us(cached, per_batch))
            return statistics.median(plain), statistics.median(fast)
    finally:
        await db.dispose()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite", help="comma-separated")
    parser.add_argument("--requests", type=int, default=1000, help="per variant")
    parser.add_argument("--batches", type=int, default=10, help="interleaved batches")
    parser.add_argument("--no-fail", action="store_true", help="exit 0 even on FAIL")
    args = parser.parse_args()
    ok = True
    print("database    uncached us/req  cached us/req  cached/uncached  target")
    async with AsyncExitStack() as stack:
        for name in args.databases.split(","):
            if name == "sqlite":
                workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
            else:
                server = stack.enter_context(PostgresServer())
                url = server.create_database("lookups")
            plain, fast = await measure(url, args.requests, args.batches)
            ratio = fast / plain
            passed = ratio <= TARGET
            ok = ok and passed
            verdict = "PASS" if passed else "FAIL"
            print(f"{name:<11} {plain:>15.0f} {fast:>14.0f} {ratio:>16.3f}  <= {TARGET}: {verdict}")
    print("PASS" if ok else "FAIL")
    return 0 if ok or args.no_fail else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
