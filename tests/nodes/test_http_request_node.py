"""The ``http_request`` node against a real local server, with the SSRF guard in the path."""

from __future__ import annotations

import time
from typing import Any

import pytest

from snapagent.nodes import default_registry
from snapagent.testing.http_server import LocalHttpServer
from snapagent.workflow import WorkflowExecutorV2, WorkflowGraph
from snapagent.workflow.result import NodeStatus, RunStatus
from snapagent.workflow.validation import validate_graph


@pytest.fixture
def server(local_server: LocalHttpServer) -> LocalHttpServer:
    """A local server, and an allow-list naming exactly its address (the conftest's)."""
    return local_server


@pytest.fixture
def executor() -> WorkflowExecutorV2:
    return WorkflowExecutorV2(default_registry())


def http_graph(
    config: dict[str, Any], *, settings: dict[str, Any] | None = None, fail_branch: bool = False
) -> WorkflowGraph:
    """start(query, n) -> http_request(config) -> end(answer = body, status)."""
    nodes: list[dict[str, Any]] = [
        {"id": "start", "type": "start", "config": {"inputs": [{"name": "n", "type": "integer"}]}},
        {
            "id": "api",
            "type": "http_request",
            "config": config,
            "inputs": {
                "q": {"selector": ["start", "query"]},
                "n": {"selector": ["start", "n"]},
            },
            **(settings or {}),
        },
        {"id": "end", "type": "end", "config": {"outputs": ["answer", "status"]}},
    ]
    edges: list[dict[str, Any]] = [
        {"source": "start", "target": "api"},
        {"source": "api", "source_port": "body", "target": "end", "target_port": "answer"},
        {"source": "api", "source_port": "status_code", "target": "end", "target_port": "status"},
    ]
    if fail_branch:  # the failed branch produces no status: the end takes the answer only
        nodes[2]["config"] = {"outputs": ["answer"]}
        edges.pop(2)
        nodes.append({"id": "sorry", "type": "template", "config": {"template": "recovered"}})
        edges.append({"source": "api", "source_port": "fail", "target": "sorry"})
        edges.append(
            {"source": "sorry", "source_port": "text", "target": "end", "target_port": "answer"}
        )
    try:  # wire only the inputs the templates read (a bad config has none to compute)
        api = default_registry().create("api", "http_request", config)
        used = {p.name for p in api.port_schema().inputs}
    except ValueError:
        used = set()
    nodes[1]["inputs"] = {k: v for k, v in nodes[1]["inputs"].items() if k in used}
    return WorkflowGraph.from_json({"nodes": nodes, "edges": edges})


async def test_a_get_with_templated_url_params_and_headers(
    server: LocalHttpServer, executor: WorkflowExecutorV2
) -> None:
    config = {
        "url": server.url("/echo"),
        "params": {"q": "{{ q }}", "n": "{{ n }}"},
        "headers": {"X-Query": "about {{ q }}"},
    }
    result = await executor.run(http_graph(config), {"query": "cats", "n": 3})
    assert result.status is RunStatus.SUCCEEDED, result.error
    record = result.nodes["api"]
    assert record.inputs == {"q": "cats", "n": 3}
    assert record.outputs["status_code"] == 200
    assert record.outputs["headers"]["x-test"] == "yes"
    echoed = record.outputs["json"]
    assert echoed["query"] == {"q": "cats", "n": "3"}
    assert echoed["headers"]["x-query"] == "about cats"
    assert result.outputs["status"] == 200


@pytest.mark.parametrize(
    ("body", "sent", "content_type"),
    [
        (
            {"type": "json", "json": {"n": "{{ n }}", "text": "n={{ n }}", "list": ["{{ q }}"]}},
            '{"n": 3, "text": "n=3", "list": ["cats"]}',
            "application/json",
        ),
        ({"type": "form", "form": {"q": "{{ q }}"}}, "q=cats", "application/x-www-form-urlencoded"),
        ({"type": "raw", "raw": "q={{ q }}"}, "q=cats", "text/plain; charset=utf-8"),
    ],
)
async def test_bodies_of_each_type(
    server: LocalHttpServer,
    executor: WorkflowExecutorV2,
    body: dict[str, Any],
    sent: str,
    content_type: str,
) -> None:
    config = {"method": "POST", "url": server.url("/echo"), "body": body}
    result = await executor.run(http_graph(config), {"query": "cats", "n": 3})
    assert result.status is RunStatus.SUCCEEDED, result.error
    echoed = result.nodes["api"].outputs["json"]
    assert echoed["body"].replace(" ", "") == sent.replace(" ", "")
    assert echoed["headers"]["content-type"] == content_type


