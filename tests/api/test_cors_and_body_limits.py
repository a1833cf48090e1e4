"""CORS from settings (off by default) and the JSON body limit (413 problem+json)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from snapagent.api.app import create_app
from snapagent.db.session import Database
from snapagent.observability.settings import ObservabilitySettings
from snapagent.server_settings import ServerSettings
from snapagent.services.knowledge import KnowledgeService
from snapagent.settings import CoreSettings

from .conftest import ApiUser, assert_problem, create_knowledge_base

ORIGIN = "https://app.example.com"
JSON_LIMIT = 4096


@pytest.fixture
def app(
    migrated_db: Database,
    server_settings: ServerSettings,
    core_settings: CoreSettings,
    api_knowledge: KnowledgeService,
) -> FastAPI:
    server = server_settings.model_copy(update={"cors_origins": [ORIGIN]})
    return create_app(
        server,
        migrated_db,
        core_settings=core_settings,
        knowledge=api_knowledge,
        observability=ObservabilitySettings(json_body_max_bytes=JSON_LIMIT),
    )


def preflight(origin: str, method: str = "POST", headers: str = "authorization,content-type"):  # type: ignore[no-untyped-def]
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


async def test_preflight_allowed_and_denied(client: httpx.AsyncClient) -> None:
    allowed = await client.options("/api/v1/chat", headers=preflight(ORIGIN))
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in allowed.headers["access-control-allow-methods"]

    other_origin = await client.options("/api/v1/chat", headers=preflight("https://evil.example"))
    assert other_origin.status_code == 400
    assert "access-control-allow-origin" not in other_origin.headers
    odd_method = await client.options("/api/v1/chat", headers=preflight(ORIGIN, method="TRACE"))
    assert odd_method.status_code == 400
    odd_header = await client.options("/api/v1/chat", headers=preflight(ORIGIN, headers="x-evil"))
    assert odd_header.status_code == 400

    simple = await client.get("/health", headers={"Origin": ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()


@pytest.fixture
async def default_client(
    migrated_db: Database,
    server_settings: ServerSettings,
    core_settings: CoreSettings,
    api_knowledge: KnowledgeService,
) -> AsyncIterator[httpx.AsyncClient]:
    plain = create_app(
        server_settings, migrated_db, core_settings=core_settings, knowledge=api_knowledge
    )
    transport = httpx.ASGITransport(app=plain)
    async with httpx.AsyncClient(transport=transport, base_url="http://plain") as http:
        yield http


async def test_cors_is_off_by_default(default_client: httpx.AsyncClient) -> None:
    response = await default_client.options("/api/v1/chat", headers=preflight(ORIGIN))
    assert "access-control-allow-origin" not in response.headers
    simple = await default_client.get("/health", headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in simple.headers


async def test_json_bodies_over_the_limit_get_413(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    big = {"name": "x" * JSON_LIMIT}
    declared = await client.post("/api/v1/bots", json=big, headers=alice.headers)
    body = assert_problem(declared, 413)
    assert str(JSON_LIMIT) in body["detail"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"name": "'
        for _ in range(8):
            yield b"y" * 1024
        yield b'"}'

    streamed = await client.post(
        "/api/v1/bots",
        content=chunks(),
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert_problem(streamed, 413)
    assert (await client.get("/api/v1/bots", headers=alice.headers)).json()["data"] == []

    # Uploads keep the (larger) upload limit: a 16 KiB document passes.
    kb_id = await create_knowledge_base(client, alice, "docs")
    upload = await client.post(
        f"/api/v1/knowledge-bases/{kb_id}/documents",
        files={"file": ("big.md", b"# big\n" + b"word " * 3300, "text/markdown")},
        headers=alice.headers,
    )
    assert upload.status_code == 201, upload.text
