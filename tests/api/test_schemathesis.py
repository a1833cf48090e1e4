"""Property-based run over the OpenAPI schema: no generated request may cause a 5xx.

The app runs on uvicorn over loopback (its own event loop in a thread) with a seeded user, a
knowledge base and a bot; generated requests carry that user's API key and, except for DELETEs,
point at those real resources so they get past the 404s into the validation paths. Examples are
bounded per operation to keep the run short.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings

from snapagent.api.app import create_app
from snapagent.api.state import AppState
from snapagent.db.session import Database
from snapagent.llm.embedding import EmbeddingModel
from snapagent.server_settings import ServerSettings
from snapagent.services.knowledge import KnowledgeService
from snapagent.settings import CoreSettings
from snapagent.testing.postgres import free_port

from .conftest import PASSWORD

MAX_EXAMPLES = 10


@dataclass(frozen=True)
class LiveApi:
    base_url: str
    headers: dict[str, str]
    bot_id: str
    draft_id: str
    kb_id: str


@pytest.fixture(scope="module")
def live_api(
    tmp_path_factory: pytest.TempPathFactory, hash_embeddings_module: EmbeddingModel
) -> Iterator[LiveApi]:
    data_dir: Path = tmp_path_factory.mktemp("schemathesis") / "data"
    db = Database(f"sqlite+aiosqlite:///{data_dir / 'snapagent.db'}")
    knowledge = KnowledgeService(db, embeddings=lambda spec: hash_embeddings_module)

    async def start_knowledge(state: AppState, stack: AsyncExitStack) -> None:
        state.knowledge.start()  # in the server's own event loop
        stack.push_async_callback(state.knowledge.close)
        stack.push_async_callback(db.dispose)

    app = create_app(
        ServerSettings(jwt_secret="s" * 40, argon2_memory_kib=64, argon2_time_cost=1),
        db,
        core_settings=CoreSettings(data_dir=data_dir),
        knowledge=knowledge,
        startup_hooks=(start_knowledge,),
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        live = asyncio.run(_seed(base, server))
        yield live
    finally:
        server.should_exit = True
        thread.join(timeout=30)


async def _seed(base: str, server: uvicorn.Server) -> LiveApi:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for _ in range(600):  # the server thread signals readiness only through this flag
            if server.started:
                break
            await asyncio.sleep(0.05)
        await http.post(
            "/api/v1/auth/register", json={"email": "st@example.com", "password": PASSWORD}
        )
        login = await http.post(
            "/api/v1/auth/login", json={"email": "st@example.com", "password": PASSWORD}
        )
        token = {"Authorization": f"Bearer {login.json()['access_token']}"}
        # Generated requests carry an API key: a generated logout-everywhere (or password
        # change) revokes access tokens, and would leave every later operation at 401.
        key = await http.post("/api/v1/api-keys", json={"name": "fuzz"}, headers=token)
        headers = {"Authorization": f"Bearer {key.json()['key']}"}
        kb = (
            await http.post("/api/v1/knowledge-bases", json={"name": "kb"}, headers=headers)
        ).json()
        bot = (
            await http.post(
                "/api/v1/bots",
                json={"name": "b", "knowledge_base_ids": [kb["id"]]},
                headers=headers,
            )
        ).json()
        versions = await http.get(f"/api/v1/bots/{bot['id']}/workflow-versions", headers=headers)
        draft_id = versions.json()["data"][0]["id"]
    return LiveApi(base, headers, bot["id"], draft_id, kb["id"])


@pytest.fixture(scope="module")
def hash_embeddings_module() -> EmbeddingModel:
    # The root conftest's test double; module scope because the server outlives one test.
    from conftest import HashEmbeddingModel

    model: EmbeddingModel = HashEmbeddingModel()
    return model


def _openapi_document() -> dict[str, object]:
    """The schema, from an app that is built but never started (nothing is opened)."""
    app = create_app(
        ServerSettings(jwt_secret="s" * 40),
        Database("sqlite+aiosqlite:///:memory:"),
        core_settings=CoreSettings(),
    )
    return app.openapi()


schema = schemathesis.openapi.from_dict(_openapi_document())


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_generated_request_causes_a_server_error(
    case: schemathesis.Case, live_api: LiveApi
) -> None:
    params = case.path_parameters or {}
    if case.method.upper() != "DELETE":
        for name, value in (
            ("bot_id", live_api.bot_id),
            ("kb_id", live_api.kb_id),
            ("version_id", live_api.draft_id),
        ):
            if name in params:
                params[name] = value
    response = case.call(base_url=live_api.base_url, headers=live_api.headers, timeout=30)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text}"
    if response.status_code >= 400 and case.path.startswith("/v1/"):
        # The OpenAI-compatible API answers the same problems in OpenAI's error shape.
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    elif response.status_code >= 400:
        assert response.headers["content-type"][0].startswith("application/problem+json")
