"""The web console's assets at ``/`` beside the API, and ``/docs`` served without a CDN.

The app serves a console build directory shaped like Vite's output (``index.html`` and hashed
files under ``assets/``); the real build is exercised by the console's browser suite.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from snapagent.api.app import create_app
from snapagent.api.console import ConsoleSettings
from snapagent.db.session import Database
from snapagent.server_settings import ServerSettings
from snapagent.services.knowledge import KnowledgeService
from snapagent.settings import CoreSettings

from .conftest import assert_problem

pytestmark = pytest.mark.usefixtures("client")

INDEX = "<!doctype html><title>console</title><script type=module src=/assets/app-3f2a9c.js>"
SCRIPT = "console.log('console')"


@pytest.fixture
def console_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "dist"
    (directory / "assets").mkdir(parents=True)
    (directory / "index.html").write_text(INDEX, encoding="utf-8")
    (directory / "assets" / "app-3f2a9c.js").write_text(SCRIPT, encoding="utf-8")
    (directory / "robots.txt").write_text("User-agent: *\nDisallow: /\n", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("outside the build", encoding="utf-8")
    return directory


@pytest.fixture
def app(
    migrated_db: Database,
    server_settings: ServerSettings,
    core_settings: CoreSettings,
    api_knowledge: KnowledgeService,
    console_dir: Path,
) -> FastAPI:
    return create_app(
        server_settings,
        migrated_db,
        core_settings=core_settings,
        knowledge=api_knowledge,
        console=ConsoleSettings(console_dir=console_dir),
    )


async def test_root_is_the_console_shell_revalidated_on_every_load(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert "etag" in response.headers
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self';" in csp
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/bots", "/bots/b1/editor", "/knowledge/kb1", "/login?next=/"])
async def test_client_routes_get_the_shell(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["cache-control"] == "no-cache"


async def test_hashed_assets_are_immutable(client: httpx.AsyncClient) -> None:
    response = await client.get("/assets/app-3f2a9c.js")
    assert response.status_code == 200
    assert response.text == SCRIPT
    assert "javascript" in response.headers["content-type"]
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_a_revalidated_file_answers_304(client: httpx.AsyncClient) -> None:
    first = await client.get("/robots.txt")
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-cache"
    again = await client.get("/robots.txt", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


async def test_a_missing_asset_is_a_404_not_the_shell(client: httpx.AsyncClient) -> None:
    # A page built for an older deploy must fail loudly, not execute HTML as JavaScript.
    assert_problem(await client.get("/assets/app-000000.js"), 404)


async def test_head_is_answered_like_get(client: httpx.AsyncClient) -> None:
    response = await client.head("/bots/b1")
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize(
    "path",
    ["/api/v1/nothing-here", "/api", "/health/nothing", "/openapi.json/x"],
)
async def test_unknown_api_paths_keep_their_problem_404(
    client: httpx.AsyncClient, path: str
) -> None:
    assert_problem(await client.get(path), 404)


async def test_unknown_openai_paths_keep_their_openai_404(client: httpx.AsyncClient) -> None:
    # The OpenAI-compatible API's own error shape (snapagent.api.errors.render_problem).
    response = await client.get("/v1/nothing")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "no resource at /v1/nothing"


async def test_other_methods_are_never_the_console(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/bots/b1/editor", json={}), 404)
    # A real route with the wrong method keeps its 405.
    assert (await client.put("/api/v1/bots", json={})).status_code == 405


async def test_the_api_still_answers(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json()["status"] == "ok"
    assert "paths" in (await client.get("/openapi.json")).json()
    response = await client.get("/api/v1/bots")
    assert_problem(response, 401)


@pytest.mark.parametrize(
    "path",
    ["/../secret.txt", "/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt", "//secret.txt"],
)
async def test_nothing_outside_the_build_is_served(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert "outside the build" not in response.text


async def test_docs_load_nothing_from_another_origin(client: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        response = await client.get(page)
        assert response.status_code == 200
        sources = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        assert sources, response.text
        assert all(s.startswith("/") and not s.startswith("//") for s in sources), sources
        for source in sources:
            if source.startswith("/docs/assets/"):
                asset = await client.get(source)
                assert asset.status_code == 200, source
                assert len(asset.content) > 1000
        assert "validator.swagger.io" not in response.text
        assert "fonts.googleapis" not in response.text


async def test_no_build_says_how_to_build_it(
    migrated_db: Database,
    server_settings: ServerSettings,
    core_settings: CoreSettings,
    api_knowledge: KnowledgeService,
    tmp_path: Path,
) -> None:
    app = create_app(
        server_settings,
        migrated_db,
        core_settings=core_settings,
        knowledge=api_knowledge,
        console=ConsoleSettings(console_dir=tmp_path / "missing"),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/bots/b1")
        assert response.status_code == 404
        assert "make console" in response.text
        assert "SNAPAGENT_CONSOLE_DIR" in response.text
        assert (await http.get("/health")).status_code == 200
