"""start, end, template and if_else nodes on their own."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from snapagent.errors import InputValidationError, NodeExecutionError
from snapagent.nodes import default_registry
from snapagent.workflow import NodeResult, PortType, ServiceContainer

from .conftest import context, make_node


def test_default_registry_has_the_builtin_types() -> None:
    registry = default_registry()
    assert registry.type_keys == [
        "agent",
        "answer",
        "code",
        "document_extractor",
        "end",
        "http_request",
        "if_else",
        "iteration",
        "knowledge",
        "llm",
        "loop",
        "parameter_extractor",
        "placeholder",
        "question_classifier",
        "start",
        "template",
        "variable_aggregator",
        "variable_assigner",
    ]
    assert all(v >= 1 for v in registry.versions().values())
    assert default_registry() is not registry  # each call is a fresh registry


async def test_start_outputs_builtins_and_declared_inputs(services: ServiceContainer) -> None:
    node = make_node(
        "start",
        inputs=[
            {"name": "lang", "type": "string", "required": False, "default": "en"},
            {"name": "limit", "type": "integer"},
            {"name": "strict", "type": "boolean", "required": False},
        ],
    )
    names = [p.name for p in node.port_schema().outputs]
    assert names == ["query", "session_id", "history", "lang", "limit", "strict"]
    assert node.port_schema().output("history").type is PortType.MESSAGES  # type: ignore[union-attr]
    history = [{"role": "user", "content": "hi"}]
    given = {"query": "q", "session_id": "s", "history": history, "limit": "5"}
    out = await node.run({}, context(services, given))
    assert out == {
        "query": "q",
        "session_id": "s",
        "history": history,
        "lang": "en",
        "limit": 5,
        "strict": None,
    }


async def test_start_rejects_missing_and_mistyped_inputs(services: ServiceContainer) -> None:
    node = make_node("start", inputs=[{"name": "limit", "type": "integer"}])
    with pytest.raises(InputValidationError, match="needs input 'limit'") as info:
        await node.run({}, context(services, {"query": "q"}))
    assert info.value.field == "limit"
    with pytest.raises(InputValidationError, match="must be integer"):
        await node.run({}, context(services, {"limit": "five"}))


def test_start_config_rejects_builtin_and_duplicate_names() -> None:
    with pytest.raises(ValidationError, match="built in"):
        make_node("start", inputs=[{"name": "query"}])
    with pytest.raises(ValidationError, match="twice"):
        make_node("start", inputs=[{"name": "a"}, {"name": "a"}])


async def test_end_passes_its_inputs_through(services: ServiceContainer) -> None:
    node = make_node("end", outputs=["answer", "sources"])
    assert [p.name for p in node.port_schema().inputs] == ["answer", "sources"]
    assert await node.run({"answer": "A"}, context(services)) == {"answer": "A", "sources": None}
    with pytest.raises(ValidationError):
        make_node("end", outputs=["a", "a"])


async def test_template_ports_come_from_the_template(services: ServiceContainer) -> None:
    node = make_node("template", template="{{ greeting }}, {{ name | upper }}!")
    assert [p.name for p in node.port_schema().inputs] == ["greeting", "name"]
    out = await node.run({"greeting": "Hi", "name": "{{ 7*7 }}"}, context(services))
    assert out == {"text": "Hi, {{ 7*7 }}!"}


async def test_template_renders_documents_as_numbered_text(services: ServiceContainer) -> None:
    docs = [
        {"text": "Alpha.", "document_id": "d1", "document_title": "First", "score": 1.0},
        {"text": "Beta.", "document_id": "d2", "document_title": "Second", "score": 0.5},
    ]
    node = make_node("template", template="{{ docs }}")
    out = await node.run({"docs": docs}, context(services))
    assert out["text"] == "[1] First\nAlpha.\n\n[2] Second\nBeta."
    loop = make_node("template", template="{% for d in docs %}{{ d.text }}{% endfor %}")
    assert (await loop.run({"docs": docs}, context(services)))["text"] == "Alpha.Beta."


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ missing }}", "'missing' is undefined"),
        ("{{ ''.__class__.__mro__ }}", "unsafe"),
        ("{{ items.append(1) }}", "unsafe"),
        ("{{ 'x' * 100000000 }}", "over a limit"),
        ("{{ [1] * 100000000 }}", "over a limit"),
        ("{{ 10 ** 100000 }}", "over a limit"),
        ("{% for i in range(10**7) %}{% endfor %}", "a range of"),
    ],
)
async def test_template_errors_are_clear(
    services: ServiceContainer, template: str, message: str
) -> None:
    node = make_node("template", template=template)
    with pytest.raises(NodeExecutionError, match=message):
        await node.run({"items": []}, context(services))


def if_else(**config: Any) -> Any:
    return make_node("if_else", **config)


@pytest.mark.parametrize(
    ("operator", "value", "actual", "holds"),
    [
        ("equals", "a", "a", True),
        ("not_equals", "a", "a", False),
        ("contains", "ell", "hello", True),
        ("contains", "x", ["x", "y"], True),
        ("not_contains", "z", "hello", True),
        ("starts_with", "he", "hello", True),
        ("ends_with", "lo", "hello", True),
        ("is_empty", None, "", True),
        ("is_empty", None, [], True),
        ("is_not_empty", None, "x", True),
        ("greater_than", 3, 5, True),
        ("greater_than", 3, "5", True),
        ("greater_than", 3, "five", False),
        ("less_than", 3, 5, False),
        ("greater_or_equal", 5, 5, True),
        ("less_or_equal", 5, 6, False),
        ("in", ["a", "b"], "a", True),
        ("not_in", ["a", "b"], "c", True),
    ],
)
async def test_if_else_operators(
    services: ServiceContainer, operator: str, value: Any, actual: Any, holds: bool
) -> None:
    node = if_else(cases=[{"conditions": [{"input": "x", "operator": operator, "value": value}]}])
    assert node.port_schema().branches == ("true", "false")
    result = await node.run({"x": actual}, context(services))
    assert isinstance(result, NodeResult)
    assert result.branch == ("true" if holds else "false")


async def test_if_else_named_cases_first_match_wins(services: ServiceContainer) -> None:
    node = if_else(
        cases=[
            {"name": "short", "conditions": [{"input": "n", "operator": "less_than", "value": 3}]},
            {
                "name": "mid",
                "logic": "or",
                "conditions": [
                    {"input": "n", "operator": "less_than", "value": 10},
                    {"input": "tag", "operator": "equals", "value": "mid"},
                ],
            },
        ]
    )
    schema = node.port_schema()
    assert schema.branches == ("short", "mid", "else")
    assert [p.name for p in schema.inputs] == ["n", "tag"]
    branch = {}
    for n, tag in ((1, None), (5, None), (50, "mid"), (50, None)):
        result = await node.run({"n": n, "tag": tag}, context(services))
        branch[(n, tag)] = result.branch
    assert branch == {(1, None): "short", (5, None): "mid", (50, "mid"): "mid", (50, None): "else"}


def test_if_else_config_errors() -> None:
    cond = [{"input": "x", "operator": "equals", "value": 1}]
    with pytest.raises(ValidationError, match="needs a name"):
        if_else(cases=[{"conditions": cond}, {"name": "b", "conditions": cond}])
    with pytest.raises(ValidationError, match="unique"):
        if_else(cases=[{"name": "a", "conditions": cond}, {"name": "a", "conditions": cond}])
    with pytest.raises(ValidationError, match="fallback"):
        if_else(cases=[{"name": "else", "conditions": cond}])
    with pytest.raises(ValidationError, match="operator"):
        if_else(cases=[{"conditions": [{"input": "x", "operator": "resembles"}]}])


def test_nodes_public_names() -> None:
    import snapagent.nodes as nodes

    assert nodes.__all__ == sorted(nodes.__all__)
    assert all(hasattr(nodes, name) for name in nodes.__all__)
    for key in ("Start", "Knowledge", "LLM", "Template", "IfElse", "End"):
        assert f"{key}NodeV2" in nodes.__all__
        assert f"{key}NodeData" in nodes.__all__
