"""Closed registration, password change, "log out everywhere", the public auth config, and the
bound on concurrent password hashing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from fastapi import FastAPI

from .conftest import PASSWORD, ApiUser, assert_problem, client_of, register_user

ME = "/api/v1/auth/me"
REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
PASSWORD_CHANGE = "/api/v1/auth/password"
NEW_PASSWORD = "a brand new passphrase"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_auth_config_is_public_and_says_registration_is_open(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/auth/config")
    assert response.status_code == 200
    assert response.json() == {
        "registration": "open",
        "registration_open": True,
        "password_min_length": 8,
        "password_max_length": 256,
    }


async def test_password_change_revokes_earlier_tokens_but_not_api_keys(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    second_login = await client.post(LOGIN, json={"email": alice.email, "password": PASSWORD})
    other_device = second_login.json()["access_token"]
    key = await client.post("/api/v1/api-keys", json={"name": "ci"}, headers=alice.headers)
    api_key = key.json()["key"]

    wrong = {"current_password": "not it at all", "new_password": NEW_PASSWORD}
    refused = assert_problem(
        await client.post(PASSWORD_CHANGE, json=wrong, headers=alice.headers), 422
    )
    assert refused["errors"] == [
        {"field": "current_password", "reason": "current password is incorrect"}
    ]
    short = {"current_password": PASSWORD, "new_password": "short"}
    assert_problem(await client.post(PASSWORD_CHANGE, json=short, headers=alice.headers), 422)
    assert (await client.get(ME, headers=alice.headers)).status_code == 200  # nothing changed

    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    changed = await client.post(PASSWORD_CHANGE, json=body, headers=alice.headers)
    assert changed.status_code == 200, changed.text
    fresh = changed.json()["access_token"]

    for old in (alice.token, other_device):
        revoked = assert_problem(await client.get(ME, headers=bearer(old)), 401)
        assert "revoked" in revoked["detail"]
    assert (await client.get(ME, headers=bearer(fresh))).status_code == 200
    assert (await client.get(ME, headers=bearer(api_key))).status_code == 200
    assert_problem(await client.post(LOGIN, json={"email": alice.email, "password": PASSWORD}), 401)
    relogin = await client.post(LOGIN, json={"email": alice.email, "password": NEW_PASSWORD})
    assert relogin.status_code == 200


async def test_logout_everywhere_on_one_replica_is_felt_on_the_other(
    client: httpx.AsyncClient, alice: ApiUser, replica: FastAPI
) -> None:
    key = await client.post("/api/v1/api-keys", json={"name": "ci"}, headers=alice.headers)
    api_key = key.json()["key"]
    async with client_of(replica) as other:
        assert (await other.get(ME, headers=alice.headers)).status_code == 200
        out = await client.post("/api/v1/auth/logout-everywhere", headers=alice.headers)
        assert out.status_code == 204
        assert_problem(await other.get(ME, headers=alice.headers), 401)
        assert_problem(await client.get(ME, headers=alice.headers), 401)
        assert (await other.get(ME, headers=bearer(api_key))).status_code == 200
        # A new login works at once, on either replica.
        login = await other.post(LOGIN, json={"email": alice.email, "password": PASSWORD})
        assert (
            await client.get(ME, headers=bearer(login.json()["access_token"]))
        ).status_code == 200


async def test_closed_registration_only_an_existing_account_creates_users(
    client: httpx.AsyncClient, alice: ApiUser, make_app: Callable[..., FastAPI]
) -> None:
    async with client_of(make_app(registration="closed")) as closed:
        config = (await closed.get("/api/v1/auth/config")).json()
        assert config["registration"] == "closed"
        assert config["registration_open"] is False

        account = {"email": "mallory@example.com", "password": PASSWORD}
        refused = assert_problem(await closed.post(REGISTER, json=account), 403)
        assert "SNAPAGENT_REGISTRATION=closed" in refused["detail"]
        assert "Authorization header" in refused["detail"]
        assert "snapagent users create" in refused["detail"]
        forged = await closed.post(REGISTER, json=account, headers=bearer("not-a-token"))
        assert_problem(forged, 401)

        created = await closed.post(
            REGISTER,
            json={"email": "bob@example.com", "password": PASSWORD},
            headers=alice.headers,
        )
        assert created.status_code == 201, created.text
        login = await closed.post(LOGIN, json={"email": "bob@example.com", "password": PASSWORD})
        assert login.status_code == 200


async def test_concurrent_hashing_is_bounded_and_the_rest_get_429(
    make_app: Callable[..., FastAPI],
) -> None:
    # Hashes slow enough (~tens of ms) that concurrent requests meet at the gate.
    app = make_app(
        argon2_time_cost=2,
        argon2_memory_kib=32 * 1024,
        password_hash_concurrency=1,
        password_hash_queue=1,
        password_hash_wait_s=0.05,
    )
    gate = app.state.snapagent.credentials.gate
    peak = 0
    original = app.state.snapagent.credentials.hash_password

    def watched(password: str) -> str:
        nonlocal peak
        peak = max(peak, gate.running)
        return str(original(password))

    app.state.snapagent.credentials.hash_password = watched
    async with client_of(app) as http:
        accounts = [{"email": f"u{i}@example.com", "password": PASSWORD} for i in range(12)]
        answers = await asyncio.gather(*(http.post(REGISTER, json=a) for a in accounts))
    statuses = sorted(r.status_code for r in answers)
    assert set(statuses) == {201, 429}, statuses
    for response in answers:
        if response.status_code == 429:
            body = assert_problem(response, 429)
            assert "too many passwords at once" in body["detail"]
            assert int(response.headers["retry-after"]) >= 1
    assert peak == 1, "more than one hash ran at once"
    assert gate.running == 0


async def test_the_suites_helper_stays_under_every_default_limit(
    client: httpx.AsyncClient,
) -> None:
    for i in range(5):
        assert (await register_user(client, f"user{i}@example.com")).token
