"""`TemplateRenderer`: substitutions in place, everything else in a killable worker whose
deadline - the renderer's, or sooner the node's ``timeout_s`` - is honoured."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from snapagent.errors import NodeExecutionError, NodeTimeoutError
from snapagent.nodes import default_registry
from snapagent.nodes.templating import TemplateRenderer, TemplateSettings
from snapagent.testing import GraphBuilder
from snapagent.workflow import ServiceContainer, WorkflowExecutorV2
from snapagent.workflow.result import NodeStatus, RunStatus

FOREVER = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
MARGIN_S = 2.0
"""Killing and reporting after the deadline; generous for a loaded 2-core machine."""


@pytest.fixture
async def renderer() -> AsyncIterator[TemplateRenderer]:
    made = TemplateRenderer(TemplateSettings(timeout_s=0.5))
    try:
        yield made
    finally:
        await made.close()


async def _warm(renderer: TemplateRenderer) -> None:
    """Start the worker (its start-up is not part of any render's deadline)."""
    assert await renderer.render("{{ 1 + 1 }}", {}, node_id="warm") == "2"


async def test_substitutions_render_in_place_without_a_worker(renderer: TemplateRenderer) -> None:
    docs = [{"text": "Alpha.", "document_id": "d1", "document_title": "First"}]
    text = await renderer.render(
        "Context:\n{{ context }}\nQ: {{ query }} ({{ meta.lang }})",
        {"context": docs, "query": "{{ 7*7 }}?", "meta": {"lang": "en"}},
        node_id="llm",
    )
    assert text == "Context:\n[1] First\nAlpha.\nQ: {{ 7*7 }}? (en)"
    assert renderer._pool is None  # nothing was sent to a worker


async def test_everything_else_renders_in_a_worker(renderer: TemplateRenderer) -> None:
    docs = [{"text": "A.", "document_id": "1"}, {"text": "B.", "document_id": "2"}]
    text = await renderer.render(
        "{% for d in docs %}{{ loop.index }}:{{ d.text|upper }} {% endfor %}",
        {"docs": docs},
        node_id="t",
    )
    assert text == "1:A. 2:B. "
    assert renderer._pool is not None
    # A value the fast path does not print itself (a dict) goes to the worker too.
    assert await renderer.render("{{ x }}", {"x": {"a": 1}}, node_id="t") == "{'a': 1}"


async def test_a_render_past_the_deadline_is_killed_and_named(renderer: TemplateRenderer) -> None:
    await _warm(renderer)
    began = time.perf_counter()
    with pytest.raises(NodeTimeoutError, match=r"took longer than 0\.5 s to render"):
        await renderer.render(FOREVER, {}, node_id="slow")
    assert time.perf_counter() - began < 0.5 + MARGIN_S
    # The killed worker was replaced: the next template renders.
    assert await renderer.render("{{ 'ok'|upper }}", {}, node_id="t") == "OK"


async def test_the_nodes_timeout_stops_its_render_sooner() -> None:
    renderer = TemplateRenderer(TemplateSettings(timeout_s=60))
    try:
        await _warm(renderer)
        graph = (
            GraphBuilder()
            .node("start", "start")
            .node("t", "template", template=FOREVER, settings={"timeout_s": 0.3})
            .node("end", "end", outputs=["answer"])
            .edge("start", "t")
            .edge("t.text", "end.answer")
            .build()
        )
        executor = WorkflowExecutorV2(default_registry(), ServiceContainer(templates=renderer))
        began = time.perf_counter()
        result = await executor.run(graph, {"query": "hi"})
        elapsed = time.perf_counter() - began
        assert result.status is RunStatus.FAILED
        node = result.nodes["t"]
        assert node.status is NodeStatus.FAILED
        assert node.error is not None
        assert node.error.type == "NodeTimeoutError"
        assert elapsed < 0.3 + MARGIN_S
        assert await renderer.render("{{ 2 * 3 }}", {}, node_id="t") == "6"  # worker replaced
    finally:
        await renderer.close()


async def test_memory_past_the_workers_limit_is_a_node_error() -> None:
    settings = TemplateSettings(memory_mb=128, max_output_chars=100_000_000)
    renderer = TemplateRenderer(settings)
    try:
        with pytest.raises(NodeExecutionError, match="needed more than 128 MiB"):
            await renderer.render("{% set s = 'x' * 30000000 %}{{ s ~ s ~ s }}", {}, node_id="big")
    finally:
        await renderer.close()


async def test_substituted_output_is_bounded_too() -> None:
    renderer = TemplateRenderer(TemplateSettings(max_output_chars=1_000))
    with pytest.raises(NodeExecutionError, match="went over a limit"):
        await renderer.render("{{ a }}{{ a }}", {"a": "x" * 600}, node_id="t")
    assert renderer._pool is None
