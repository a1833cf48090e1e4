"""Cross-account reads (docs/security.md, class 1) attempted against a real `snapagent serve`.

Alice owns a knowledge base holding a secret; Mallory, another registered user, tries every
way we know to make a chat read it: smuggling the legacy ``v1_knowledge`` adapter into a V2
draft (before and after a legacy bot was chatted on the server), naming Alice's knowledge base
id in a knowledge node, in a V1 workflow, under other keys of other node types, through input
mappings and request fields, and - as data written before validation knew accounts - in a
stored published version and a stored V1 workflow. Each attempt must end in a clear 4xx or a
run that reads nothing of Alice's, ``/health`` must answer within 200 ms meanwhile, and at the
end no answer, stream, source or run record of Mallory's holds a word of the secret.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from api.test_cross_account import iteration_graph, v1_knowledge_graph
from snapagent.legacy.samples import rag_workflow

from .attack import AttackServer, HealthProbe, attack_server, register

SECRET = "The vault combination is tangerine-armadillo-quokka."
SECRET_WORDS = ("tangerine", "armadillo", "quokka")  # none can occur in a hex id
QUESTION = "What is the vault combination?"


@dataclass
class Scene:
    server: AttackServer
    alice: dict[str, str]
    mallory: dict[str, str]
    alices_kb: str
    transcript: list[str] = field(default_factory=list)
    """Every body Mallory received: checked for the secret at the end."""

    async def call(
        self, method: str, path: str, who: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.server.base, timeout=120) as http:
            response = await http.request(method, path, headers=who or self.mallory, **kwargs)
        if who is None or who is self.mallory:
            self.transcript.append(response.text)
        return response

    async def published_bot(self) -> str:
        """A bot of Mallory's with its generated draft published (start -> llm -> end)."""
        bot_id, draft = await self.new_bot()
        versions = f"/api/v1/bots/{bot_id}/workflow-versions"
        published = await self.call("POST", f"{versions}/{draft['id']}/publish")
        assert published.status_code == 200, published.text
        return bot_id

    def store_published(self, bot_id: str, graph: dict[str, Any]) -> None:
        """Replace the bot's published graph in the database, as data stored before
        validation knew accounts would be."""
        self.sql(
            "UPDATE bot_workflow_versions SET graph = ? WHERE bot_id = ? AND status = 'published'",
            json.dumps(graph),
            bot_id,
        )

    async def new_bot(self, who: dict[str, str] | None = None, **fields: Any) -> tuple[str, dict]:
        bot = await self.call("POST", "/api/v1/bots", who, json={"name": "b", **fields})
        assert bot.status_code == 201, bot.text
        versions = await self.call("GET", f"/api/v1/bots/{bot.json()['id']}/workflow-versions", who)
        return bot.json()["id"], versions.json()["data"][0]

    def sql(self, statement: str, *params: Any) -> None:
        """Write to the server's database directly: data stored before validation knew
        accounts (a real server's SQLite file, WAL mode: the server keeps serving)."""
        with sqlite3.connect(self.server.data_dir / "snapagent.db", timeout=30) as db:
            db.execute(statement, params)


def wait_indexed(server: AttackServer, who: dict[str, str], kb_id: str, doc_id: str) -> None:
    deadline = time.monotonic() + 600  # the server loads the local embedding model first
    with httpx.Client(base_url=server.base, headers=who, timeout=60) as http:
        while time.monotonic() < deadline:
            doc = http.get(f"/api/v1/knowledge-bases/{kb_id}/documents/{doc_id}").json()
            if doc["status"] in ("indexed", "failed"):
                assert doc["status"] == "indexed", doc
                return
            time.sleep(0.5)
    raise AssertionError(f"document not indexed in time:\n{server.log()[-3000:]}")


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    with attack_server(tmp_path_factory.mktemp("cross-account")) as server:
        alice = register(server, "alice@example.com")
        mallory = register(server, "mallory@example.com")
        with httpx.Client(base_url=server.base, headers=alice, timeout=60) as http:
            kb_id = http.post("/api/v1/knowledge-bases", json={"name": "vault"}).json()["id"]
            doc = http.post(
                f"/api/v1/knowledge-bases/{kb_id}/documents",
                files={"file": ("vault.md", f"# Vault\n\n{SECRET}\n".encode(), "text/markdown")},
            ).json()
        wait_indexed(server, alice, kb_id, doc["id"])
        yield Scene(server, alice, mallory, kb_id)


