"""The request caches across processes: two real `snapagent serve` on one database.

Both servers have cached the caller's API key, token user and bot (a chat through each) when
server A changes them; A must honour the change on its very next request, and B within a short
bound (SQLite: the shared counter file; PostgreSQL: NOTIFY to B's listener). Covered: publish,
rollback, API key revocation, "log out everywhere", bot deletion.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from replicas.live import live

# How long server B may take to hear of a change (it is usually a millisecond).
HEAR_WITHIN_S = 5.0
ANSWERS: dict[str, Any] = {
    "nodes": [
        {"id": "start", "type": "start", "config": {}},
        {"id": "tpl", "type": "template", "config": {"template": "second version"}},
        {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
    ],
    "edges": [
        {"source": "tpl", "source_port": "text", "target": "end", "target_port": "answer"},
        {"source": "start", "target": "tpl"},
    ],
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def shared_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> float:
    """Poll ``check`` until true; the seconds it took (fails after HEAR_WITHIN_S)."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > HEAR_WITHIN_S:
            pytest.fail(f"server B did not see {what} within {HEAR_WITHIN_S} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def _scenario(a: str, b: str) -> None:
    token_headers, bot_id = await live.seed(a)
    async with (
        httpx.AsyncClient(base_url=a, timeout=30) as on_a,
        httpx.AsyncClient(base_url=b, timeout=30) as on_b,
    ):
        created = await on_a.post("/api/v1/api-keys", json={"name": "k"}, headers=token_headers)
        key_headers = {"Authorization": f"Bearer {created.json()['key']}"}
        key_id = created.json()["id"]
        ask = {"bot_id": bot_id, "message": "hello"}

        async def version_on(http: httpx.AsyncClient, headers: dict[str, str]) -> Any:
            response = await http.post("/api/v1/chat", json=ask, headers=headers)
            return response.json()["version"] if response.status_code == 200 else response

        # Warm every cache on both servers: both credentials, the bot at version 1.
        for http in (on_a, on_b):
            for headers in (key_headers, token_headers):
                assert await version_on(http, headers) == 1

        # Publish version 2 on A.
        versions = f"/api/v1/bots/{bot_id}/workflow-versions"
        draft = await on_a.post(versions, json={"graph": ANSWERS}, headers=token_headers)
        assert draft.status_code == 201, draft.text
        published = await on_a.post(
            f"{versions}/{draft.json()['id']}/publish", headers=token_headers
        )
        assert published.status_code == 200, published.text
        assert await version_on(on_a, key_headers) == 2

        async def b_serves(number: int) -> bool:
            return bool(await version_on(on_b, key_headers) == number)

        await _eventually(lambda: b_serves(2), "the publish")
        answer = await on_b.post("/api/v1/chat", json=ask, headers=key_headers)
        assert answer.json()["answer"] == "second version"

        # Roll back to version 1 on A: live as version 3.
        listed = (await on_a.get(versions, headers=token_headers)).json()["data"]
        first = next(v for v in listed if v["version_number"] == 1)
        rolled = await on_a.post(f"{versions}/{first['id']}/rollback", headers=token_headers)
        assert rolled.status_code == 200, rolled.text
        assert await version_on(on_a, token_headers) == 3
        await _eventually(lambda: b_serves(3), "the rollback")

        # Revoke the API key on A.
        revoked = await on_a.delete(f"/api/v1/api-keys/{key_id}", headers=token_headers)
        assert revoked.status_code == 204, revoked.text
        assert (await on_a.get("/api/v1/auth/me", headers=key_headers)).status_code == 401

        async def b_refuses(headers: dict[str, str]) -> bool:
            return (await on_b.get("/api/v1/auth/me", headers=headers)).status_code == 401

        await _eventually(lambda: b_refuses(key_headers), "the key's revocation")
        refused = await on_b.post("/api/v1/chat", json=ask, headers=key_headers)
        assert refused.status_code == 401

        # Delete the bot on A (the token still works): gone on both.
        deleted = await on_a.delete(f"/api/v1/bots/{bot_id}", headers=token_headers)
        assert deleted.status_code == 204, deleted.text
        assert (await on_a.post("/api/v1/chat", json=ask, headers=token_headers)).status_code == 404

        async def b_lost_bot() -> bool:
            response = await on_b.post("/api/v1/chat", json=ask, headers=token_headers)
            return response.status_code == 404

        await _eventually(b_lost_bot, "the bot's deletion")

        # Log out everywhere on A: the token is refused on both.
        out = await on_a.post("/api/v1/auth/logout-everywhere", headers=token_headers)
        assert out.status_code in (200, 204), out.text
        assert (await on_a.get("/api/v1/auth/me", headers=token_headers)).status_code == 401
        await _eventually(lambda: b_refuses(token_headers), "the logout everywhere")


def test_a_change_on_one_server_is_honoured_by_the_other(
    shared_database: str, tmp_path: Path
) -> None:
    live.migrate(shared_database)
    servers = live.start_servers(shared_database, 2, tmp_path)
    try:
        asyncio.run(_scenario(servers[0].base, servers[1].base))
    finally:
        live.stop_all(servers)
