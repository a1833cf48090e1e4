"""``GET /health`` is answered by its plain ASGI app (`serve_health`), exactly as FastAPI's own
handling of the declared route answers it: status, headers, body bytes - up and down."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from snapagent.api.app import create_app
from snapagent.db.session import Database
from snapagent.server_settings import ServerSettings
from snapagent.settings import CoreSettings

from .test_metrics import scrape, value


def _count_dependency_solving(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts FastAPI's request handlers at work: each solves its route's dependencies."""
    calls: list[int] = []
    solve = fastapi.routing.solve_dependencies

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await solve(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counted)
    return calls


async def _both_ways(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, *, lifespan: bool = True
) -> tuple[Any, Any, int]:
    """GET /health through the app, and through the stack stock FastAPI builds for the same
    app (its router, its middleware: no `IndexedRouter`, no `serve_health`)."""
    handler_calls = _count_dependency_solving(monkeypatch)
    stock = FastAPI.build_middleware_stack(app)

    async def fastapi_routing(scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = app
        await stock(scope, receive, send)

    async with app.router.lifespan_context(app) if lifespan else contextlib.nullcontext():
        answers = []
        for asgi in (app, fastapi_routing):
            transport = httpx.ASGITransport(app=asgi)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                answers.append(await http.get("/health"))
    fast, reference = answers
    return fast, reference, len(handler_calls)


def _same_answer(fast: httpx.Response, reference: httpx.Response) -> None:
    assert fast.status_code == reference.status_code
    assert fast.content == reference.content  # byte for byte
    assert fast.headers["content-type"] == reference.headers["content-type"] == "application/json"
    assert fast.headers["content-length"] == reference.headers["content-length"]
    assert len(fast.headers["x-request-id"]) == 32  # the request context still ran
    assert fast.headers.keys() == reference.headers.keys()


async def test_health_is_served_without_fastapis_handler_and_answers_the_same(
    app: FastAPI, migrated_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, reference, handler_calls = await _both_ways(app, monkeypatch)
    assert handler_calls == 1  # only the reference request went through FastAPI's handler
    _same_answer(fast, reference)
    assert fast.status_code == 200
    body = json.loads(fast.content)
    assert body["status"] == "ok"
    assert body["database"] == {"status": "ok", "dialect": migrated_db.dialect}


async def test_health_down_is_served_the_same_way(
    server_settings: ServerSettings, core_settings: CoreSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = Database("postgresql+asyncpg://nobody:secret@127.0.0.1:1/none")
    app = create_app(server_settings, down, core_settings=core_settings)
    try:
        # (no lifespan: it would refuse to start without its database)
        fast, reference, handler_calls = await _both_ways(app, monkeypatch, lifespan=False)
    finally:
        await down.dispose()
    assert handler_calls == 1
    _same_answer(fast, reference)
    assert fast.status_code == 503
    assert fast.json()["status"] == "degraded"
    assert fast.json()["database"]["status"] == "unavailable"
    assert "secret" not in fast.text


async def test_health_other_methods_still_get_fastapis_answers(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.head("/health")).status_code == 405
    assert (await client.get("/health/")).status_code in (307, 404)
    ok = await client.get("/health?verbose=1")  # unknown query parameters are ignored
    assert ok.status_code == 200


async def test_health_is_logged_and_counted_like_every_request(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    before = await scrape(client)
    capsys.readouterr()
    for _ in range(3):
        assert (await client.get("/health")).status_code == 200
    access = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if '"snapagent.access"' in line
    ]
    assert [(a["method"], a["route"], a["status"]) for a in access] == [("GET", "/health", 200)] * 3
    after = await scrape(client)
    labels = {"method": "GET", "route": "/health", "status": "200"}
    name = "snapagent_http_requests_total"
    assert value(after, name, **labels) - value(before, name, **labels) == 3