def rag_graph(kb_ids: list[str], **llm: Any) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "start", "type": "start", "config": {}},
            {
                "id": "kb",
                "type": "knowledge",
                "config": {"knowledge_base_ids": kb_ids, "top_k": 5},
                "inputs": {"query": {"selector": ["start", "query"]}},
            },
            {
                "id": "llm",
                "type": "llm",
                "config": {"prompt": "{{ context }} {{ query }}", "model": "offline", **llm},
            },
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [
            {"source": "start", "source_port": "query", "target": "llm", "target_port": "query"},
            {"source": "kb", "source_port": "documents", "target": "llm", "target_port": "context"},
            {"source": "llm", "source_port": "text", "target": "end", "target_port": "answer"},
        ],
    }


async def refused_everywhere(scene: Scene, graph: dict[str, Any], status: int = 422) -> dict:
    """``graph`` is refused when saved, validated and (as a new draft) created."""
    bot_id, draft = await scene.new_bot()
    versions = f"/api/v1/bots/{bot_id}/workflow-versions"
    saved = await scene.call(
        "PUT", f"{versions}/{draft['id']}", json={"graph": graph, "revision": draft["revision"]}
    )
    assert saved.status_code == status, saved.text
    assert saved.headers["content-type"].startswith("application/problem+json")
    validated = await scene.call("POST", f"{versions}/validate", json={"graph": graph})
    assert validated.json()["valid"] is False
    published = await scene.call("POST", f"{versions}/{draft['id']}/publish")
    assert published.status_code == 200  # the untouched generated draft: harmless
    created = await scene.call("POST", versions, json={"graph": graph})
    assert created.status_code == status, created.text
    body: dict = saved.json()
    return body


async def chat_both_ways(scene: Scene, bot_id: str) -> tuple[httpx.Response, httpx.Response]:
    body = {"bot_id": bot_id, "message": QUESTION}
    answered = await scene.call("POST", "/api/v1/chat", json=body)
    streamed = await scene.call("POST", "/api/v1/chat", json={**body, "stream": True})
    return answered, streamed


ATTACK_S = 0.3
"""An attack is repeated for at least this long, so /health is probed several times during it."""


async def attack(scene: Scene, run: Any) -> Any:
    """Run ``run()`` (a coroutine function) over and over for `ATTACK_S` while ``/health`` is
    probed; returns the first outcome (every repetition is asserted on the same way)."""
    outcomes = []
    async with HealthProbe(scene.server.base) as probe:
        began = time.monotonic()
        while not outcomes or time.monotonic() - began < ATTACK_S:
            outcomes.append(await run())
    probe.assert_responsive()
    return outcomes[0]


async def test_alices_own_bot_finds_the_secret(scene: Scene) -> None:
    """The control: retrieval does find the document for its owner, so the attacks below
    would show the secret if scoping failed."""
    bot_id, _ = await scene.new_bot(scene.alice, knowledge_base_ids=[scene.alices_kb])
    versions = f"/api/v1/bots/{bot_id}/workflow-versions"
    draft = (await scene.call("GET", versions, scene.alice)).json()["data"][0]
    assert (await scene.call("POST", f"{versions}/{draft['id']}/publish", scene.alice)).is_success
    answer = await scene.call(
        "POST", "/api/v1/chat", scene.alice, json={"bot_id": bot_id, "message": QUESTION}
    )
    assert answer.status_code == 200, answer.text
    assert "tangerine" in answer.text


async def test_the_v1_adapter_in_a_v2_draft_is_refused_even_after_a_legacy_chat(
    scene: Scene,
) -> None:
    async def smuggle() -> dict:
        return await refused_everywhere(scene, v1_knowledge_graph(scene.alices_kb))

    before = await attack(scene, smuggle)
    # Alice chats with a legacy (V1) bot: the adapters are in use on this server now.
    legacy, _ = await scene.new_bot(scene.alice, use_workflow_v2=False)
    put = await scene.call(
        "PUT",
        f"/api/v1/bots/{legacy}/workflow",
        scene.alice,
        json=rag_workflow(kb_ids=[scene.alices_kb]),
    )
    assert put.status_code == 200, put.text
    chatted = await scene.call(
        "POST", "/api/v1/chat", scene.alice, json={"bot_id": legacy, "message": QUESTION}
    )
    assert chatted.status_code == 200, chatted.text
    after = await attack(scene, smuggle)
    for body in (before, after):
        assert {p["code"] for p in body["problems"]} == {
            "legacy_node_type",
            "unknown_knowledge_base",
        }


