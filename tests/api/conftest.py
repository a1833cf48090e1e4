"""HTTP test fixtures: the real app on SQLite and PostgreSQL, and two users with tokens.

- ``server_settings``: fast argon2 cost and a fixed JWT secret.
- ``api_knowledge``: the app's `KnowledgeService` (hash embeddings, ``TEST_UPLOAD_LIMIT``).
- ``app``: ``create_app`` on ``migrated_db`` (parametrized sqlite/postgres by the root conftest),
  chatting with the real providers (``offline``) - or, in a test that takes ``chat_model``, with
  that scripted model (`scripted_models`); ``chat_settings`` are its chat limits,
  ``execution_settings`` its recording limits.
- ``client``: an ``httpx.AsyncClient`` on the app (lifespan run, app exceptions become 500s);
  ``client_of(app, address)`` makes more (another app, another client address).
- ``replica``: a second app on the same database (what a second server process is);
  ``make_app(**server_settings)`` builds more, with other server settings.
- ``alice`` / ``bob``: registered users (:class:`ApiUser`: ``id``, ``email``, ``token``,
  ``headers``). Use them for the cross-owner checks: bob asking for alice's thing gets a 404.
- ``register_user(client, email)``: make more users; ``create_knowledge_base(client, user, name)``.
- ``assert_problem(response, status)``: the response is problem+json with that status.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from snapagent.api.app import create_app
from snapagent.db.session import Database
from snapagent.knowledge.settings import KnowledgeSettings
from snapagent.llm.embedding import EmbeddingModel
from snapagent.server_settings import ServerSettings
from snapagent.services.chat import ChatSettings
from snapagent.services.executions import ExecutionSettings
from snapagent.services.knowledge import KnowledgeService
from snapagent.settings import CoreSettings
from snapagent.testing import ScriptedChatModel, ScriptedChatModels
from snapagent.workflow.services import ChatModelProvider

TEST_UPLOAD_LIMIT = 256 * 1024
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class ApiUser:
    id: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with ``status``; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


async def register_user(client: httpx.AsyncClient, email: str) -> ApiUser:
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    user_id = response.json()["id"]
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return ApiUser(id=user_id, email=email, token=response.json()["access_token"])


async def create_knowledge_base(client: httpx.AsyncClient, user: ApiUser, name: str) -> str:
    """A knowledge base of ``user`` (through the API); returns its id."""
    response = await client.post(
        "/api/v1/knowledge-bases", json={"name": name}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    kb_id: str = response.json()["id"]
    return kb_id


@pytest.fixture
def server_settings() -> ServerSettings:
    return ServerSettings(
        jwt_secret="test-secret-" + "x" * 32,
        argon2_time_cost=1,
        argon2_memory_kib=64,
        argon2_parallelism=1,
    )


@pytest.fixture
def core_settings(tmp_path: Path) -> CoreSettings:
    return CoreSettings(data_dir=tmp_path / "data")


@pytest.fixture
async def api_knowledge(
    migrated_db: Database, hash_embeddings: EmbeddingModel
) -> AsyncIterator[KnowledgeService]:
    """The app's `KnowledgeService`: hash embeddings (no weights), a small upload limit."""
    settings = KnowledgeSettings(max_upload_bytes=TEST_UPLOAD_LIMIT)
    service = KnowledgeService(
        migrated_db, embeddings=lambda spec: hash_embeddings, settings=settings
    )
    service.start()
    try:
        yield service
    finally:
        await service.close()


@pytest.fixture
def chat_model() -> ScriptedChatModel:
    """A scripted chat model: a test that takes it gets an ``app`` that chats with it."""
    return ScriptedChatModel()


@pytest.fixture
def chat_settings() -> ChatSettings:
    return ChatSettings()


@pytest.fixture
def execution_settings() -> ExecutionSettings:
    return ExecutionSettings()


def scripted_models(request: pytest.FixtureRequest) -> ChatModelProvider | None:
    """The test's ``chat_model`` as the app's provider if it asked for one, else None (the
    real providers)."""
    if "chat_model" not in request.fixturenames:
        return None
    model: ScriptedChatModel = request.getfixturevalue("chat_model")
    return ScriptedChatModels(model)


@pytest.fixture
def make_app(
    request: pytest.FixtureRequest,
    migrated_db: Database,
    server_settings: ServerSettings,
    core_settings: CoreSettings,
    api_knowledge: KnowledgeService,
    chat_settings: ChatSettings,
    execution_settings: ExecutionSettings,
) -> Callable[..., FastAPI]:
    """``make_app(**server_setting_overrides)``: another app on the test database."""

    def make(**overrides: Any) -> FastAPI:
        return create_app(
            server_settings.model_copy(update=overrides),
            migrated_db,
            core_settings=core_settings,
            knowledge=api_knowledge,
            chat_models=scripted_models(request),
            chat_settings=chat_settings,
            execution_settings=execution_settings,
        )

    return make


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app()


@pytest.fixture
def replica(make_app: Callable[..., FastAPI]) -> FastAPI:
    """A second app on the same database: what a second server process is."""
    return make_app()


@asynccontextmanager
async def client_of(app: FastAPI, address: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """A client of ``app`` (its lifespan running) whose requests come from ``address``."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 123))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
    ):
        yield http


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app) as http:
        yield http


@pytest.fixture
async def alice(client: httpx.AsyncClient) -> ApiUser:
    return await register_user(client, "alice@example.com")


@pytest.fixture
async def bob(client: httpx.AsyncClient) -> ApiUser:
    return await register_user(client, "bob@example.com")
