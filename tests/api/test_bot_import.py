"""Bot import and export over HTTP: every real Dify export imports (or is refused with a
reason), publishes and - when none of its nodes needs the network - answers a chat with the
offline model; bad files get 422 problems; exports are owner-scoped YAML files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from snapagent.interop.loading import DocumentLimits, load_document
from snapagent.testing.dify_corpus import FIXTURES, require_corpus

from .conftest import ApiUser, assert_problem

# The real exports are many: their HTTP pass runs on SQLite; the engine is the same on both.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
NETWORK_TYPES = frozenset({"http_request", "placeholder", "agent"})


async def import_file(
    client: httpx.AsyncClient, user: ApiUser, data: bytes, name: str = "app.yml", **params: Any
) -> httpx.Response:
    return await client.post(
        "/api/v1/bots/import",
        params=params,
        files={"file": (name, data, "application/yaml")},
        headers=user.headers,
    )


def node_types(graph: dict[str, Any]) -> set[str]:
    found = set()
    for node in graph.get("nodes", []):
        found.add(node["type"])
        body = node.get("config", {}).get("graph")
        if isinstance(body, dict):
            found |= node_types(body)
    return found


async def draft_graph(client: httpx.AsyncClient, user: ApiUser, bot_id: str, version_id: str) -> dict[str, Any]:
    response = await client.get(
        f"/api/v1/bots/{bot_id}/workflow-versions/{version_id}", headers=user.headers
    )
    assert response.status_code == 200, response.text
    graph: dict[str, Any] = response.json()["graph"]
    return graph


@sqlite_only
async def test_every_real_export_imports_publishes_and_chats(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    outcomes: dict[str, str] = {}
    for path in require_corpus():
        response = await import_file(client, alice, path.read_bytes(), path.name, model_override="offline")
        if response.status_code == 422:
            outcomes[path.name] = "refused: " + assert_problem(response, 422)["detail"]
            continue
        assert response.status_code == 201, (path.name, response.text)
        body = response.json()
        assert body["report"]["problems"] == [], (path.name, body["report"]["problems"])
        graph = await draft_graph(client, alice, body["bot_id"], body["version_id"])
        published = await client.post(
            f"/api/v1/bots/{body['bot_id']}/workflow-versions/{body['version_id']}/publish",
            headers=alice.headers,
        )
        assert published.status_code == 200, (path.name, published.text)
        if node_types(graph) & NETWORK_TYPES:
            outcomes[path.name] = "published (needs the network to run)"
            continue
        chat = await client.post(
            "/api/v1/chat",
            json={"bot_id": body["bot_id"], "message": "Hello, please translate: good morning"},
            headers=alice.headers,
        )
        outcomes[path.name] = f"chat {chat.status_code}: {chat.text[:300]}"
    Path("/tmp/outcomes.json").write_text(json.dumps(outcomes, ensure_ascii=False, indent=1))
    assert not [o for o in outcomes.values() if o.startswith("chat 5")]