async def test_naming_alices_knowledge_base_anywhere_in_a_graph_is_refused(scene: Scene) -> None:
    own = (await scene.call("POST", "/api/v1/knowledge-bases", json={"name": "mine"})).json()["id"]
    template_with_kb = {
        "nodes": [
            {"id": "start", "type": "start", "config": {}},
            {
                "id": "t",
                "type": "template",
                "config": {"template": "{{ query }}", "knowledge_base_id": scene.alices_kb},
            },
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [
            {"source": "start", "source_port": "query", "target": "t", "target_port": "query"},
            {"source": "t", "source_port": "text", "target": "end", "target_port": "answer"},
        ],
    }
    hidden = rag_graph([own, own, scene.alices_kb, own])
    for graph, path in [
        (rag_graph([scene.alices_kb]), "nodes[1].config.knowledge_base_ids[0]"),
        (hidden, "nodes[1].config.knowledge_base_ids[2]"),
        (template_with_kb, "nodes[1].config.knowledge_base_id"),
        (
            iteration_graph(scene.alices_kb),
            "nodes[1].config.graph.nodes[0].config.knowledge_base_ids[0]",
        ),
    ]:
        body = await attack(scene, lambda graph=graph: refused_everywhere(scene, graph))
        found = [p for p in body["problems"] if p["code"] == "unknown_knowledge_base"]
        assert [p["path"] for p in found] == [path]


async def test_knowledge_base_ids_through_inputs_and_request_fields_are_refused(
    scene: Scene,
) -> None:
    bot_id = await scene.published_bot()
    # An input mapping onto a port the knowledge node does not have.
    by_selector = rag_graph(["placeholder"])
    by_selector["nodes"][0]["config"] = {
        "inputs": [{"name": "kb", "type": "array[string]", "required": False}]
    }
    by_selector["nodes"][1]["config"]["knowledge_base_ids"] = [scene.alices_kb]
    by_selector["nodes"][1]["inputs"]["knowledge_base_ids"] = {"selector": ["start", "kb"]}
    body = await attack(scene, lambda: refused_everywhere(scene, by_selector))
    assert "unknown_knowledge_base" in {p["code"] for p in body["problems"]}

    async def chat_with_fields() -> httpx.Response:
        return await scene.call(
            "POST",
            "/api/v1/chat",
            json={
                "bot_id": bot_id,
                "message": QUESTION,
                "inputs": {"kb": [scene.alices_kb]},
                "knowledge_base_ids": [scene.alices_kb],
            },
        )

    response = await attack(scene, chat_with_fields)
    assert response.status_code == 422, response.text


async def test_a_v1_workflow_naming_alices_knowledge_base_is_refused(scene: Scene) -> None:
    bot_id, _ = await scene.new_bot(use_workflow_v2=False)

    async def put_v1() -> httpx.Response:
        return await scene.call(
            "PUT",
            f"/api/v1/bots/{bot_id}/workflow",
            json={"workflow": rag_workflow(kb_ids=[scene.alices_kb])},  # as GET returns it
        )

    response = await attack(scene, put_v1)
    assert response.status_code == 422, response.text
    (problem,) = response.json()["problems"]
    assert problem["path"] == "nodes[1].data.knowledge_base_ids[0]"


async def test_alices_knowledge_base_itself_is_not_found_for_mallory(scene: Scene) -> None:
    kb = f"/api/v1/knowledge-bases/{scene.alices_kb}"

    async def probe_everything() -> list[httpx.Response]:
        return [
            await scene.call("GET", kb),
            await scene.call("GET", f"{kb}/documents"),
            await scene.call("POST", f"{kb}/query", json={"query": QUESTION}),
            await scene.call(
                "POST", f"{kb}/documents", files={"file": ("x.md", b"# x\n\ny", "text/markdown")}
            ),
            await scene.call("DELETE", kb),
            await scene.call("DELETE", f"{kb}?force=true"),
        ]

    for response in await attack(scene, probe_everything):
        assert response.status_code == 404, response.text
    still = await scene.call("GET", kb, scene.alice)
    assert still.status_code == 200  # and it is still there


async def test_stored_graphs_naming_alices_knowledge_base_read_nothing_of_it(
    scene: Scene,
) -> None:
    """A published V2 version and a V1 workflow stored before validation knew accounts: the
    run's retrieval is scoped to the bot owner in the database query itself."""
    v2_bot = await scene.published_bot()
    scene.store_published(v2_bot, rag_graph([scene.alices_kb]))
    v1_bot, _ = await scene.new_bot(use_workflow_v2=False)
    scene.sql(
        "UPDATE bots SET workflow = ? WHERE id = ?",
        json.dumps(rag_workflow(kb_ids=[scene.alices_kb])),
        v1_bot,
    )
    adapter_bot = await scene.published_bot()
    scene.store_published(adapter_bot, v1_knowledge_graph(scene.alices_kb))
    for bot_id in (v2_bot, v1_bot):
        answered, streamed = await attack(
            scene, lambda bot_id=bot_id: chat_both_ways(scene, bot_id)
        )
        assert answered.status_code == 200, answered.text
        assert answered.json()["sources"] == []
        assert streamed.status_code == 200
    # A stored V2 graph with the legacy adapter type cannot even be compiled: a clear 4xx.
    answered, streamed = await attack(scene, lambda: chat_both_ways(scene, adapter_bot))
    assert 400 <= answered.status_code < 500, answered.text


async def test_deleting_a_knowledge_base_in_use_is_a_conflict(scene: Scene) -> None:
    own = (await scene.call("POST", "/api/v1/knowledge-bases", json={"name": "in use"})).json()
    bot_id, _ = await scene.new_bot(knowledge_base_ids=[own["id"]])
    conflict = await attack(
        scene, lambda: scene.call("DELETE", f"/api/v1/knowledge-bases/{own['id']}")
    )
    assert conflict.status_code == 409, conflict.text
    assert [b["id"] for b in conflict.json()["bots"]] == [bot_id]


async def test_an_unusable_model_at_chat_time_is_a_clear_problem(scene: Scene) -> None:
    bot_id = await scene.published_bot()
    scene.store_published(bot_id, rag_graph([scene.alices_kb], model="no-such-provider:x"))
    answered, streamed = await attack(scene, lambda: chat_both_ways(scene, bot_id))
    assert answered.status_code == 422, answered.text
    assert answered.json()["type"] == "urn:snapagent:problem:invalid-definition"
    error = [f for f in streamed.text.split("\n\n") if f.startswith("event: error")]
    assert len(error) == 1
    assert json.loads(error[0].split("data: ", 1)[1])["status"] == 422


async def test_nothing_mallory_received_or_ran_holds_the_secret(scene: Scene) -> None:
    """After the attacks (tests run in file order): every answer, stream, source and run
    record of Mallory's bots, as served and as stored."""
    bots = (await scene.call("GET", "/api/v1/bots")).json()["data"]
    assert len(bots) >= 10
    for bot in bots:
        runs = await scene.call("GET", f"/api/v1/bots/{bot['id']}/workflow-executions?limit=100")
        for run in runs.json()["data"]:
            await scene.call("GET", f"/api/v1/bots/{bot['id']}/workflow-executions/{run['id']}")
        sessions = await scene.call("GET", f"/api/v1/bots/{bot['id']}/sessions")
        for session in sessions.json()["data"]:
            await scene.call("GET", f"/api/v1/bots/{bot['id']}/sessions/{session['session_id']}")
    everything = "\n".join(scene.transcript)
    for word in SECRET_WORDS:
        assert word not in everything
    # And in the database itself: no run or message of Mallory's bots holds it.
    with sqlite3.connect(scene.server.data_dir / "snapagent.db") as db:
        mallory_bots = [b["id"] for b in bots]
        marks = ",".join("?" * len(mallory_bots))
        rows = db.execute(
            f"SELECT r.inputs, r.outputs, r.error, n.inputs, n.outputs, n.error "
            f"FROM workflow_execution_runs r LEFT JOIN workflow_node_executions n "
            f"ON n.run_id = r.id WHERE r.bot_id IN ({marks})",
            mallory_bots,
        ).fetchall()
        messages = db.execute(
            f"SELECT m.content, m.sources FROM chat_messages m JOIN chat_sessions s "
            f"ON m.session_id = s.id WHERE s.bot_id IN ({marks})",
            mallory_bots,
        ).fetchall()
    assert rows  # the attacks did run
    stored = json.dumps(rows) + json.dumps(messages)
    for word in SECRET_WORDS:
        assert word not in stored


def test_the_server_log_shows_no_unexpected_error(scene: Scene) -> None:
    log = scene.server.log()
    assert "unhandled error" not in log
    assert "Traceback" not in log
