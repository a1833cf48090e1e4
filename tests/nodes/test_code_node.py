"""The ``code`` node end to end: real sandbox, real executor, every error strategy."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from snapagent.nodes import default_registry
from snapagent.sandbox import CodeSandbox, CodeSandboxSettings
from snapagent.workflow import ServiceContainer, WorkflowExecutorV2, WorkflowGraph
from snapagent.workflow.result import NodeStatus, RunStatus
from snapagent.workflow.validation import validate_graph

DOUBLE = "def main(x):\n    return {'y': x * 2, 'label': f'x={x}'}\n"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[CodeSandbox]:
    sandbox = CodeSandbox(CodeSandboxSettings(concurrency=1))
    yield sandbox
    sandbox.close_blocking()


@pytest.fixture
def executor(sandbox: CodeSandbox) -> WorkflowExecutorV2:
    return WorkflowExecutorV2(default_registry(), ServiceContainer(code_runner=sandbox))


def code_graph(
    code: str = DOUBLE,
    *,
    language: str = "python3",
    outputs: dict[str, str] | None = None,
    settings: dict[str, Any] | None = None,
    fail_branch: bool = False,
) -> WorkflowGraph:
    """start(x) -> code(x) -> end(answer = y); with ``fail_branch``, ``calc.fail`` -> a
    template answering "recovered"."""
    nodes: list[dict[str, Any]] = [
        {"id": "start", "type": "start", "config": {"inputs": [{"name": "x", "type": "integer"}]}},
        {
            "id": "calc",
            "type": "code",
            "config": {
                "language": language,
                "code": code,
                "inputs": [{"name": "x", "type": "integer"}],
                "outputs": outputs or {"y": "integer", "label": "string"},
            },
            **(settings or {}),
        },
        {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
    ]
    edges: list[dict[str, Any]] = [
        {"source": "start", "source_port": "x", "target": "calc", "target_port": "x"},
        {"source": "calc", "source_port": "y", "target": "end", "target_port": "answer"},
    ]
    if fail_branch:
        nodes.append({"id": "sorry", "type": "template", "config": {"template": "recovered"}})
        edges.append({"source": "calc", "source_port": "fail", "target": "sorry"})
        edges.append(
            {"source": "sorry", "source_port": "text", "target": "end", "target_port": "answer"}
        )
    return WorkflowGraph.from_json({"nodes": nodes, "edges": edges})


async def test_python_code_runs_with_inputs_as_keyword_arguments(
    executor: WorkflowExecutorV2,
) -> None:
    result = await executor.run(code_graph(), {"x": 21})
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.outputs == {"answer": 42}
    record = result.nodes["calc"]
    assert record.status is NodeStatus.SUCCEEDED
    assert record.inputs == {"x": 21}
    assert record.outputs == {"y": 42, "label": "x=21"}


async def test_javascript_code_gets_one_object(executor: WorkflowExecutorV2) -> None:
    code = "function main({x}) { return {y: x * 2, label: `x=${x}`}; }"
    result = await executor.run(code_graph(code, language="javascript"), {"x": 4})
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.nodes["calc"].outputs == {"y": 8, "label": "x=4"}


async def test_a_wrong_output_type_names_the_key(executor: WorkflowExecutorV2) -> None:
    code = "def main(x):\n    return {'y': 'not a number', 'label': 'ok'}\n"
    result = await executor.run(code_graph(code), {"x": 1})
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "output 'y' must be integer, got string" in result.error.message


async def test_a_missing_output_names_the_key(executor: WorkflowExecutorV2) -> None:
    result = await executor.run(code_graph("def main(x):\n    return {'y': 1}\n"), {"x": 1})
    assert result.error is not None
    assert "no output 'label'" in result.error.message


async def test_the_codes_own_exception_is_reported_with_its_line(
    executor: WorkflowExecutorV2,
) -> None:
    code = "def main(x):\n    y = 1\n    return {'y': x / 0}\n"
    result = await executor.run(code_graph(code), {"x": 1})
    assert result.error is not None
    assert "ZeroDivisionError: division by zero (line 3)" in result.error.message
    assert result.nodes["calc"].status is NodeStatus.FAILED


def test_bad_config_is_a_validation_problem_with_its_field() -> None:
    graph = code_graph(outputs={"y": "integr", "1bad": "string"})
    problems = validate_graph(graph, default_registry())
    assert {p.path for p in problems if p.node_id == "calc"} == {"nodes[1].config.outputs.y"}
    problems = validate_graph(code_graph(outputs={"1bad": "string"}), default_registry())
    assert [p.path for p in problems] == ["nodes[1].config.outputs"]
    assert "'1bad' is not an identifier" in problems[0].message
    graph = WorkflowGraph.from_json(
        {"nodes": [{"id": "c", "type": "code", "config": {"language": "cobol", "code": ""}}]}
    )
    problems = validate_graph(graph, default_registry())
    assert {"nodes[0].config.language", "nodes[0].config.code"} <= {p.path for p in problems}


@pytest.mark.parametrize(
    ("strategy", "status", "answer"),
    [
        ("fail_run", RunStatus.FAILED, None),
        ("default_value", RunStatus.SUCCEEDED, -1),
        ("fail_branch", RunStatus.SUCCEEDED, "recovered"),
    ],
)
async def test_a_failing_code_node_under_each_error_strategy(
    executor: WorkflowExecutorV2, strategy: str, status: RunStatus, answer: object
) -> None:
    graph = code_graph(
        "def main(x):\n    raise ValueError('bad input')\n",
        settings={"error_strategy": strategy, "default_outputs": {"y": -1, "label": ""}},
        fail_branch=strategy == "fail_branch",
    )
    result = await executor.run(graph, {"x": 1})
    assert result.status is status
    record = result.nodes["calc"]
    assert record.error is not None
    assert "ValueError: bad input" in record.error.message
    if answer is not None:
        assert result.outputs == {"answer": answer}


async def test_the_nodes_timeout_kills_the_code(executor: WorkflowExecutorV2) -> None:
    graph = code_graph("def main(x):\n    while True:\n        pass\n", settings={"timeout_s": 1})
    started = time.monotonic()
    result = await executor.run(graph, {"x": 1})
    elapsed = time.monotonic() - started
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.type == "NodeTimeoutError"
    assert elapsed < 5
    again = await executor.run(code_graph(), {"x": 2})  # the sandbox recovered
    assert again.outputs == {"answer": 4}


def test_the_code_node_is_registered_with_its_ports() -> None:
    registry = default_registry()
    assert "code" in registry
    node = registry.create(
        "c", "code", {"code": "def main(a): ...", "inputs": ["a"], "outputs": {"b": "number"}}
    )
    schema = node.port_schema()
    assert [p.name for p in schema.inputs] == ["a"]
    assert [(p.name, p.type.value) for p in schema.outputs] == [("b", "number")]
