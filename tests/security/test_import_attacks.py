"""Hostile bot imports against a real `snapagent serve`: YAML bombs, deep nesting, huge files,
slow-to-parse files, code-running tags and a burst of them at once.

Each gets a problem naming the reason (422, or 413 past the size limit) - never a 5xx, never a
bot - while ``/health`` keeps answering within 200 ms: files are parsed in an isolated worker
with memory and time limits (``SNAPAGENT_IMPORT_*``), never on the event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest

from .attack import AttackServer, HealthProbe, attack_server, register

IMPORT = "/api/v1/bots/import"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttackServer]:
    with attack_server(tmp_path_factory.mktemp("import-attacks")) as running:
        yield running


@pytest.fixture(scope="module")
def headers(server: AttackServer) -> dict[str, str]:
    return register(server, "importer@example.com")


def billion_laughs() -> bytes:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 12):
        prev, name = f"l{level - 1}" if level > 1 else "a", f"l{level}"
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 10)}]")
    return "\n".join(lines).encode()


def wide_aliases() -> bytes:
    """Each alias is small, but there are very many of them."""
    return b"base: &b {k: v}\nall: [" + b",".join([b"*b"] * 200_000) + b"]\n"


def nested(depth: int) -> bytes:
    return b"a: " + b"[" * depth + b"]" * depth + b"\n"


def big_valid_document() -> bytes:
    """Nearly 10 MB of plain YAML: parsing it is real work (done in the worker)."""
    row = b"- {id: n, data: {type: template-transform, template: 'hello world'}}\n"
    return b"app: {mode: workflow, name: big}\nkind: app\nworkflow:\n  graph:\n    nodes:\n" + (
        b"    " + row
    ) * (9_500_000 // (len(row) + 4))


ATTACKS = {
    "billion-laughs": (billion_laughs(), 422, "expands to more than"),
    "many-aliases": (wide_aliases(), 422, "aliases"),
    "deep-nesting": (nested(50_000), 422, "nest"),
    "python-tag": (b"a: !!python/object/apply:os.system ['touch /tmp/pwned']\n", 422, "YAML error"),
    "too-large": (b"a: " + b"x" * (10 * 1024 * 1024 + 10), 413, "limit"),
    "big-document": (big_valid_document(), 422, "this server takes at most 1,000"),
}


async def import_watched(
    server: AttackServer, headers: dict[str, str], data: bytes
) -> httpx.Response:
    """Import ``data`` while /health is probed; the server must stay responsive."""
    async with (
        httpx.AsyncClient(base_url=server.base, headers=headers, timeout=120) as http,
        HealthProbe(server.base) as probe,
    ):
        response = await http.post(IMPORT, files={"file": ("app.yml", data)})
        await asyncio.sleep(0.2)
    probe.assert_responsive()
    return response


@pytest.mark.parametrize("name", list(ATTACKS))
async def test_hostile_file_is_refused_and_health_stays_up(
    server: AttackServer, headers: dict[str, str], name: str
) -> None:
    data, status, reason = ATTACKS[name]
    response = await import_watched(server, headers, data)
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert reason in response.json()["detail"]
    async with httpx.AsyncClient(base_url=server.base, headers=headers) as http:
        assert (await http.get("/api/v1/bots")).json()["data"] == []


async def test_a_burst_of_bombs_is_served_in_turn(
    server: AttackServer, headers: dict[str, str]
) -> None:
    async with (
        httpx.AsyncClient(base_url=server.base, headers=headers, timeout=120) as http,
        HealthProbe(server.base) as probe,
    ):
        responses = await asyncio.gather(
            *(http.post(IMPORT, files={"file": ("bomb.yml", billion_laughs())}) for _ in range(6))
        )
        await asyncio.sleep(0.2)
    assert [r.status_code for r in responses] == [422] * 6
    probe.assert_responsive()
    good = b"app: {mode: workflow, name: ok}\nkind: app\nversion: 0.1.0\nworkflow:\n  graph:\n"
    good += b"    nodes: [{id: s, data: {type: start, variables: []}}]\n    edges: []\n"
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=60) as http:
        created = await http.post(IMPORT, files={"file": ("ok.yml", good)})
    assert created.status_code == 201, created.text  # the worker is still there, and sane


def hostile_agent_app() -> bytes:
    """A chatflow whose agent node has 20,000 tools, a megabyte of MCP configuration, an MCP
    server on a private address and junk in every other parameter."""
    tools = [
        {"provider_name": f"p{i}", "tool_name": "t" * 300, "type": "plugin"} for i in range(20_000)
    ]
    servers = json.dumps({f"s{i}": {"url": f"https://m{i}.example.com/mcp"} for i in range(20_000)})
    params = {
        "tools": {"type": "constant", "value": tools},
        "mcp_servers_config": {"type": "constant", "value": servers},
        "mcp_server": {"type": "constant", "value": "http://10.0.0.1/mcp"},
        "maximum_iterations": {"type": "constant", "value": 10**40},
        "instruction": {"type": "constant", "value": "{{#start.x#}} words " * 5_000},
        "query": {"type": "mixed", "value": ["not", "text"]},
    }
    nodes = [
        {"id": "start", "data": {"type": "start", "variables": []}},
        {"id": "agent", "data": {"type": "agent", "agent_strategy_name": "x" * 5000,
                                 "agent_parameters": params}},
        {"id": "say", "data": {"type": "answer", "answer": "{{#agent.files#}}{{#agent.text#}}"}},
    ]  # fmt: skip
    edges = [{"source": "start", "target": "agent"}, {"source": "agent", "target": "say"}]
    doc = {"app": {"mode": "advanced-chat", "name": "agent"}, "kind": "app", "version": "0.3.0",
           "workflow": {"graph": {"nodes": nodes, "edges": edges}}}  # fmt: skip
    return json.dumps(doc).encode()  # JSON is YAML


async def test_a_hostile_agent_node_imports_bounded_and_reported(
    server: AttackServer, headers: dict[str, str]
) -> None:
    response = await import_watched(server, headers, hostile_agent_app())
    assert response.status_code == 201, response.text[:500]
    items = response.json()["report"]["items"]
    assert len(items) < 200  # a hostile file cannot flood the report
    said = " ".join(i["message"] for i in items)
    assert max(len(i["message"]) for i in items) < 1_000
    for expected in ("more Dify tools have no SnapAgent equivalent", "cannot be used",
                     "is a plugin SnapAgent does not have", "longer than 20,000"):  # fmt: skip
        assert expected in said, expected
