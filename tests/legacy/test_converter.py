"""The V1 -> V2 converter keeps every setting, makes the implicit context explicit, and is
deterministic."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from snapagent.legacy import LegacyWorkflowError
from snapagent.legacy.converter import convert_v1_to_v2_json
from snapagent.legacy.samples import MALFORMED, chat_only_workflow, generated_workflow, rag_workflow
from snapagent.legacy.semantics import V1_CONTEXT_PROMPT, V1_QUERY_PROMPT, literal_template


def by_id(graph: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in graph["nodes"]}


def test_rag_graph_keeps_every_setting() -> None:
    v1 = rag_workflow(
        kb_ids=["kb-a", "kb-b"],
        top_k=7,
        model="claude",
        temperature=0.3,
        system_prompt="Answer in Korean.",
    )
    nodes = by_id(convert_v1_to_v2_json(v1))
    assert [n["type"] for n in nodes.values()] == ["start", "knowledge", "llm", "end"]
    assert nodes["n2"]["config"] == {"knowledge_base_ids": ["kb-a", "kb-b"], "top_k": 7}
    assert nodes["n3"]["config"] == {
        "model": "claude",
        "system_prompt": "Answer in Korean.",
        "prompt": V1_CONTEXT_PROMPT,
        "temperature": 0.3,
    }
    assert nodes["n4"]["config"] == {"outputs": ["answer"]}


def test_implicit_context_becomes_edges_and_selectors() -> None:
    graph = convert_v1_to_v2_json(rag_workflow())
    assert graph["edges"] == [
        {"source": "n1", "source_port": "query", "target": "n2", "target_port": "query"},
        {"source": "n2", "source_port": "documents", "target": "n3", "target_port": "context"},
        {"source": "n3", "source_port": "text", "target": "n4", "target_port": "answer"},
    ]
    # The llm node's query and history come from the start node two hops up: by selector.
    assert by_id(graph)["n3"]["inputs"] == {
        "query": {"selector": ["n1", "query"]},
        "history": {"selector": ["n1", "history"]},
    }


def test_without_knowledge_the_prompt_is_the_query() -> None:
    nodes = by_id(convert_v1_to_v2_json(chat_only_workflow(system_prompt="Be brief.")))
    assert nodes["llm"]["config"] == {"system_prompt": "Be brief.", "prompt": V1_QUERY_PROMPT}
    assert "model" not in nodes["llm"]["config"]  # the bot's default model keeps applying


def test_unset_values_stay_unset_and_defaults_are_explicit() -> None:
    v1 = rag_workflow(model=None, system_prompt=None, temperature=None)
    del v1["nodes"][1]["data"]["top_k"]
    nodes = by_id(convert_v1_to_v2_json(v1))
    assert nodes["n2"]["config"]["top_k"] == 4
    assert nodes["n3"]["config"] == {"prompt": V1_CONTEXT_PROMPT}


def test_edge_without_a_value_stays_a_control_edge() -> None:
    v1 = {
        "nodes": [
            {"id": "s", "type": "start"},
            {"id": "a", "type": "llm"},
            {"id": "b", "type": "llm", "data": {"system_prompt": "second"}},
            {"id": "e", "type": "end"},
        ],
        "edges": [
            {"source": "s", "target": "a"},
            {"source": "a", "target": "b"},
            {"source": "b", "target": "e"},
        ],
    }
    graph = convert_v1_to_v2_json(v1)
    assert {"source": "a", "target": "b"} in graph["edges"]
    # The end node answers with the response of the LAST llm, as the shared context did.
    assert {"source": "b", "source_port": "text", "target": "e", "target_port": "answer"} in (
        graph["edges"]
    )


def test_titles_come_from_editor_metadata() -> None:
    v1 = rag_workflow()
    v1["nodes"][2]["title"] = "답변 생성"
    assert by_id(convert_v1_to_v2_json(v1))["n3"]["title"] == "답변 생성"


def test_conversion_is_deterministic_and_does_not_touch_its_input() -> None:
    rng = random.Random(3)
    for _ in range(50):
        v1 = generated_workflow(rng, huge_prompt_chars=1000)
        before = copy.deepcopy(v1)
        assert convert_v1_to_v2_json(v1) == convert_v1_to_v2_json(copy.deepcopy(v1))
        assert v1 == before


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_graphs_are_refused(name: str) -> None:
    with pytest.raises(LegacyWorkflowError):
        convert_v1_to_v2_json(MALFORMED[name]())


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        "Use {{ braces }} and {% raw %} and {# x #}",
        "끝에 줄바꿈\n",
        "{%- endraw %}\n\n",
        "",
    ],
)
def test_system_prompts_render_back_to_the_exact_v1_text(text: str) -> None:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    assert env.from_string(literal_template(text)).render() == text
