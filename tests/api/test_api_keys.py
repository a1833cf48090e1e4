"""API keys over HTTP: shown once, stored hashed, usable as bearer, revocable, last-used time."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from sqlalchemy import select

from snapagent.db.models.api_keys import ApiKey
from snapagent.db.session import Database
from snapagent.services import accounts

from .conftest import ApiUser, assert_problem


async def test_api_key_lifecycle(
    client: httpx.AsyncClient, alice: ApiUser, migrated_db: Database
) -> None:
    created = await client.post("/api/v1/api-keys", json={"name": "ci"}, headers=alice.headers)
    assert created.status_code == 201
    body = created.json()
    secret = body["key"]
    assert secret.startswith(body["prefix"] + "_")
    assert body["last_used_at"] is None

    # Stored hashed: the secret itself is nowhere in the row.
    async with migrated_db.session() as session:
        row = await session.scalar(select(ApiKey).where(ApiKey.id == body["id"]))
        assert row is not None
        assert secret not in (row.key_hash, row.prefix)
        assert row.key_hash == hashlib.sha256(secret.encode()).hexdigest()

    # The key works as a bearer credential and records when it was used.
    me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200
    assert me.json()["id"] == alice.id

    listed = await client.get("/api/v1/api-keys", headers=alice.headers)
    assert listed.status_code == 200
    keys = listed.json()
    assert len(keys["data"]) == 1
    assert "key" not in keys["data"][0]  # never shown again
    assert keys["data"][0]["last_used_at"] is not None

    revoked = await client.delete(f"/api/v1/api-keys/{body['id']}", headers=alice.headers)
    assert revoked.status_code == 204
    after = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"})
    assert "revoked" in assert_problem(after, 401)["detail"]
    assert (await client.get("/api/v1/api-keys", headers=alice.headers)).json()["data"] == []
    again = await client.delete(f"/api/v1/api-keys/{body['id']}", headers=alice.headers)
    assert_problem(again, 404)


async def test_api_keys_are_private_and_validated(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    created = await client.post("/api/v1/api-keys", json={"name": "mine"}, headers=alice.headers)
    key = created.json()

    assert (await client.get("/api/v1/api-keys", headers=bob.headers)).json()["data"] == []
    stolen = await client.delete(f"/api/v1/api-keys/{key['id']}", headers=bob.headers)
    assert_problem(stolen, 404)

    tampered = key["key"][:-4] + "AAAA"
    response = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tampered}"})
    assert_problem(response, 401)

    blank = await client.post("/api/v1/api-keys", json={"name": ""}, headers=alice.headers)
    assert assert_problem(blank, 422)["errors"][0]["field"] == "name"
    spaces = await client.post("/api/v1/api-keys", json={"name": "   "}, headers=alice.headers)
    assert assert_problem(spaces, 422)["errors"] == [
        {
            "field": "name",
            "reason": "name must contain visible characters (control characters "
            "and invisible formatting characters such as bidirectional overrides are removed)",
        }
    ]


async def test_a_prefix_collision_is_retried_and_underscores_are_safe(
    client: httpx.AsyncClient, alice: ApiUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefixes = iter(["aaaaaaaaaaaa", "aaaaaaaaaaaa", "bbbbbbbbbbbb"])
    monkeypatch.setattr(accounts.secrets, "token_hex", lambda n: next(prefixes))
    # Secrets may contain "_" too: the prefix ends at the first one after "sa_".
    monkeypatch.setattr(accounts.secrets, "token_urlsafe", lambda n: "_under_scored-" + "x" * 30)
    first = await client.post("/api/v1/api-keys", json={"name": "one"}, headers=alice.headers)
    second = await client.post("/api/v1/api-keys", json={"name": "two"}, headers=alice.headers)
    assert first.status_code == 201
    assert second.status_code == 201, second.text
    assert (first.json()["prefix"], second.json()["prefix"]) == (
        "sa_aaaaaaaaaaaa",
        "sa_bbbbbbbbbbbb",
    )
    for created in (first, second):
        key = created.json()["key"]
        me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"})
        assert me.json()["id"] == alice.id
