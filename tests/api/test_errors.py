"""The one error mapping: every family, validation, unknown routes, the catch-all, /health."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import OperationalError

from snapagent import errors as e
from snapagent.api.app import create_app
from snapagent.db.session import Database
from snapagent.llm.errors import ProviderTimeoutError, ProviderUnavailableError
from snapagent.server_settings import ServerSettings
from snapagent.settings import CoreSettings

from .conftest import ApiUser, assert_problem


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """The mapping does not depend on the database: SQLite only here."""
    return sqlite_url


RAISED: dict[str, BaseException] = {
    "definition": e.DefinitionError("bad node config"),
    "graph": e.GraphValidationError(
        [{"code": "no_end", "message": "no end node", "node_id": None, "path": ""}]
    ),
    "input": e.InputValidationError("too long", field="message"),
    "auth": e.AuthenticationError("token expired"),
    "permission": e.PermissionDeniedError("not allowed"),
    "not-found": e.NotFoundError("bot 1 not found"),
    "conflict": e.ConflictError("stale revision"),
    "too-large": e.PayloadTooLargeError("too big"),
    "media": e.UnsupportedMediaError("cannot parse .exe"),
    "rate": e.RateLimitedError("slow down", retry_after=2.4),
    "unavailable": e.UnavailableError("database down"),
    "provider": ProviderUnavailableError("upstream 503", provider="openai"),
    "provider-timeout": ProviderTimeoutError("no answer in 30 s", provider="openai"),
    "node-timeout": e.NodeTimeoutError("node llm timed out", node_id="llm"),
    "node": e.NodeExecutionError("node llm failed", node_id="llm"),
    "root": e.SnapAgentError("something we meant to say"),
    "operational": OperationalError("SELECT 1", {}, Exception("database is locked")),
    "bug": RuntimeError("secret internals: password=hunter2"),
}
EXPECTED = {
    "definition": 422,
    "graph": 422,
    "input": 422,
    "auth": 401,
    "permission": 403,
    "not-found": 404,
    "conflict": 409,
    "too-large": 413,
    "media": 415,
    "rate": 429,
    "unavailable": 503,
    "provider": 502,
    "provider-timeout": 504,
    "node-timeout": 504,
    "node": 500,
    "root": 500,
    "operational": 503,
    "bug": 500,
}


@pytest.fixture
def raising_app(app: FastAPI) -> FastAPI:
    async def boom(kind: str) -> None:
        raise RAISED[kind]

    app.add_api_route("/test/raise/{kind}", boom)
    return app


async def test_every_family_maps_to_its_status(
    raising_app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    for kind, status in EXPECTED.items():
        body = assert_problem(await client.get(f"/test/raise/{kind}"), status)
        assert body["type"].startswith("urn:snapagent:problem:"), kind

    input_problem = assert_problem(await client.get("/test/raise/input"), 422)
    assert input_problem["errors"] == [{"field": "message", "reason": "too long"}]
    graph_problem = assert_problem(await client.get("/test/raise/graph"), 422)
    assert graph_problem["errors"] == [{"field": "graph", "reason": "no end node"}]
    assert graph_problem["problems"][0]["code"] == "no_end"
    rate = await client.get("/test/raise/rate")
    assert rate.headers["retry-after"] == "2"
    auth = await client.get("/test/raise/auth")
    assert auth.headers["www-authenticate"] == "Bearer"

    with caplog.at_level(logging.ERROR, logger="snapagent.api.errors"):
        bug = await client.get("/test/raise/bug")
    body = assert_problem(bug, 500)
    assert "hunter2" not in bug.text
    assert "secret" not in bug.text
    reference = body["detail"].split("reference ")[1].rstrip(")")
    assert any(reference in r.getMessage() for r in caplog.records)


async def test_unknown_routes_methods_and_bad_bodies(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    assert "/api/v1/nothing" in assert_problem(await client.get("/api/v1/nothing"), 404)["detail"]
    assert_problem(await client.put("/health"), 405)

    broken_json = await client.post(
        "/api/v1/bots",
        content=b'{"name": ',
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert assert_problem(broken_json, 422)["errors"][0]["reason"] == (
        "not valid JSON at line 1, column 10: Expecting value"
    )
    wrong_type = await client.post("/api/v1/bots", json={"name": 5}, headers=alice.headers)
    assert assert_problem(wrong_type, 422)["errors"][0]["field"] == "name"
    not_object = await client.post("/api/v1/bots", json=[1, 2], headers=alice.headers)
    assert_problem(not_object, 422)


async def test_oversized_chunked_body_is_cut_off(client: httpx.AsyncClient, alice: ApiUser) -> None:
    sent = 0

    async def chunks():  # no Content-Length: the limit must be counted as the body arrives
        nonlocal sent
        for _ in range(128):  # 2 MiB: past the JSON body limit (1 MiB by default)
            sent += 16 * 1024
            yield b" " * (16 * 1024)

    response = await client.post(
        "/api/v1/bots",
        content=chunks(),
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert "limit" in assert_problem(response, 413)["detail"]


async def test_docs_and_openapi_are_public(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    schema = (await client.get("/openapi.json")).json()
    assert "/api/v1/bots/{bot_id}/workflow-versions/{version_id}/publish" in schema["paths"]
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


async def test_health_reports_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] == {"status": "ok", "dialect": "sqlite"}


async def test_health_is_503_when_the_database_is_down(
    server_settings: ServerSettings, core_settings: CoreSettings
) -> None:
    down = Database("postgresql+asyncpg://nobody:secret@127.0.0.1:1/none")
    app = create_app(server_settings, down, core_settings=core_settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        response = await http.get("/health")
    await down.dispose()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["database"]["status"] == "unavailable"
    assert "secret" not in response.text


async def test_cors_when_configured(migrated_db: Database, core_settings: CoreSettings) -> None:
    settings = ServerSettings(
        jwt_secret="z" * 40, cors_origins=["https://app.example.com"], argon2_memory_kib=64
    )
    app = create_app(settings, migrated_db, core_settings=core_settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        preflight = await http.options(
            "/api/v1/bots",
            headers={
                "Origin": "https://app.example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        other = await http.get("/health", headers={"Origin": "https://evil.example.com"})
    assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "access-control-allow-origin" not in other.headers
