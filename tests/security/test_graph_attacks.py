"""Graph attacks on a real `snapagent serve`: huge graphs, graphs shaped to make validation
slow, and deeply nested editor metadata or config.

Each must get a clear answer - a 422 naming the limit (or a 400 when the JSON itself is too
deep to parse) or a validation report - quickly, never a 500 or a slow 200, while ``/health``
keeps answering within 200 ms. The server runs with the default limits
(``SNAPAGENT_GRAPH_MAX_NODES`` 1,000, ``..._MAX_EDGES`` 5,000, ``..._MAX_DEPTH`` 32).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .attack import AttackServer, HealthProbe, attack_server, register

LIMIT_BUDGET_S = 2.0
"""A refusal by size is a count and a bounded walk: it must be quick even on a busy machine."""
VALIDATION_BUDGET_S = 10.0
"""Validating a graph at the node limit (it took minutes at that size before)."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttackServer]:
    with attack_server(tmp_path_factory.mktemp("graph-attacks")) as running:
        yield running


@pytest.fixture(scope="module")
def headers(server: AttackServer) -> dict[str, str]:
    return register(server, "grapher@example.com")


def selector_chain(count: int) -> dict[str, Any]:
    """start -> t0 -> t1 ... by control edges, every template reading start.query by selector:
    the shape whose validation was quadratic (4,000 nodes took 15-20 s)."""
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "start"}]
    edges: list[dict[str, Any]] = []
    previous = "start"
    for i in range(count):
        nodes.append(
            {
                "id": f"t{i}",
                "type": "template",
                "config": {"template": "{{ x }}"},
                "inputs": {"x": {"selector": ["start", "query"]}},
            }
        )
        edges.append({"source": previous, "target": f"t{i}"})
        previous = f"t{i}"
    nodes.append({"id": "end", "type": "end", "config": {"outputs": ["answer"]}})
    edges.append(
        {"source": previous, "source_port": "text", "target": "end", "target_port": "answer"}
    )
    return {"nodes": nodes, "edges": edges}


JSON = {"content-type": "application/json"}


def encoded(body: Any) -> bytes:
    """Encode before the probe starts: the probe shares this process's event loop, and
    encoding a big graph there would delay the probe, not the server."""
    return json.dumps(body).encode()


def nested_json(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


async def _draft(http: httpx.AsyncClient) -> tuple[str, dict[str, Any]]:
    bot = (await http.post("/api/v1/bots", json={"name": "graph attack"})).raise_for_status()
    versions = f"/api/v1/bots/{bot.json()['id']}/workflow-versions"
    summary = (await http.get(versions)).raise_for_status().json()["data"][0]
    draft = (await http.get(f"{versions}/{summary['id']}")).raise_for_status().json()
    return versions, draft


def _assert_refused(response: httpx.Response, code: str, elapsed: float) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problems = response.json()["problems"]
    assert [p["code"] for p in problems][:1] == [code], problems
    assert elapsed < LIMIT_BUDGET_S, f"refusal took {elapsed:.2f} s"


async def test_graphs_over_the_node_or_edge_limit_are_refused_at_once(
    server: AttackServer, headers: dict[str, str]
) -> None:
    too_many_nodes = selector_chain(5_000)
    too_many_edges = selector_chain(10)
    too_many_edges["edges"] += [{"source": "start", "target": "t0"}] * 6_000
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=60) as http:
        versions, draft = await _draft(http)
        requests = [
            (method, url, encoded(body), code)
            for graph, code in (
                (too_many_nodes, "too_many_nodes"),
                (too_many_edges, "too_many_edges"),
            )
            for method, url, body in (
                ("POST", f"{versions}/validate", {"graph": graph}),
                ("PUT", f"{versions}/{draft['id']}", {"graph": graph, "revision": 1}),
            )
        ]
        async with HealthProbe(server.base) as probe:
            for method, url, content, code in requests:
                began = time.perf_counter()
                response = await http.request(method, url, content=content, headers=JSON)
                _assert_refused(response, code, time.perf_counter() - began)
        probe.assert_responsive()
        assert "limit is" in response.json()["detail"]
        # Nothing was stored: the draft is still the untouched default.
        stored = (await http.get(f"{versions}/{draft['id']}")).json()
        assert stored["revision"] == 1


