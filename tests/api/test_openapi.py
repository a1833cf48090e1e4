"""The OpenAPI document is exact: problem+json errors with their schema, every status a route
answers, typed workflow graphs from the catalogue, a description on every operation. The
schemathesis run (test_schemathesis.py) checks live answers against it; here the statuses
that random requests rarely reach (413, 429, 503) are provoked and must be declared."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from snapagent.api.app import create_app
from snapagent.db.migrate import downgrade, history, upgrade
from snapagent.db.session import Database
from snapagent.nodes import default_registry
from snapagent.ratelimit.settings import RateLimitSettings
from snapagent.server_settings import ServerSettings
from snapagent.services.knowledge import KnowledgeService
from snapagent.settings import CoreSettings
from snapagent.workflow.catalogue import describe_registry

from .conftest import ApiUser, assert_problem, client_of, register_user
from .test_chat_api import CHAT, publish_bot


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """The document does not depend on the database: SQLite only here."""
    return sqlite_url


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    app = create_app(
        ServerSettings(jwt_secret="s" * 40),
        Database("sqlite+aiosqlite:///:memory:"),
        core_settings=CoreSettings(),
    )
    return app.openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        if path.startswith(("/api/", "/health"))
        for method, operation in item.items()
    ]


def declared(document: dict[str, Any], method: str, path: str) -> set[int]:
    return {int(code) for code in document["paths"][path][method]["responses"]}


def test_every_error_is_problem_json_with_its_schema(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for code, response in operation["responses"].items():
            if int(code) < 400 or (path, code) == ("/health", "503"):
                continue
            assert response["content"] == {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }, f"{method} {path} {code}"
            assert response["description"] not in {"", "Error"}, f"{method} {path} {code}"
    schemas = document["components"]["schemas"]
    problem = schemas["Problem"]
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    errors = problem["properties"]["errors"]["anyOf"][0]
    assert errors["items"] == {"$ref": "#/components/schemas/FieldProblem"}
    assert set(schemas["FieldProblem"]["required"]) == {"field", "reason"}
    assert "HTTPValidationError" not in schemas


def test_statuses_every_route_of_a_kind_answers(document: dict[str, Any]) -> None:
    assert {401, 404, 409, 413, 422, 429, 500, 502, 503, 504} <= declared(
        document, "post", "/api/v1/chat"
    )
    assert declared(document, "get", "/health/ready") == {200, 500, 503}
    for method, path, operation in operations(document):
        statuses = declared(document, method, path)
        assert {500, 503} <= statuses, f"{method} {path}"
        if "requestBody" in operation:
            assert {413, 422} <= statuses, f"{method} {path}"


def test_every_operation_says_what_it_does(document: dict[str, Any]) -> None:
    missing = [f"{m} {p}" for m, p, op in operations(document) if not op.get("description")]
    assert missing == []


def undescribed_properties(name: str, schema: Any) -> list[str]:
    """``Schema.field`` (``Schema.field.inner`` for an inline object) of every property,
    however deeply nested, that has no description."""
    if isinstance(schema, list):
        return [hit for item in schema for hit in undescribed_properties(name, item)]
    if not isinstance(schema, dict):
        return []
    hits = []
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            for prop, sub in value.items():
                if not (isinstance(sub, dict) and sub.get("description")):
                    hits.append(f"{name}.{prop}")
                hits.extend(undescribed_properties(f"{name}.{prop}", sub))
        elif key not in ("examples", "default", "const", "enum"):
            hits.extend(undescribed_properties(name, value))
    return hits


def test_every_schema_field_says_what_it_means(document: dict[str, Any]) -> None:
    """Every property of every component - request and response bodies, node configs from
    the catalogue, the /v1 bodies - has a description (generated clients show it as a doc
    comment); a new field without one fails here, named."""
    schemas = document["components"]["schemas"]
    missing = [
        hit for name, schema in schemas.items() for hit in undescribed_properties(name, schema)
    ]
    assert missing == []
    assert undescribed_properties("T", {"properties": {"a": {"type": "string"}}}) == ["T.a"]


def test_graphs_are_typed_by_the_catalogue(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    nodes = schemas["WorkflowGraph"]["properties"]["nodes"]["items"]
    mapping = nodes["discriminator"]["mapping"]
    assert set(mapping) == {entry.type for entry in describe_registry(default_registry())}
    assert nodes["oneOf"] == [{"$ref": ref} for ref in mapping.values()]
    llm = schemas["LlmNode"]
    assert llm["properties"]["type"]["const"] == "llm"
    assert llm["properties"]["config"]["$ref"] == "#/components/schemas/LlmNodeConfig"
    assert "prompt" in schemas["LlmNodeConfig"]["properties"]
    cases = schemas["IfElseNodeConfig"]["properties"]["cases"]["items"]["$ref"]
    assert cases == "#/components/schemas/IfElseNodeConfig_IfElseCase"
    assert schemas["WorkflowEdge"]["properties"]["target_port"]
    assert "selector" in schemas["VariableMapping"]["properties"]
    body = schemas["DraftUpdate"]["properties"]["graph"]
    assert body["allOf"] == [{"$ref": "#/components/schemas/WorkflowGraph"}]
    refs = re.findall(r'"(#/[^"]*)"', json.dumps(document))
    assert refs, "no references at all?"
    for ref in refs:  # every reference resolves (discriminator mappings included)
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    stored = schemas["VersionPublic"]["properties"]["graph"]  # a draft may be half-finished
    assert stored["allOf"] == [{"$ref": "#/components/schemas/StoredWorkflowGraph"}]


@pytest.fixture
async def limited_client(
    migrated_db: Database,
    server_settings: ServerSettings,
    core_settings: CoreSettings,
    api_knowledge: KnowledgeService,
) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(
        server_settings,
        migrated_db,
        core_settings=core_settings,
        knowledge=api_knowledge,
        rate_limits=RateLimitSettings(chat_per_minute=3),
    )
    async with client_of(app) as client:
        yield client


async def test_statuses_a_route_answers_are_declared(
    limited_client: httpx.AsyncClient, migrated_db: Database, document: dict[str, Any]
) -> None:
    client = limited_client
    user: ApiUser = await register_user(client, "contract@example.com")
    bot = await publish_bot(client, user)
    seen: dict[tuple[str, str], set[int]] = {}

    def saw(method: str, path: str, response: httpx.Response, status: int) -> None:
        assert_problem(response, status)
        seen.setdefault((method, path), set()).add(status)

    big = {"bot_id": bot, "message": "x" * (2 * 1024 * 1024)}
    saw("post", CHAT, await client.post(CHAT, json=big, headers=user.headers), 413)
    saw("post", CHAT, await client.post(CHAT, json={"bot_id": bot}, headers=user.headers), 422)
    chat = {"bot_id": bot, "message": "hello"}
    assert (await client.post(CHAT, json=chat, headers=user.headers)).status_code == 200
    saw("post", CHAT, await client.post(CHAT, json=chat, headers=user.headers), 429)  # 4th of 3

    previous = next(info.down_revision for info in history() if info.is_head)
    assert previous is not None
    await downgrade(migrated_db, previous)
    try:
        saw("get", "/health/ready", await client.get("/health/ready"), 503)
    finally:
        await upgrade(migrated_db)

    for (method, path), statuses in seen.items():
        assert statuses <= declared(document, method, path), f"{method} {path}"
