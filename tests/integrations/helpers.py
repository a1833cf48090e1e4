"""Setting things up through the API for the integration tests.

- ``api_key(client, user)``: a new API key of ``user`` (id, secret).
- ``publish_bot(client, user, name, description)``: a bot with its default draft published;
  ``knowledge_bot(client, user, knowledge)``: one that retrieves from a knowledge base holding
  :data:`HANDBOOK` (ingested before it returns); returns (bot id, knowledge base id).
"""

from __future__ import annotations

import httpx

from api.conftest import ApiUser, create_knowledge_base
from snapagent.services.knowledge import KnowledgeService

__all__ = ["HANDBOOK", "ApiUser", "api_key", "knowledge_bot", "publish_bot"]


async def api_key(client: httpx.AsyncClient, user: ApiUser, name: str = "sdk") -> tuple[str, str]:
    """A new API key of ``user``: (its id, its secret)."""
    response = await client.post("/api/v1/api-keys", json={"name": name}, headers=user.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    return str(body["id"]), str(body["key"])


HANDBOOK = b"""# Leave policy

Every employee has 25 days of paid leave per year. Unused days carry over until March.
"""


async def publish_bot(
    client: httpx.AsyncClient,
    user: ApiUser,
    name: str,
    description: str = "",
    knowledge_base_ids: tuple[str, ...] = (),
) -> str:
    """A new bot of ``user`` with its generated draft published; returns its id."""
    body = {"name": name, "description": description, "knowledge_base_ids": knowledge_base_ids}
    response = await client.post("/api/v1/bots", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    bot_id: str = response.json()["id"]
    versions = await client.get(f"/api/v1/bots/{bot_id}/workflow-versions", headers=user.headers)
    draft = versions.json()["data"][0]
    published = await client.post(
        f"/api/v1/bots/{bot_id}/workflow-versions/{draft['id']}/publish", headers=user.headers
    )
    assert published.status_code == 200, published.text
    return bot_id


async def knowledge_bot(
    client: httpx.AsyncClient, user: ApiUser, knowledge: KnowledgeService, name: str = "handbook"
) -> tuple[str, str]:
    """A published bot retrieving from a new knowledge base with :data:`HANDBOOK` in it."""
    kb_id = await create_knowledge_base(client, user, name)
    uploaded = await client.post(
        f"/api/v1/knowledge-bases/{kb_id}/documents",
        files={"file": ("leave.md", HANDBOOK, "text/markdown")},
        headers=user.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    [document] = await knowledge.wait_for_documents([uploaded.json()["id"]])
    assert document.status == "indexed", document
    return await publish_bot(client, user, name, knowledge_base_ids=(kb_id,)), kb_id
