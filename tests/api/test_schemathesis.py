"""Property-based run over the OpenAPI schema: every generated request gets an answer the
schema declares - no 5xx, a documented status, the documented media type, a body that conforms
to the response schema.

The app runs on uvicorn over loopback (its own event loop in a thread) with a seeded account:
an API key, a knowledge base with a document, a bot with a published version, a draft, a run
and its session. Generated requests carry that account's API key, and every id in a path (and
the ``from``/``to`` of a diff) is replaced by a real one, so each operation gets past its 404s
into its real behaviour; DELETEs get resources made to be deleted. Examples are bounded per
operation (generated ones only) to keep the run to a couple of minutes.

``/v1`` (the OpenAI-compatible API) answers in OpenAI's error shape, not problem+json: there
only "no 5xx" is checked.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from snapagent.api.app import create_app
from snapagent.api.state import AppState
from snapagent.db.session import Database
from snapagent.llm.embedding import EmbeddingModel
from snapagent.observability.settings import ObservabilitySettings
from snapagent.server_settings import ServerSettings
from snapagent.services.knowledge import KnowledgeService
from snapagent.settings import CoreSettings
from snapagent.testing.postgres import free_port

from .conftest import PASSWORD

MAX_EXAMPLES = 10
CONFORMANCE_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
STATUSES: dict[str, set[int]] = {}
"""Operation -> every status it answered in the run (read by the last test)."""
DOCUMENT = b"# Handbook\n\nRefunds are paid within 14 days.\n"


@dataclass(frozen=True)
class LiveApi:
    base_url: str
    headers: dict[str, str]
    ids: dict[str, str]
    """Path parameter -> a real id of the fuzzing account (``from``/``to``: two versions)."""
    disposable: dict[str, dict[str, str]]
    """For each DELETE path: ids of resources made to be deleted (the others stay intact)."""


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
        # The server thread logs a request after its client has the answer: at INFO, the access
        # line of a test's last request raced pytest's capture and landed on the real stdout
        # between tests. 5xx answers are still logged (at ERROR), and fail the test anyway.
        observability=ObservabilitySettings(log_level="WARNING"),
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


async def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code < 300, f"seeding failed: {response.request.url}: {response.text}"
    body: dict[str, Any] = response.json() if response.content else {}
    return body


async def _seed(base: str, server: uvicorn.Server) -> LiveApi:
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for _ in range(600):  # the server thread signals readiness only through this flag
            if server.started:
                break
            await asyncio.sleep(0.05)
        account = {"email": "st@example.com", "password": PASSWORD}
        await _ok(await http.post("/api/v1/auth/register", json=account))
        login = await _ok(await http.post("/api/v1/auth/login", json=account))
        token = {"Authorization": f"Bearer {login['access_token']}"}
        # Generated requests carry an API key: a generated logout-everywhere (or password
        # change) revokes access tokens, and would leave every later operation at 401.
        key = await _ok(await http.post("/api/v1/api-keys", json={"name": "fuzz"}, headers=token))
        headers = {"Authorization": f"Bearer {key['key']}"}

        async def post(path: str, **kwargs: Any) -> dict[str, Any]:
            return await _ok(await http.post(path, headers=headers, **kwargs))

        async def knowledge_base(name: str) -> tuple[str, str]:
            kb = await post("/api/v1/knowledge-bases", json={"name": name})
            upload = {"file": ("handbook.md", DOCUMENT, "text/markdown")}
            document = await post(f"/api/v1/knowledge-bases/{kb['id']}/documents", files=upload)
            return kb["id"], document["id"]

        async def bot(name: str, kb_id: str) -> tuple[str, str]:
            created = await post("/api/v1/bots", json={"name": name, "knowledge_base_ids": [kb_id]})
            versions = await _ok(
                await http.get(f"/api/v1/bots/{created['id']}/workflow-versions", headers=headers)
            )
            return created["id"], versions["data"][0]["id"]

        kb_id, document_id = await knowledge_base("kb")
        bot_id, published_id = await bot("b", kb_id)
        versions = f"/api/v1/bots/{bot_id}/workflow-versions"
        await post(f"{versions}/{published_id}/publish")
        draft_id = (await post(versions, json={}))["id"]
        answer = await post("/api/v1/chat", json={"bot_id": bot_id, "message": "Refunds?"})
        doomed_key = await post("/api/v1/api-keys", json={"name": "doomed"})
        doomed_kb, _ = await knowledge_base("doomed")
        upload = {"file": ("doomed.md", b"# Doomed\n\nTo be deleted.\n", "text/markdown")}
        doomed_document = await post(f"/api/v1/knowledge-bases/{kb_id}/documents", files=upload)
        doomed_bot, _ = await bot("doomed", kb_id)
        drafted_bot, doomed_draft = await bot("drafted", kb_id)
    return LiveApi(
        base,
        headers,
        ids={
            "bot_id": bot_id,
            "kb_id": kb_id,
            "document_id": document_id,
            "version_id": draft_id,
            "run_id": answer["run_id"],
            "session_id": answer["session_id"],
            "node_id": "llm",
            "from": published_id,
            "to": draft_id,
        },
        disposable={
            "/api/v1/api-keys/{key_id}": {"key_id": doomed_key["id"]},
            "/api/v1/bots/{bot_id}": {"bot_id": doomed_bot},
            "/api/v1/bots/{bot_id}/workflow-versions/{version_id}": {
                "bot_id": drafted_bot,
                "version_id": doomed_draft,
            },
            "/api/v1/knowledge-bases/{kb_id}": {"kb_id": doomed_kb},
            "/api/v1/knowledge-bases/{kb_id}/documents/{document_id}": {
                "kb_id": kb_id,
                "document_id": doomed_document["id"],
            },
        },
    )


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
    # Generated examples only: the explicit phase is schemathesis' coverage phase, every
    # boundary and negative combination of every parameter - unbounded (minutes per operation
    # with many query parameters). Boundaries that matter have their own tests.
    phases=[Phase.generate],
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_one_the_schema_declares(
    case: schemathesis.Case, live_api: LiveApi
) -> None:
    if case.method.upper() == "DELETE":
        real = live_api.disposable.get(case.path, {})
    else:
        real = live_api.ids
    if case.path_parameters:
        for name in case.path_parameters:
            if name in real:
                case.path_parameters[name] = real[name]
    if case.query is not None:
        for name in ("from", "to"):
            if name in case.query:
                case.query[name] = live_api.ids[name]
    own_api = case.path.startswith(("/api/", "/health"))
    response = case.call_and_validate(
        base_url=live_api.base_url,
        headers=live_api.headers,
        timeout=10,
        checks=CONFORMANCE_CHECKS if own_api else [not_a_server_error],
    )
    STATUSES.setdefault(f"{case.method.upper()} {case.path}", set()).add(response.status_code)


def test_every_operation_got_past_its_404s() -> None:
    """With real ids, no operation only ever answers 404 (or 401): each reached its own logic."""
    if len(STATUSES) < len(list(schema.get_all_operations())):
        pytest.skip("needs the whole run above")
    stuck = {op: codes for op, codes in STATUSES.items() if codes <= {401, 404}}
    assert stuck == {}