async def test_text_bodies_and_error_statuses_are_outputs(
    server: LocalHttpServer, executor: WorkflowExecutorV2
) -> None:
    result = await executor.run(http_graph({"url": server.url("/text")}), {"n": 1})
    assert result.outputs == {"answer": "héllo", "status": 200}
    assert result.nodes["api"].outputs["json"] is None
    result = await executor.run(http_graph({"url": server.url("/status/503")}), {"n": 1})
    assert result.status is RunStatus.SUCCEEDED
    assert result.outputs["status"] == 503
    failing = {"url": server.url("/status/503"), "fail_on_error_status": True}
    result = await executor.run(http_graph(failing), {"n": 1})
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "answered 503" in result.error.message


def test_bad_config_is_a_validation_problem_with_its_field() -> None:
    bad = {
        "method": "FETCH",
        "url": "ftp://example.com/",
        "headers": {"Bad Header": "x"},
        "body": {"type": "xml"},
    }
    problems = validate_graph(http_graph(bad), default_registry())
    paths = {p.path for p in problems if p.node_id == "api"}
    assert {
        "nodes[1].config.method",
        "nodes[1].config.url",
        "nodes[1].config.headers",
        "nodes[1].config.body.type",
    } <= paths
    problems = validate_graph(http_graph({"url": "http://169.254.169.254/x"}), default_registry())
    assert any("cloud metadata" in p.message for p in problems)


@pytest.mark.parametrize(
    ("strategy", "status", "answer"),
    [
        ("fail_run", RunStatus.FAILED, None),
        ("default_value", RunStatus.SUCCEEDED, "unavailable"),
        ("fail_branch", RunStatus.SUCCEEDED, "recovered"),
    ],
)
async def test_a_refused_destination_under_each_error_strategy(
    server: LocalHttpServer,
    executor: WorkflowExecutorV2,
    strategy: str,
    status: RunStatus,
    answer: object,
) -> None:
    target = f"http://127.0.0.2:{server.port}/echo"  # loopback, outside the allow-list
    graph = http_graph(
        {"url": server.url("/redirect?to=" + target)},
        settings={
            "error_strategy": strategy,
            "default_outputs": {"body": "unavailable", "status_code": 0},
        },
        fail_branch=strategy == "fail_branch",
    )
    result = await executor.run(graph, {"n": 1})
    assert result.status is status
    record = result.nodes["api"]
    assert record.error is not None
    assert "127.0.0.2 refused: loopback address" in record.error.message
    if answer is not None:
        assert result.outputs["answer"] == answer
    assert [r.path.split("?")[0] for r in server.requests] == ["/redirect"]


async def test_a_slow_server_hits_the_timeout(
    server: LocalHttpServer, executor: WorkflowExecutorV2
) -> None:
    started = time.monotonic()
    result = await executor.run(
        http_graph({"url": server.url("/slow?s=5"), "timeout_s": 0.5}), {"n": 1}
    )
    assert time.monotonic() - started < 3
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.type == "NodeTimeoutError"
    assert result.nodes["api"].status is NodeStatus.FAILED


async def test_reading_stops_past_the_response_size_limit(
    server: LocalHttpServer, executor: WorkflowExecutorV2
) -> None:
    config = {"url": server.url("/big?size=50000000"), "max_response_bytes": 100_000}
    started = time.monotonic()
    result = await executor.run(http_graph(config), {"n": 1})
    assert time.monotonic() - started < 10
    assert result.error is not None
    assert "larger than 100000 bytes" in result.error.message


def test_ports_come_from_every_template() -> None:
    node = default_registry().create(
        "api",
        "http_request",
        {
            "url": "https://{{ host }}/x",
            "headers": {"A": "{{ token }}"},
            "params": {"p": "{{ page }}"},
            "body": {"type": "json", "json": {"k": ["{{ item }}"]}},
        },
    )
    schema = node.port_schema()
    assert [p.name for p in schema.inputs] == ["host", "item", "page", "token"]
    assert [p.name for p in schema.outputs] == ["status_code", "headers", "body", "json"]
