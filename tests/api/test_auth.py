"""Accounts over HTTP: register, login, tokens, and the 401s."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import httpx
import jwt
from fastapi import FastAPI

from snapagent.db.base import utcnow

from .conftest import PASSWORD, ApiUser, assert_problem

PROTECTED = [
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/auth/password"),
    ("POST", "/api/v1/auth/logout-everywhere"),
    ("GET", "/api/v1/api-keys"),
    ("POST", "/api/v1/api-keys"),
    ("DELETE", "/api/v1/api-keys/abc"),
    ("GET", "/api/v1/bots"),
    ("POST", "/api/v1/bots"),
    ("GET", "/api/v1/bots/abc"),
    ("PATCH", "/api/v1/bots/abc"),
    ("DELETE", "/api/v1/bots/abc"),
    ("GET", "/api/v1/bots/abc/workflow"),
    ("PUT", "/api/v1/bots/abc/workflow"),
    ("GET", "/api/v1/bots/abc/workflow-versions"),
    ("POST", "/api/v1/bots/abc/workflow-versions"),
    ("POST", "/api/v1/bots/abc/workflow-versions/validate"),
    ("GET", "/api/v1/bots/abc/workflow-versions/diff?from=a&to=b"),
    ("GET", "/api/v1/bots/abc/workflow-versions/v1"),
    ("PUT", "/api/v1/bots/abc/workflow-versions/v1"),
    ("POST", "/api/v1/bots/abc/workflow-versions/v1/publish"),
    ("POST", "/api/v1/bots/abc/workflow-versions/v1/restore"),
    ("GET", "/api/v1/knowledge-bases"),
    ("POST", "/api/v1/knowledge-bases"),
    ("GET", "/api/v1/knowledge-bases/k"),
    ("DELETE", "/api/v1/knowledge-bases/k"),
    ("GET", "/api/v1/knowledge-bases/k/documents"),
    ("POST", "/api/v1/knowledge-bases/k/documents"),
    ("GET", "/api/v1/knowledge-bases/k/documents/d"),
    ("DELETE", "/api/v1/knowledge-bases/k/documents/d"),
    ("POST", "/api/v1/knowledge-bases/k/documents/d/retry"),
    ("POST", "/api/v1/knowledge-bases/k/query"),
]


async def test_register_login_and_me(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"email": " Ada@Example.COM ", "password": PASSWORD}
    )
    assert response.status_code == 201
    user = response.json()
    assert user["email"] == "ada@example.com"
    assert "password" not in response.text
    assert "argon2" not in response.text

    response = await client.post(
        "/api/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    token = response.json()
    assert token["token_type"] == "bearer"
    assert 0 < token["expires_in"] <= 3600

    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["id"] == user["id"]


async def test_register_rejects_duplicates_and_bad_input(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    duplicate = await client.post(
        "/api/v1/auth/register", json={"email": "ALICE@example.com", "password": PASSWORD}
    )
    assert_problem(duplicate, 409)

    short = await client.post(
        "/api/v1/auth/register", json={"email": "c@example.com", "password": "short"}
    )
    body = assert_problem(short, 422)
    assert body["errors"][0]["field"] == "password"

    bad_email = await client.post(
        "/api/v1/auth/register", json={"email": "not-an-email", "password": PASSWORD}
    )
    body = assert_problem(bad_email, 422)
    assert body["errors"] == [{"field": "email", "reason": "not a valid email address"}]

    extra = await client.post(
        "/api/v1/auth/register", json={"email": "d@example.com", "password": PASSWORD, "x": 1}
    )
    assert assert_problem(extra, 422)["errors"][0]["field"] == "x"


async def test_login_failures_are_the_same_401(client: httpx.AsyncClient, alice: ApiUser) -> None:
    wrong_password = await client.post(
        "/api/v1/auth/login", json={"email": alice.email, "password": "wrong password"}
    )
    unknown_user = await client.post(
        "/api/v1/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
    )
    first = assert_problem(wrong_password, 401)
    second = assert_problem(unknown_user, 401)
    assert first["detail"] == second["detail"]  # never reveal which accounts exist
    assert wrong_password.headers["www-authenticate"] == "Bearer"


async def test_every_protected_route_needs_credentials(client: httpx.AsyncClient) -> None:
    # One app for all routes: a database per route would multiply the suite's time.
    for method, path in PROTECTED:
        missing = await client.request(method, path)
        assert "authentication required" in assert_problem(missing, 401)["detail"], path
        garbage = await client.request(method, path, headers={"Authorization": "Bearer nonsense"})
        assert_problem(garbage, 401)
        basic = await client.request(method, path, headers={"Authorization": "Basic YTpi"})
        assert_problem(basic, 401)


async def test_expired_and_forged_tokens_are_rejected(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    secret = "test-secret-" + "x" * 32
    now = utcnow()
    expired = jwt.encode(
        {
            "sub": alice.id,
            "iat": now - timedelta(hours=2),
            "exp": now - timedelta(hours=1),
            "typ": "access",
        },
        secret,
        algorithm="HS256",
    )
    response = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {expired}"})
    assert "expired" in assert_problem(response, 401)["detail"]

    forged = jwt.encode(
        {"sub": alice.id, "iat": now, "exp": now + timedelta(hours=1), "typ": "access"},
        "another-secret-" + "y" * 32,
        algorithm="HS256",
    )
    response = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert_problem(response, 401)

    unsigned = jwt.encode({"sub": alice.id}, None, algorithm="none")
    response = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {unsigned}"})
    assert_problem(response, 401)


async def test_concurrent_registrations_of_one_email(client: httpx.AsyncClient) -> None:
    body = {"email": "race@example.com", "password": PASSWORD}
    results = await asyncio.gather(
        *(client.post("/api/v1/auth/register", json=body) for _ in range(3))
    )
    assert sorted(r.status_code for r in results) == [201, 409, 409]


PUBLIC = {
    ("GET", "/health"),
    ("GET", "/health/ready"),
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/login"),
    ("GET", "/api/v1/auth/config"),  # what a sign-in page reads: registration open or closed
}


async def test_no_route_in_the_schema_is_public_by_accident(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Every operation of /openapi.json, including ones added later, demands credentials."""
    checked = 0
    for path, operations in app.openapi()["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        for method in operations:
            if (method.upper(), path) in PUBLIC:
                continue
            response = await client.request(method.upper(), concrete)
            assert response.status_code == 401, f"{method.upper()} {path}: {response.status_code}"
            checked += 1
    assert checked >= len(PROTECTED)