async def test_a_graph_at_the_node_limit_validates_quickly_off_the_event_loop(
    server: AttackServer, headers: dict[str, str]
) -> None:
    graph = selector_chain(998)  # + start + end = the 1,000-node limit
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=120) as http:
        versions, draft = await _draft(http)
        to_validate = encoded({"graph": graph})
        to_save = encoded({"graph": graph, "revision": 1})
        async with HealthProbe(server.base) as probe:
            began = time.perf_counter()
            report = await http.post(f"{versions}/validate", content=to_validate, headers=JSON)
            elapsed = time.perf_counter() - began
            saved = await http.put(f"{versions}/{draft['id']}", content=to_save, headers=JSON)
            published = await http.post(f"{versions}/{draft['id']}/publish")
        probe.assert_responsive()
    assert report.status_code == 200, report.text
    assert report.json() == {"valid": True, "problems": []}
    assert elapsed < VALIDATION_BUDGET_S, f"validation took {elapsed:.2f} s"
    assert saved.status_code == 200, saved.text
    assert published.status_code == 200, published.text


@pytest.mark.parametrize("depth", [40, 300, 600, 900])
async def test_deeply_nested_editor_metadata_and_config_are_refused_never_a_500(
    server: AttackServer, headers: dict[str, str], depth: int
) -> None:
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=60) as http:
        versions, draft = await _draft(http)
        graph = json.dumps(draft["graph"])
        # Editor metadata on a node, and a nested value inside a node's config.
        in_metadata = graph.replace(
            '"id": "start"', f'"id": "start", "position": {nested_json(depth)}', 1
        )
        in_config = graph.replace(
            '"config": {"system_prompt"',
            f'"config": {{"extra": {nested_json(depth)}, "system_prompt"',
            1,
        )
        assert in_metadata != graph
        assert in_config != graph
        async with HealthProbe(server.base) as probe:
            for body_graph in (in_metadata, in_config) * 3:  # a few rounds: probed in between
                for method, url, body in (
                    ("POST", f"{versions}/validate", f'{{"graph": {body_graph}}}'),
                    (
                        "PUT",
                        f"{versions}/{draft['id']}",
                        f'{{"graph": {body_graph}, "revision": 1}}',
                    ),
                ):
                    began = time.perf_counter()
                    response = await http.request(method, url, content=body, headers=JSON)
                    elapsed = time.perf_counter() - began
                    assert response.status_code in (400, 422), response.text
                    assert response.headers["content-type"].startswith("application/problem+json")
                    assert elapsed < LIMIT_BUDGET_S
                    if response.status_code == 422:
                        problem = response.json()["problems"][0]
                        assert problem["code"] == "too_deep"
                        assert problem["node_id"] == "start" or problem["path"].startswith("nodes[")
        probe.assert_responsive()


async def test_deeply_nested_legacy_workflow_is_refused_never_a_500(
    server: AttackServer, headers: dict[str, str]
) -> None:
    workflow = (
        '{"nodes": [{"id": "n1", "type": "start", "data": {"deep": '
        + nested_json(200)
        + '}}, {"id": "n2", "type": "end"}], "edges": [{"source": "n1", "target": "n2"}]}'
    )
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=60) as http:
        bot = (await http.post("/api/v1/bots", json={"name": "legacy"})).raise_for_status().json()
        response = await http.put(
            f"/api/v1/bots/{bot['id']}/workflow",
            content=workflow,
            headers=JSON,
        )
    assert response.status_code == 422, response.text
    assert "levels" in response.text
