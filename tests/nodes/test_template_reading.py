"""`TemplateReader`: short templates read in place, long ones in its worker within a deadline,
what it found cached; validation and rendering both go through it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from snapagent.errors import DefinitionError, NodeExecutionError
from snapagent.jinja import read_template
from snapagent.nodes import default_registry
from snapagent.nodes.template_reading import INLINE_CHARS, TemplateReader
from snapagent.nodes.templating import TemplateRenderer, TemplateSettings
from snapagent.testing import GraphBuilder
from snapagent.workflow import validate_graph

LONG = "Context: {{ context }}\n" + "{{ a }} and {{ b.title }}. " * 200 + "Q: {{ query }}"


@pytest.fixture
async def reader() -> AsyncIterator[TemplateReader]:
    made = TemplateReader(timeout_s=30, memory_mb=256)
    try:
        yield made
    finally:
        await made.close()


async def test_short_templates_are_read_in_place(reader: TemplateReader) -> None:
    facts = await reader.read_async("Q: {{ query }}")
    assert facts.variables == ("query",)
    assert facts.substitution is not None
    assert reader._pool is None  # no worker was started


async def test_long_templates_are_read_in_the_worker_and_cached(reader: TemplateReader) -> None:
    assert len(LONG) > INLINE_CHARS
    facts = await reader.read_async(LONG)
    assert facts == read_template(LONG)  # exactly what reading in place finds
    assert facts.variables == ("a", "b", "context", "query")
    assert reader._pool is not None
    await reader.close()  # the cache answers without a worker
    assert reader.read(LONG) == facts
    assert reader._pool is None


def test_syntax_errors_of_long_templates_name_the_line() -> None:
    reader = TemplateReader(timeout_s=30, memory_mb=256)
    try:
        with pytest.raises(DefinitionError, match="syntax error on line 3") as caught:
            reader.read("x" * INLINE_CHARS + "\n\n{% for x in %}")  # from a thread: the worker
        assert caught.value.details == {"line": 3}
        assert reader._pool is not None
    finally:
        reader.close_blocking()


def test_a_read_past_the_deadline_is_a_definition_error() -> None:
    reader = TemplateReader(timeout_s=0.2, memory_mb=256)
    try:
        with pytest.raises(DefinitionError, match=r"took longer than 0\.2 s to read"):
            reader.read("{{ a }}" * 140_000)  # ~1 MB of tags: seconds of parsing
        assert reader.read(LONG).variables  # the killed worker was replaced
    finally:
        reader.close_blocking()


async def test_on_an_event_loop_a_blocking_read_happens_in_place(reader: TemplateReader) -> None:
    assert reader.read(LONG).variables == ("a", "b", "context", "query")
    assert reader._pool is None


def test_validation_points_at_the_field_of_a_long_template() -> None:
    bad = "{{ query }}" + " " * INLINE_CHARS + "{% if %}"
    graph = (
        GraphBuilder()
        .node("start", "start")
        .node("llm", "llm", prompt=bad)
        .node("end", "end", outputs=["answer"])
        .edge("start", "llm")
        .edge("llm.text", "end.answer")
        .build()
    )
    problems = validate_graph(graph, default_registry())
    assert [p.path for p in problems] == ["nodes[1].config.prompt"]
    assert "syntax error" in problems[0].message


async def test_rendering_a_template_that_cannot_be_read_fails_the_node() -> None:
    renderer = TemplateRenderer(TemplateSettings(read_timeout_s=0.2))
    try:
        with pytest.raises(NodeExecutionError, match=r"template of node 't': .*0\.2 s to read"):
            await renderer.render("{{ a }}" * 140_000, {"a": 1}, node_id="t")
        text = await renderer.render(LONG, {"a": 1, "b": {"title": "T"}, "context": "c",
                                            "query": "q"}, node_id="t")  # fmt: skip
        assert text.startswith("Context: c\n1 and T. ")
    finally:
        await renderer.close()
