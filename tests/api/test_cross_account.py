"""Cross-account reads are impossible by design (issue 10, class 1), over the app's HTTP API.

- Validation knows accounts: a graph naming another account's (or no) knowledge base, or a
  legacy ``v1_*`` adapter type, is refused at save, validate and publish with the node and
  field path; a chat model that cannot be used is refused at validate and publish.
- Retrieval is scoped to the bot owner whatever the graph says: a version stored before
  validation knew accounts still never reads another account's documents.
- Deleting a knowledge base that a draft, version or V1 workflow uses is a 409 listing the
  bots, unless ``force=true`` detaches it.
- A model that cannot be used at chat time answers 422/502, never 500, in JSON and SSE alike.

(``tests/security/test_cross_account_attacks.py`` runs the same attacks on a real server.)
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from snapagent.api.app import create_app
from snapagent.db.models.bots import Bot
from snapagent.db.models.executions import WorkflowExecutionRun, WorkflowNodeExecution
from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.db.session import Database
from snapagent.legacy.samples import rag_workflow
from snapagent.llm.registry import ChatModelRegistry
from snapagent.llm.settings import ProviderSettings
from snapagent.server_settings import ServerSettings
from snapagent.services.knowledge import KnowledgeService
from snapagent.settings import CoreSettings
from snapagent.testing import rag_graph

from .conftest import ApiUser, assert_problem, create_knowledge_base, register_user

SECRET = "Alice's launch code is tangerine-armadillo-42."
CHAT = "/api/v1/chat"


@pytest.fixture
def app(
    migrated_db: Database,
    server_settings: ServerSettings,
    core_settings: CoreSettings,
    api_knowledge: KnowledgeService,
) -> FastAPI:
    # Explicit provider settings: no key for any remote provider, whatever the environment.
    providers = ProviderSettings(
        default_model="offline",
        anthropic_api_key=None,
        openai_api_key=None,
        openai_base_url=None,
        aws_bedrock_region=None,
    )
    return create_app(
        server_settings,
        migrated_db,
        core_settings=core_settings,
        knowledge=api_knowledge,
        chat_models=ChatModelRegistry(providers),
    )


@pytest.fixture
async def mallory(client: httpx.AsyncClient) -> ApiUser:
    return await register_user(client, "mallory@example.com")


@pytest.fixture
async def alices_kb(
    client: httpx.AsyncClient, alice: ApiUser, api_knowledge: KnowledgeService
) -> str:
    """A knowledge base of Alice's with one indexed document holding ``SECRET``."""
    kb_id = await create_knowledge_base(client, alice, "private")
    uploaded = await client.post(
        f"/api/v1/knowledge-bases/{kb_id}/documents",
        files={"file": ("secret.md", f"# Launch codes\n\n{SECRET}\n".encode(), "text/markdown")},
        headers=alice.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    async with asyncio.timeout(60):
        (doc,) = await api_knowledge.wait_for_documents([uploaded.json()["id"]])
    assert doc.status == "indexed"
    return kb_id


async def new_bot(client: httpx.AsyncClient, user: ApiUser, **fields: Any) -> tuple[str, dict]:
    """A bot of ``user`` and its generated draft."""
    bot = await client.post("/api/v1/bots", json={"name": "b", **fields}, headers=user.headers)
    assert bot.status_code == 201, bot.text
    bot_id = bot.json()["id"]
    versions = await client.get(f"/api/v1/bots/{bot_id}/workflow-versions", headers=user.headers)
    return bot_id, versions.json()["data"][0]


def versions_url(bot_id: str) -> str:
    return f"/api/v1/bots/{bot_id}/workflow-versions"


async def save(
    client: httpx.AsyncClient, user: ApiUser, bot_id: str, draft: dict, graph: dict
) -> httpx.Response:
    body = {"graph": graph, "revision": draft["revision"]}
    return await client.put(
        f"{versions_url(bot_id)}/{draft['id']}", json=body, headers=user.headers
    )


def v1_knowledge_graph(kb_id: str) -> dict[str, Any]:
    """A V2 graph smuggling the legacy adapter: start -> v1_knowledge -> end."""
    return {
        "nodes": [
            {"id": "start", "type": "start", "config": {}},
            {
                "id": "steal",
                "type": "v1_knowledge",
                "config": {"data": {"knowledge_base_ids": [kb_id], "top_k": 5}},
                "inputs": {"query": {"selector": ["start", "query"]}},
            },
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [
            {"source": "steal", "source_port": "response", "target": "end", "target_port": "answer"}
        ],
    }


def codes_and_paths(body: dict[str, Any]) -> set[tuple[str, str]]:
    return {(p["code"], p["path"]) for p in body["problems"]}


async def store_published(db: Database, bot_id: str, graph: dict[str, Any]) -> None:
    """Put ``graph`` in the bot's published version directly, as data stored before
    validation knew accounts would be: only the run-time scoping stands in the way."""
    async with db.transaction() as session:
        await session.execute(
            update(BotWorkflowVersion)
            .where(BotWorkflowVersion.bot_id == bot_id, BotWorkflowVersion.status == "published")
            .values(graph=graph)
        )


async def publish_generated(client: httpx.AsyncClient, user: ApiUser, bot_id: str) -> None:
    draft = (await client.get(versions_url(bot_id), headers=user.headers)).json()["data"][0]
    published = await client.post(
        f"{versions_url(bot_id)}/{draft['id']}/publish", headers=user.headers
    )
    assert published.status_code == 200, published.text


async def everything_recorded(db: Database) -> str:
    """Every run and node record as one text (inputs, outputs, errors)."""
    async with db.session() as session:
        runs = [
            json.dumps([r.inputs, r.outputs, r.error])
            for r in await session.scalars(select(WorkflowExecutionRun))
        ]
        nodes = [
            json.dumps([n.inputs, n.outputs, n.error])
            for n in await session.scalars(select(WorkflowNodeExecution))
        ]
    return "\n".join(runs + nodes)


async def test_v1_adapter_types_are_never_valid_in_a_v2_draft_even_after_a_legacy_chat(
    client: httpx.AsyncClient, alice: ApiUser, mallory: ApiUser, alices_kb: str
) -> None:
    # Alice chats with a legacy (V1) bot first: the legacy adapters are in use on the server.
    legacy_bot, _ = await new_bot(client, alice, use_workflow_v2=False)
    put = await client.put(
        f"/api/v1/bots/{legacy_bot}/workflow",
        json=rag_workflow(kb_ids=[alices_kb]),
        headers=alice.headers,
    )
    assert put.status_code == 200, put.text
    answer = await client.post(
        CHAT, json={"bot_id": legacy_bot, "message": "launch code?"}, headers=alice.headers
    )
    assert answer.status_code == 200, answer.text
    assert "tangerine" in answer.json()["answer"]  # her own bot reads her own document

    # Mallory then smuggles the adapter into a V2 draft naming Alice's knowledge base.
    bot_id, draft = await new_bot(client, mallory)
    graph = v1_knowledge_graph(alices_kb)
    saved = assert_problem(await save(client, mallory, bot_id, draft, graph), 422)
    assert codes_and_paths(saved) == {
        ("legacy_node_type", "nodes[1].type"),
        ("unknown_knowledge_base", "nodes[1].config.data.knowledge_base_ids[0]"),
    }
    validated = await client.post(
        f"{versions_url(bot_id)}/validate", json={"graph": graph}, headers=mallory.headers
    )
    report = validated.json()
    assert report["valid"] is False
    assert {"unknown_node_type", "legacy_node_type", "unknown_knowledge_base"} <= {
        p["code"] for p in report["problems"]
    }


async def test_naming_another_accounts_knowledge_base_is_refused_at_save_validate_and_publish(
    client: httpx.AsyncClient,
    alice: ApiUser,
    mallory: ApiUser,
    alices_kb: str,
    migrated_db: Database,
) -> None:
    bot_id, draft = await new_bot(client, mallory)
    own = await create_knowledge_base(client, mallory, "mine")
    graph = rag_graph([own, alices_kb, "no-such-kb"]).to_json()
    expected = {
        ("unknown_knowledge_base", "nodes[1].config.knowledge_base_ids[1]"),
        ("unknown_knowledge_base", "nodes[1].config.knowledge_base_ids[2]"),
    }
    saved = assert_problem(await save(client, mallory, bot_id, draft, graph), 422)
    assert codes_and_paths(saved) == expected
    assert {e["field"] for e in saved["errors"]} == {path for _, path in expected}
    # The same message for a foreign and a missing id: nothing tells Mallory Alice's exists.
    messages = {
        p["message"].replace(alices_kb, "?").replace("no-such-kb", "?") for p in saved["problems"]
    }
    assert len(messages) == 1

    validated = await client.post(
        f"{versions_url(bot_id)}/validate", json={"graph": graph}, headers=mallory.headers
    )
    assert codes_and_paths(validated.json()) == expected

    # A draft stored before the check (written directly) still cannot be published.
    async with migrated_db.transaction() as session:
        await session.execute(
            update(BotWorkflowVersion)
            .where(BotWorkflowVersion.id == draft["id"])
            .values(graph=graph)
        )
    published = await client.post(
        f"{versions_url(bot_id)}/{draft['id']}/publish", headers=mallory.headers
    )
    assert codes_and_paths(assert_problem(published, 422)) == expected


async def test_a_stored_graph_naming_another_accounts_kb_never_reads_it(
    client: httpx.AsyncClient,
    alice: ApiUser,
    mallory: ApiUser,
    alices_kb: str,
    migrated_db: Database,
) -> None:
    bot_id, _ = await new_bot(client, mallory)
    await publish_generated(client, mallory, bot_id)
    await store_published(migrated_db, bot_id, rag_graph([alices_kb], model="offline").to_json())
    question = {"bot_id": bot_id, "message": "What is Alice's launch code?"}

    answered = await client.post(CHAT, json=question, headers=mallory.headers)
    assert answered.status_code == 200, answered.text
    assert answered.json()["sources"] == []
    streamed = await client.post(CHAT, json={**question, "stream": True}, headers=mallory.headers)
    assert streamed.status_code == 200
    for text in (answered.text, streamed.text, await everything_recorded(migrated_db)):
        assert "tangerine" not in text
        assert "launch code is" not in text


async def test_a_stored_agent_whose_knowledge_tool_names_another_accounts_kb_reads_nothing(
    client: httpx.AsyncClient,
    alice: ApiUser,
    mallory: ApiUser,
    alices_kb: str,
    migrated_db: Database,
) -> None:
    bot_id, _ = await new_bot(client, mallory)
    await publish_generated(client, mallory, bot_id)
    tool = {"type": "knowledge", "knowledge_base_ids": [alices_kb], "name": "search_codes",
            "description": "Search the launch codes"}  # fmt: skip
    graph = rag_graph([alices_kb], model="offline").to_json()
    graph["nodes"][1] = {
        "id": "kb", "type": "agent", "config": {"model": "offline", "tools": [tool]},
        "inputs": {"query": {"selector": ["start", "query"]}},
    }  # fmt: skip
    graph["nodes"] = [n for n in graph["nodes"] if n["type"] != "llm"]
    graph["edges"] = [
        {"source": "kb", "source_port": "text", "target": "end", "target_port": "answer"}
    ]
    await store_published(migrated_db, bot_id, graph)

    answered = await client.post(
        CHAT, json={"bot_id": bot_id, "message": "search the launch codes"}, headers=mallory.headers
    )

    assert answered.status_code == 200, answered.text
    assert "No relevant passages were found." in answered.json()["answer"]
    recorded = await everything_recorded(migrated_db)
    assert "search_codes" in recorded  # the tool was called...
    for text in (answered.text, recorded):  # ...and found nothing of Alice's
        assert "tangerine" not in text


async def test_a_legacy_v1_workflow_naming_another_accounts_kb_never_reads_it(
    client: httpx.AsyncClient,
    alice: ApiUser,
    mallory: ApiUser,
    alices_kb: str,
    migrated_db: Database,
) -> None:
    bot_id, _ = await new_bot(client, mallory, use_workflow_v2=False)
    url = f"/api/v1/bots/{bot_id}/workflow"
    refused = await client.put(url, json=rag_workflow(kb_ids=[alices_kb]), headers=mallory.headers)
    assert codes_and_paths(assert_problem(refused, 422)) == {
        ("unknown_knowledge_base", "nodes[1].data.knowledge_base_ids[0]")
    }
    # Stored anyway (as legacy data imported before the check): the chat still reads nothing.
    async with migrated_db.transaction() as session:
        await session.execute(
            update(Bot).where(Bot.id == bot_id).values(workflow=rag_workflow(kb_ids=[alices_kb]))
        )
    answered = await client.post(
        CHAT, json={"bot_id": bot_id, "message": "Alice's launch code?"}, headers=mallory.headers
    )
    assert answered.status_code == 200, answered.text
    assert "tangerine" not in answered.text
    assert "tangerine" not in await everything_recorded(migrated_db)


async def test_deleting_a_knowledge_base_in_use_is_a_conflict_listing_the_bots(
    client: httpx.AsyncClient, alice: ApiUser, mallory: ApiUser, alices_kb: str
) -> None:
    used, _ = await new_bot(client, alice, knowledge_base_ids=[alices_kb])  # its draft uses it
    await publish_generated(client, alice, used)  # the draft becomes version 1...
    new_draft = await client.post(versions_url(used), json={}, headers=alice.headers)
    assert new_draft.status_code == 201, new_draft.text  # ...and a copy of it the new draft
    legacy, _ = await new_bot(client, alice, use_workflow_v2=False)
    await client.put(
        f"/api/v1/bots/{legacy}/workflow",
        json=rag_workflow(kb_ids=[alices_kb]),
        headers=alice.headers,
    )
    await new_bot(client, alice)  # a bot that does not use it is not listed
    url = f"/api/v1/knowledge-bases/{alices_kb}"

    # Someone else cannot even learn that it exists.
    assert_problem(await client.delete(url, headers=mallory.headers), 404)
    assert_problem(await client.delete(f"{url}?force=true", headers=mallory.headers), 404)

    conflict = assert_problem(await client.delete(url, headers=alice.headers), 409)
    listed = {bot["id"]: bot["uses"] for bot in conflict["bots"]}
    assert listed == {used: ["draft", "version 1"], legacy: ["v1"]}
    assert (await client.get(url, headers=alice.headers)).status_code == 200  # still there

    forced = await client.delete(f"{url}?force=true", headers=alice.headers)
    assert forced.status_code == 204
    assert_problem(await client.get(url, headers=alice.headers), 404)
    bot = (await client.get(f"/api/v1/bots/{used}", headers=alice.headers)).json()
    assert bot["knowledge_base_ids"] == []  # detached from the settings...
    # The edited draft still names it: publishing it says the knowledge base is gone.
    draft = (await client.get(versions_url(used), headers=alice.headers)).json()["data"][0]
    published = await client.post(
        f"{versions_url(used)}/{draft['id']}/publish", headers=alice.headers
    )
    assert codes_and_paths(assert_problem(published, 422)) == {
        ("unknown_knowledge_base", "nodes[1].config.knowledge_base_ids[0]")
    }


async def test_force_deleting_regenerates_an_untouched_generated_draft(
    client: httpx.AsyncClient, alice: ApiUser, alices_kb: str
) -> None:
    bot_id, draft = await new_bot(client, alice, knowledge_base_ids=[alices_kb])
    draft_url = f"{versions_url(bot_id)}/{draft['id']}"

    async def node_types() -> list[str]:
        graph = (await client.get(draft_url, headers=alice.headers)).json()["graph"]
        return [n["type"] for n in graph["nodes"]]

    assert await node_types() == ["start", "knowledge", "llm", "end"]
    url = f"/api/v1/knowledge-bases/{alices_kb}"
    assert_problem(await client.delete(url, headers=alice.headers), 409)
    assert (await client.delete(f"{url}?force=true", headers=alice.headers)).status_code == 204
    assert await node_types() == ["start", "llm", "end"]
    await publish_generated(client, alice, bot_id)  # still publishable as it is


def llm_graph(model: str) -> dict[str, Any]:
    """start -> llm(``model``) -> end."""
    return {
        "nodes": [
            {"id": "start", "type": "start", "config": {}},
            {"id": "llm", "type": "llm", "config": {"model": model, "prompt": "{{ query }}"}},
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [
            {"source": "start", "source_port": "query", "target": "llm", "target_port": "query"},
            {"source": "llm", "source_port": "text", "target": "end", "target_port": "answer"},
        ],
    }


@pytest.mark.parametrize("model", ["anthropic:claude-x", "nonsense"])  # no key / no provider
async def test_unusable_models_are_validation_problems_naming_the_node(
    client: httpx.AsyncClient, alice: ApiUser, model: str
) -> None:
    bot_id, draft = await new_bot(client, alice)
    graph = llm_graph(model)
    validated = await client.post(
        f"{versions_url(bot_id)}/validate", json={"graph": graph}, headers=alice.headers
    )
    (problem,) = validated.json()["problems"]
    assert (problem["code"], problem["path"], problem["node_id"]) == (
        "unusable_model",
        "nodes[1].config.model",
        "llm",
    )
    if model.startswith("anthropic"):
        assert "ANTHROPIC_API_KEY" in problem["message"]  # says what to configure
    saved = await save(client, alice, bot_id, draft, graph)  # a draft may be unfinished...
    assert saved.status_code == 200, saved.text
    published = await client.post(
        f"{versions_url(bot_id)}/{draft['id']}/publish", headers=alice.headers
    )
    assert codes_and_paths(assert_problem(published, 422)) == {  # ...but is not published
        ("unusable_model", "nodes[1].config.model")
    }


async def test_a_bots_default_model_is_checked_where_it_is_set_and_where_it_is_used(
    client: httpx.AsyncClient, alice: ApiUser, migrated_db: Database
) -> None:
    refused = await client.post(
        "/api/v1/bots", json={"name": "x", "default_model": "bedrock:foo"}, headers=alice.headers
    )
    assert assert_problem(refused, 422)["errors"][0]["field"] == "default_model"
    bot_id, draft = await new_bot(client, alice, default_model="offline")
    patched = await client.patch(
        f"/api/v1/bots/{bot_id}", json={"default_model": "what:ever"}, headers=alice.headers
    )
    assert assert_problem(patched, 422)["errors"][0]["field"] == "default_model"
    # A default stored before the check: publishing a graph that relies on it names the node.
    async with migrated_db.transaction() as session:
        await session.execute(update(Bot).where(Bot.id == bot_id).values(default_model="what:ever"))
    published = await client.post(
        f"{versions_url(bot_id)}/{draft['id']}/publish", headers=alice.headers
    )
    (problem,) = assert_problem(published, 422)["problems"]
    assert problem["node_id"] == "llm"
    assert "the bot's default model 'what:ever'" in problem["message"]


@pytest.mark.parametrize(("model", "status"), [("nonsense", 422), ("anthropic:claude-x", 502)])
async def test_a_model_unusable_at_chat_time_is_a_clear_problem_not_a_500(
    client: httpx.AsyncClient, alice: ApiUser, migrated_db: Database, model: str, status: int
) -> None:
    bot_id, _ = await new_bot(client, alice)
    await publish_generated(client, alice, bot_id)
    await store_published(migrated_db, bot_id, llm_graph(model))  # stored before any check
    question = {"bot_id": bot_id, "message": "hi"}

    answered = assert_problem(await client.post(CHAT, json=question, headers=alice.headers), status)
    assert "llm" in answered["detail"]
    streamed = await client.post(CHAT, json={**question, "stream": True}, headers=alice.headers)
    assert streamed.status_code == 200
    (frame,) = [f for f in streamed.text.split("\n\n") if f.startswith("event: error")]
    error = json.loads(frame.split("data: ", 1)[1])
    assert error["status"] == status


def iteration_graph(kb_id: str) -> dict[str, Any]:
    """start -> iteration (its body: a knowledge node naming ``kb_id``) -> end."""
    body = rag_graph([kb_id]).to_json()
    body["nodes"] = [n for n in body["nodes"] if n["type"] == "knowledge"]
    body["nodes"][0]["inputs"] = {"query": {"selector": ["each", "item"]}}
    body["edges"] = []
    return {
        "nodes": [
            {"id": "start", "type": "start", "config": {}},
            {
                "id": "each",
                "type": "iteration",
                "config": {"graph": body, "outputs": {"found": ["kb", "documents"]}},
                "inputs": {"items": {"selector": ["start", "query"]}},
            },
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [
            {"source": "each", "source_port": "found", "target": "end", "target_port": "answer"}
        ],
    }


async def test_a_knowledge_node_inside_an_iteration_body_is_checked_too(
    client: httpx.AsyncClient, alice: ApiUser, mallory: ApiUser, alices_kb: str
) -> None:
    bot_id, draft = await new_bot(client, mallory)
    graph = iteration_graph(alices_kb)
    saved = assert_problem(await save(client, mallory, bot_id, draft, graph), 422)
    assert [p["path"] for p in saved["problems"]] == [
        "nodes[1].config.graph.nodes[0].config.knowledge_base_ids[0]"
    ]
