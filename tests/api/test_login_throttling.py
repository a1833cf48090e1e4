"""Failed logins are throttled per account and per client address, registrations per client
address - 429 problem+json with Retry-After, decided before any password is hashed, counted in
the database so two apps on one database (two replicas) share the counts."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from .conftest import PASSWORD, ApiUser, assert_problem, client_of

LIMITS = {
    "login_failures_per_account": 3,
    "login_failures_per_client": 5,
    "registrations_per_client": 4,
}
LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app(**LIMITS)


@pytest.fixture
def replica(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app(**LIMITS)


def assert_throttled(response: httpx.Response, detail: str) -> int:
    body = assert_problem(response, 429)
    assert body["type"] == "urn:snapagent:problem:rate-limited"
    assert detail in body["detail"], body
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 3600  # the longest window (registrations: an hour)
    return retry_after


def wrong(email: str) -> dict[str, str]:
    return {"email": email, "password": "not the password"}


async def test_failed_logins_per_account_across_clients_and_replicas(
    app: FastAPI, replica: FastAPI, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    async with (
        client_of(app, "198.51.100.1") as first,
        client_of(replica, "198.51.100.2") as second,
    ):
        assert_problem(await first.post(LOGIN, json=wrong(alice.email)), 401)
        assert_problem(await second.post(LOGIN, json=wrong(alice.email)), 401)
        assert_problem(await first.post(LOGIN, json=wrong(alice.email)), 401)
        # The fourth guess - from yet another address, on the other replica - is refused, and
        # so is the right password: it is not even checked until the window ends.
        assert_throttled(await second.post(LOGIN, json=wrong(alice.email)), "for this account")
        right = {"email": alice.email, "password": PASSWORD}
        assert_throttled(await client.post(LOGIN, json=right), "for this account")
    # An account nobody has (same answers: the throttle reveals nothing about who exists).
    for _ in range(3):
        assert_problem(await client.post(LOGIN, json=wrong("nobody@example.com")), 401)
    assert_throttled(await client.post(LOGIN, json=wrong("nobody@example.com")), "account")


async def test_failed_logins_spread_over_accounts_are_throttled_per_client(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    async with client_of(app, "203.0.113.7") as attacker:
        for i in range(5):
            assert_problem(await attacker.post(LOGIN, json=wrong(f"user{i}@example.com")), 401)
        assert_throttled(
            await attacker.post(LOGIN, json=wrong("user9@example.com")), "from this address"
        )
        # Alice's own account is not locked by that, and another address logs in fine.
        right = {"email": alice.email, "password": PASSWORD}
        assert (await client.post(LOGIN, json=right)).status_code == 200


async def test_a_successful_login_does_not_count(client: httpx.AsyncClient, alice: ApiUser) -> None:
    right = {"email": alice.email, "password": PASSWORD}
    assert_problem(await client.post(LOGIN, json=wrong(alice.email)), 401)
    assert_problem(await client.post(LOGIN, json=wrong(alice.email)), 401)
    for _ in range(4):  # would be over the limit of 3 if successes counted
        assert (await client.post(LOGIN, json=right)).status_code == 200
    assert_problem(await client.post(LOGIN, json=wrong(alice.email)), 401)  # the third failure
    assert_throttled(await client.post(LOGIN, json=wrong(alice.email)), "for this account")


async def test_registrations_are_counted_per_client(app: FastAPI) -> None:
    async with client_of(app, "192.0.2.50") as flood:
        for i in range(4):
            account = {"email": f"bot{i}@example.com", "password": PASSWORD}
            assert (await flood.post(REGISTER, json=account)).status_code == 201
        account = {"email": "bot9@example.com", "password": PASSWORD}
        assert_throttled(await flood.post(REGISTER, json=account), "registrations")
    async with client_of(app, "192.0.2.51") as someone_else:
        assert (await someone_else.post(REGISTER, json=account)).status_code == 201


async def test_over_the_limit_nothing_is_hashed(
    app: FastAPI, client: httpx.AsyncClient, alice: ApiUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = app.state.snapagent.credentials
    checked: list[str] = []
    original = credentials.verify_password

    def counting(password_hash: str | None, password: str) -> bool:
        checked.append(password)
        return bool(original(password_hash, password))

    monkeypatch.setattr(credentials, "verify_password", counting)
    for _ in range(10):
        await client.post(LOGIN, json=wrong(alice.email))
    assert len(checked) == 3  # the limit; the seven refused guesses cost no hash
