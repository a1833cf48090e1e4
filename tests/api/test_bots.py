"""Bots over HTTP: CRUD, the ready V2 draft, knowledge base ownership, V1 workflow, cascades."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from snapagent.db.models.chat import ChatSession
from snapagent.db.models.executions import WorkflowExecutionRun, WorkflowNodeExecution
from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.db.session import Database
from snapagent.legacy.samples import rag_workflow

from .conftest import ApiUser, assert_problem, create_knowledge_base


async def test_create_bot_gets_v2_defaults_and_a_ready_draft(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    kb_id = await create_knowledge_base(client, alice, "docs")
    created = await client.post(
        "/api/v1/bots",
        json={"name": "Support", "knowledge_base_ids": [kb_id, kb_id]},
        headers=alice.headers,
    )
    assert created.status_code == 201, created.text
    bot = created.json()
    assert bot["use_workflow_v2"] is True
    assert bot["v2_rollout_percent"] == 100
    assert bot["knowledge_base_ids"] == [kb_id]  # de-duplicated
    assert bot["has_legacy_workflow"] is False

    versions = await client.get(
        f"/api/v1/bots/{bot['id']}/workflow-versions", headers=alice.headers
    )
    [draft] = versions.json()["data"]
    assert draft["status"] == "draft"
    assert draft["version_number"] is None
    full = await client.get(
        f"/api/v1/bots/{bot['id']}/workflow-versions/{draft['id']}", headers=alice.headers
    )
    graph = full.json()["graph"]
    assert [n["type"] for n in graph["nodes"]] == ["start", "knowledge", "llm", "end"]
    knowledge = graph["nodes"][1]
    assert knowledge["config"]["knowledge_base_ids"] == [kb_id]
    assert "model" not in graph["nodes"][2]["config"]  # the bot's default model applies

    # The generated draft is valid as it is: publishing works right away.
    published = await client.post(
        f"/api/v1/bots/{bot['id']}/workflow-versions/{draft['id']}/publish", headers=alice.headers
    )
    assert published.status_code == 200, published.text
    assert published.json()["version_number"] == 1


async def test_bot_without_knowledge_gets_a_publishable_chat_draft(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    bot = (await client.post("/api/v1/bots", json={"name": "Chat"}, headers=alice.headers)).json()
    base = f"/api/v1/bots/{bot['id']}/workflow-versions"
    [draft] = (await client.get(base, headers=alice.headers)).json()["data"]
    graph = (await client.get(f"{base}/{draft['id']}", headers=alice.headers)).json()["graph"]
    assert [n["type"] for n in graph["nodes"]] == ["start", "llm", "end"]

    # Attaching a knowledge base later keeps the untouched generated draft in step.
    kb_id = await create_knowledge_base(client, alice, "later")
    patched = await client.patch(
        f"/api/v1/bots/{bot['id']}", json={"knowledge_base_ids": [kb_id]}, headers=alice.headers
    )
    assert patched.status_code == 200
    refreshed = (await client.get(f"{base}/{draft['id']}", headers=alice.headers)).json()
    assert [n["type"] for n in refreshed["graph"]["nodes"]] == ["start", "knowledge", "llm", "end"]
    assert refreshed["revision"] == 2
    published = await client.post(f"{base}/{draft['id']}/publish", headers=alice.headers)
    assert published.status_code == 200, published.text


async def test_update_list_and_validation(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    bot = (await client.post("/api/v1/bots", json={"name": "A"}, headers=alice.headers)).json()
    url = f"/api/v1/bots/{bot['id']}"
    patched = await client.patch(
        url,
        json={
            "name": "Renamed",
            "description": "helps",
            "default_model": "offline",
            "use_workflow_v2": False,
            "v2_rollout_percent": 25,
        },
        headers=alice.headers,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["name"], body["default_model"], body["v2_rollout_percent"]) == (
        "Renamed",
        "offline",
        25,
    )
    assert body["use_workflow_v2"] is False
    cleared = await client.patch(url, json={"default_model": None}, headers=alice.headers)
    assert cleared.json()["default_model"] is None
    assert cleared.json()["name"] == "Renamed"  # untouched fields stay

    listed = (await client.get("/api/v1/bots", headers=alice.headers)).json()
    assert [b["id"] for b in listed["data"]] == [bot["id"]]
    assert (await client.get("/api/v1/bots", headers=bob.headers)).json()["data"] == []

    for payload, field in [
        ({"v2_rollout_percent": 101}, "v2_rollout_percent"),
        ({"name": ""}, "name"),
        ({"owner_id": bob.id}, "owner_id"),
        ({"knowledge_base_ids": "abc"}, "knowledge_base_ids"),
    ]:
        response = await client.patch(url, json=payload, headers=alice.headers)
        assert assert_problem(response, 422)["errors"][0]["field"] == field

    # Somebody else's knowledge base is as unknown as a missing one.
    bobs_kb = await create_knowledge_base(client, bob, "bob-kb")
    stolen = await client.patch(url, json={"knowledge_base_ids": [bobs_kb]}, headers=alice.headers)
    problem = assert_problem(stolen, 422)
    assert problem["errors"] == [
        {"field": "knowledge_base_ids", "reason": f"knowledge base {bobs_kb} not found"}
    ]
    create_with_foreign = await client.post(
        "/api/v1/bots", json={"name": "X", "knowledge_base_ids": [bobs_kb]}, headers=alice.headers
    )
    assert_problem(create_with_foreign, 422)


async def test_cross_owner_bot_is_404_on_every_route(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    bot = (await client.post("/api/v1/bots", json={"name": "A"}, headers=alice.headers)).json()
    url = f"/api/v1/bots/{bot['id']}"
    for method, path, kwargs in [
        ("GET", url, {}),
        ("PATCH", url, {"json": {"name": "mine"}}),
        ("DELETE", url, {}),
        ("GET", f"{url}/workflow", {}),
        ("PUT", f"{url}/workflow", {"json": rag_workflow(kb_ids=["kb"])}),
    ]:
        response = await client.request(method, path, headers=bob.headers, **kwargs)
        assert_problem(response, 404)
        missing = await client.request(
            method, path.replace(bot["id"], "0" * 32), headers=alice.headers, **kwargs
        )
        # Exactly the same answer as for a bot that does not exist.
        assert assert_problem(response, 404)["title"] == assert_problem(missing, 404)["title"]
    assert (await client.get(url, headers=alice.headers)).json()["name"] == "A"


async def test_legacy_workflow_get_put(client: httpx.AsyncClient, alice: ApiUser) -> None:
    bot = (await client.post("/api/v1/bots", json={"name": "Old"}, headers=alice.headers)).json()
    url = f"/api/v1/bots/{bot['id']}/workflow"
    assert (await client.get(url, headers=alice.headers)).json()["workflow"] is None

    kb_id = await create_knowledge_base(client, alice, "handbook")
    v1 = rag_workflow(kb_ids=[kb_id])
    put = await client.put(url, json=v1, headers=alice.headers)
    assert put.status_code == 200, put.text
    assert put.json()["workflow"]["nodes"][0]["id"] == v1["nodes"][0]["id"]
    assert (await client.get(url, headers=alice.headers)).json()["workflow"] == put.json()[
        "workflow"
    ]

    broken = {"nodes": [{"id": "n1", "type": "start"}], "edges": [{"source": "n1", "target": "x"}]}
    problem = assert_problem(await client.put(url, json=broken, headers=alice.headers), 422)
    assert problem["errors"]
    assert problem["problems"]


async def test_delete_cascades_to_versions_runs_and_sessions(
    client: httpx.AsyncClient, alice: ApiUser, migrated_db: Database
) -> None:
    bot = (await client.post("/api/v1/bots", json={"name": "Gone"}, headers=alice.headers)).json()
    async with migrated_db.transaction() as session:
        chat = ChatSession(bot_id=bot["id"], session_key="s1")
        session.add(chat)
        run = WorkflowExecutionRun(bot_id=bot["id"], status="succeeded")
        session.add(run)
        await session.flush()
        session.add(
            WorkflowNodeExecution(run_id=run.id, node_id="n", node_type="end", index=0, status="ok")
        )
    deleted = await client.delete(f"/api/v1/bots/{bot['id']}", headers=alice.headers)
    assert deleted.status_code == 204
    assert_problem(await client.get(f"/api/v1/bots/{bot['id']}", headers=alice.headers), 404)
    async with migrated_db.session() as session:
        for model in (BotWorkflowVersion, ChatSession, WorkflowExecutionRun, WorkflowNodeExecution):
            left = await session.scalar(select(func.count()).select_from(model))
            assert left == 0, model.__tablename__


async def test_nul_characters_are_refused_on_every_database(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    named = await client.post("/api/v1/bots", json={"name": "a\x00b"}, headers=alice.headers)
    assert "NUL" in assert_problem(named, 422)["errors"][0]["reason"]
    bot = (await client.post("/api/v1/bots", json={"name": "ok"}, headers=alice.headers)).json()
    base = f"/api/v1/bots/{bot['id']}/workflow-versions"
    [draft] = (await client.get(base, headers=alice.headers)).json()["data"]
    graph = {"nodes": [{"id": "start", "type": "start", "title": "x\x00"}], "edges": []}
    saved = await client.put(
        f"{base}/{draft['id']}", json={"graph": graph, "revision": 1}, headers=alice.headers
    )
    assert "graph.nodes[0].title" in assert_problem(saved, 422)["errors"][0]["reason"]
