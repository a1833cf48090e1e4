"""Bot import and export over HTTP: every real Dify export imports (or is refused with a
reason), publishes and - when none of its nodes needs the network - answers a chat with the
offline model; bad files get 422 problems naming the reason; exports are owner-scoped YAML
files, and SnapAgent's own format round-trips exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from snapagent.interop.loading import DocumentLimits, load_document
from snapagent.interop.native import map_knowledge_ids
from snapagent.testing.dify_corpus import FIXTURES, require_corpus

from .conftest import ApiUser, assert_problem, create_knowledge_base

IMPORT = "/api/v1/bots/import"
EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.json"))
# The real exports are many: their HTTP pass runs on SQLite; the engine is the same on both.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
NETWORK_TYPES = frozenset({"http_request", "placeholder", "agent"})
# Apps that import and publish, but whose own code expects what the offline model does not
# give (JSON in a given shape) - a real model answers them. Each fails at one of its nodes.
OFFLINE_MODEL_LIMITS = {
    "dify_course_demo.yml": "output 'result' must be array[object]",
    "llm2o1.cn.yml": "items must be a list",
    "春联生成器.yml": "TypeError",
    "春联生成器 (“福”到了版本).yml": "TypeError",
}


async def import_file(
    client: httpx.AsyncClient, user: ApiUser, data: bytes, name: str = "app.yml", **params: Any
) -> httpx.Response:
    return await client.post(
        IMPORT,
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


async def version_graph(
    client: httpx.AsyncClient, user: ApiUser, bot_id: str, version_id: str
) -> dict[str, Any]:
    response = await client.get(
        f"/api/v1/bots/{bot_id}/workflow-versions/{version_id}", headers=user.headers
    )
    assert response.status_code == 200, response.text
    graph: dict[str, Any] = response.json()["graph"]
    return graph


async def publish(client: httpx.AsyncClient, user: ApiUser, body: dict[str, Any]) -> httpx.Response:
    return await client.post(
        f"/api/v1/bots/{body['bot_id']}/workflow-versions/{body['version_id']}/publish",
        headers=user.headers,
    )


@sqlite_only
async def test_every_real_export_imports_publishes_and_chats(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    chatted = 0
    for path in require_corpus():
        response = await import_file(
            client, alice, path.read_bytes(), path.name, model_override="offline"
        )
        if response.status_code == 422:  # allowed, if the reason is one a user can act on
            assert len(assert_problem(response, 422)["detail"]) > 20
            continue
        assert response.status_code == 201, (path.name, response.text)
        body = response.json()
        report = body["report"]
        assert report["problems"] == [], (path.name, report["problems"])
        graph = await version_graph(client, alice, body["bot_id"], body["version_id"])
        published = await publish(client, alice, body)
        assert published.status_code == 200, (path.name, published.text)
        packages = [i for i in report["items"] if "which the sandbox does not have" in i["message"]]
        if node_types(graph) & NETWORK_TYPES:
            continue
        chat = await client.post(
            "/api/v1/chat",
            json={"bot_id": body["bot_id"], "message": "Hello, please translate: good morning"},
            headers=alice.headers,
        )
        if packages:  # the report warned: the code needs packages the sandbox lacks
            if chat.status_code != 200:  # unless this chat took a branch without that code
                assert "ModuleNotFoundError" in assert_problem(chat, 500)["detail"], path.name
        elif path.name in OFFLINE_MODEL_LIMITS:
            detail = assert_problem(chat, 500)["detail"]
            assert OFFLINE_MODEL_LIMITS[path.name] in detail, (path.name, detail)
        else:
            assert chat.status_code == 200, (path.name, chat.text)
            assert chat.json()["answer"].strip(), path.name
            chatted += 1
    assert chatted >= 14  # the rest need the network, packages or a real model (above)


@sqlite_only
async def test_fixtures_of_newer_dsl_versions_import_and_chat(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    for name in (
        "v0_6_chatflow.yml",
        "chat_app.yml",
        "completion_app.yml",
        "v0_5_loops_and_lists.yml",
    ):
        response = await import_file(
            client, alice, (FIXTURES / name).read_bytes(), name, model_override="offline"
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["report"]["problems"] == []
        assert (await publish(client, alice, body)).status_code == 200
        chat = await client.post(
            "/api/v1/chat",
            json={"bot_id": body["bot_id"], "message": "Tell me about product questions"},
            headers=alice.headers,
        )
        assert chat.status_code == 200, (name, chat.text)


async def test_dify_datasets_become_empty_knowledge_bases_of_the_importer(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    response = await import_file(client, alice, (FIXTURES / "v0_6_chatflow.yml").read_bytes())
    body = assert_created(response)
    kbs = (await client.get("/api/v1/knowledge-bases", headers=alice.headers)).json()["data"]
    names = sorted(kb["name"] for kb in kbs)
    assert names == ["Newest chatflow: dataset ds-1111", "Newest chatflow: dataset ds-2222"]
    graph = await version_graph(client, alice, body["bot_id"], body["version_id"])
    kb_node = next(n for n in graph["nodes"] if n["id"] == "kb")
    assert sorted(kb_node["config"]["knowledge_base_ids"]) == sorted(kb["id"] for kb in kbs)
    actions = [i["message"] for i in body["report"]["items"] if i["severity"] == "action"]
    assert any("Dify dataset(s) cannot carry over" in m for m in actions)
    # Models this server cannot use fall back to the bot's default, reported (no override).
    assert any("cannot be used on this server" in i["message"] for i in body["report"]["items"])


def assert_created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"bot_id", "version_id", "report"}
    return body


@pytest.mark.parametrize(
    ("data", "params", "reason"),
    [
        (b"app:\n  mode: [workflow\nkind: app\n", {}, "YAML error at line 3, column 5"),
        ((FIXTURES / "future_version.yml").read_bytes(), {}, "newer than this importer knows"),
        ((FIXTURES / "rag_pipeline.yml").read_bytes(), {}, "knowledge pipeline"),
        (b'{"hello": "world"}', {}, "neither a Dify app export"),
        (b"- a\n- b\n", {}, "holds a list"),
        (
            (FIXTURES / "chat_app.yml").read_bytes(),
            {"format": "snapagent"},
            "not a SnapAgent export",
        ),
        (
            b"a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
            b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
            b"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
            b"g: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n",
            {},
            "expands to more than",
        ),
        ((FIXTURES / "chat_app.yml").read_bytes(), {"model_override": "nope:x"}, "cannot be used"),
    ],
    ids=["yaml", "version", "pipeline", "not-export", "list", "format", "bomb", "model"],
)
async def test_files_that_cannot_be_imported_get_422_naming_the_reason(
    client: httpx.AsyncClient, alice: ApiUser, data: bytes, params: dict[str, str], reason: str
) -> None:
    before = (await client.get("/api/v1/bots", headers=alice.headers)).json()["data"]
    body = assert_problem(await import_file(client, alice, data, **params), 422)
    assert reason in body["detail"]
    assert body["errors"][0]["field"] in ("file", "model_override")
    assert (await client.get("/api/v1/bots", headers=alice.headers)).json()["data"] == before


async def test_oversized_and_missing_files(client: httpx.AsyncClient, alice: ApiUser) -> None:
    huge = b"a: " + b"x" * (10 * 1024 * 1024)
    assert "limit" in assert_problem(await import_file(client, alice, huge), 413)["detail"]
    missing = await client.post(IMPORT, headers=alice.headers)
    assert_problem(missing, 422)
    anonymous = await client.post(IMPORT, files={"file": ("a.yml", b"a: 1")})
    assert_problem(anonymous, 401)


async def test_export_is_owner_scoped_yaml(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    body = assert_created(
        await import_file(client, alice, (FIXTURES / "v0_6_chatflow.yml").read_bytes())
    )
    url = f"/api/v1/bots/{body['bot_id']}/export"
    for fmt, suffix in (("snapagent", ".snapagent.yml"), ("dify", ".dify.yml")):
        response = await client.get(url, params={"format": fmt}, headers=alice.headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/yaml")
        assert response.headers["content-disposition"].endswith(f'{suffix}"')
        document = load_document(response.content, DocumentLimits())
        assert document["kind"] == ("snapagent-bot" if fmt == "snapagent" else "app")
    assert_problem(await client.get(url, headers=bob.headers), 404)
    assert_problem(await client.get(url, params={"format": "xml"}, headers=alice.headers), 422)
    unknown = await client.get(url, params={"version_id": "nope"}, headers=alice.headers)
    assert_problem(unknown, 404)
    dify = (await client.get(url, params={"format": "dify"}, headers=alice.headers)).text
    assert dify.startswith("# Exported from SnapAgent. Not carried over exactly:")


async def test_snapagent_export_import_round_trips_every_example(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser
) -> None:
    kb = await create_knowledge_base(client, alice, "handbook")
    for path in EXAMPLES:
        graph = map_knowledge_ids(json.loads(path.read_text()), lambda _old: kb)
        created = (
            await client.post("/api/v1/bots", json={"name": path.stem}, headers=alice.headers)
        ).json()
        versions = f"/api/v1/bots/{created['id']}/workflow-versions"
        draft = (await client.get(versions, headers=alice.headers)).json()["data"][0]
        saved = await client.put(
            f"{versions}/{draft['id']}",
            json={"graph": graph, "revision": draft["revision"]},
            headers=alice.headers,
        )
        assert saved.status_code == 200, saved.text
        stored = saved.json()["graph"]
        export = await client.get(f"/api/v1/bots/{created['id']}/export", headers=alice.headers)
        again = assert_created(await import_file(client, alice, export.content, "bot.yml"))
        assert await version_graph(client, alice, again["bot_id"], again["version_id"]) == stored
        assert again["report"]["items"] == []
    # On another account the knowledge base is not theirs: an empty one of the same name.
    rag = next(p for p in EXAMPLES if p.stem == "rag_pipeline")
    created = (
        await client.post("/api/v1/bots", json={"name": "rag"}, headers=alice.headers)
    ).json()
    versions = f"/api/v1/bots/{created['id']}/workflow-versions"
    draft = (await client.get(versions, headers=alice.headers)).json()["data"][0]
    graph = map_knowledge_ids(json.loads(rag.read_text()), lambda _old: kb)
    body = {"graph": graph, "revision": draft["revision"]}
    assert (
        await client.put(f"{versions}/{draft['id']}", json=body, headers=alice.headers)
    ).status_code == 200
    export = await client.get(f"/api/v1/bots/{created['id']}/export", headers=alice.headers)
    theirs = assert_created(await import_file(client, bob, export.content, "bot.yml"))
    bob_kbs = (await client.get("/api/v1/knowledge-bases", headers=bob.headers)).json()["data"]
    assert [k["name"] for k in bob_kbs] == ["handbook"]
    assert bob_kbs[0]["id"] != kb
    messages = [i["message"] for i in theirs["report"]["items"]]
    assert any("is not on this server" in m for m in messages)
    assert True


async def test_imported_apps_round_trip_through_the_snapagent_format(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    for name in ("v0_4_error_handling.yml", "v0_5_loops_and_lists.yml", "v0_6_chatflow.yml"):
        first = assert_created(
            await import_file(
                client, alice, (FIXTURES / name).read_bytes(), model_override="offline"
            )
        )
        graph = await version_graph(client, alice, first["bot_id"], first["version_id"])
        export = await client.get(f"/api/v1/bots/{first['bot_id']}/export", headers=alice.headers)
        second = assert_created(await import_file(client, alice, export.content))
        assert await version_graph(client, alice, second["bot_id"], second["version_id"]) == graph
