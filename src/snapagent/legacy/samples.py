"""Generated V1 graphs - valid and deliberately malformed - for tests, scripts and benchmarks.

    >>> rag_workflow(kb_ids=["kb1"])["nodes"][1]["data"]["knowledge_base_ids"]
    ['kb1']
    >>> sorted(MALFORMED)[:3]
    ['bad_data', 'cycle', 'dangling_edge']

Every function returns fresh plain JSON (dicts and lists), exactly as stored on ``bots.workflow``.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from typing import Any, Final

__all__ = [
    "MALFORMED",
    "V2_INCOMPATIBLE",
    "chat_only_workflow",
    "generated_workflow",
    "rag_workflow",
]

JSON = dict[str, Any]


def _chain(nodes: list[JSON]) -> JSON:
    edges = [{"source": a["id"], "target": b["id"]} for a, b in itertools.pairwise(nodes)]
    return {"nodes": nodes, "edges": edges}


def rag_workflow(
    *,
    kb_ids: Sequence[str] = ("kb-1",),
    top_k: int = 3,
    model: str | None = "offline",
    system_prompt: str | None = "You answer from the context.",
    temperature: float | None = 0.7,
) -> JSON:
    """start -> knowledge -> llm -> end, the shape of ARCHITECTURE.md's example."""
    llm: JSON = {}
    if model is not None:
        llm["model"] = model
    if system_prompt is not None:
        llm["system_prompt"] = system_prompt
    if temperature is not None:
        llm["temperature"] = temperature
    return _chain(
        [
            {"id": "n1", "type": "start"},
            {
                "id": "n2",
                "type": "knowledge",
                "data": {"knowledge_base_ids": list(kb_ids), "top_k": top_k},
            },
            {"id": "n3", "type": "llm", "data": llm},
            {"id": "n4", "type": "end"},
        ]
    )


def chat_only_workflow(*, system_prompt: str = "Be brief.", model: str | None = None) -> JSON:
    """start -> llm -> end: a bot without knowledge."""
    data: JSON = {"system_prompt": system_prompt}
    if model is not None:
        data["model"] = model
    return _chain(
        [
            {"id": "start", "type": "start"},
            {"id": "llm", "type": "llm", "data": data},
            {"id": "end", "type": "end"},
        ]
    )


def _missing_node() -> JSON:
    wf = rag_workflow()
    del wf["nodes"][1]  # edges still point at n2
    return wf


def _unknown_type() -> JSON:
    wf = rag_workflow()
    wf["nodes"][1]["type"] = "web_search"
    return wf


def _cycle() -> JSON:
    wf = rag_workflow()
    wf["edges"].append({"source": "n3", "target": "n2"})
    return wf


def _bad_data() -> JSON:
    wf = rag_workflow()
    wf["nodes"][1]["data"]["top_k"] = "many"
    wf["nodes"][2]["data"]["temperature"] = 7
    return wf


def _no_start() -> JSON:
    wf = rag_workflow()
    wf["nodes"][0]["type"] = "knowledge"
    return wf


# Malformed graphs by name; each must be rejected by validation and left untouched by migration.
MALFORMED: Final[dict[str, Callable[[], Any]]] = {
    "missing_node": _missing_node,
    "unknown_type": _unknown_type,
    "cycle": _cycle,
    "empty_graph": lambda: {"nodes": [], "edges": []},
    "dangling_edge": lambda: {**rag_workflow(), "edges": [{"source": "n1", "target": "zz"}]},
    "bad_data": _bad_data,
    "no_start": _no_start,
    "not_an_object": lambda: ["n1", "n2"],
}


def generated_workflow(rng: random.Random, *, huge_prompt_chars: int = 60_000) -> JSON:
    """A valid V1 graph with varied settings: Korean/emoji text, sometimes a huge prompt."""
    roll = rng.random()
    prompts = [
        "You answer from the context.",
        "친절하게 한국어로 답하세요. 모르면 모른다고 하세요.",
        "Réponds en français, avec des sources. 🙂",
        "{{ not a template }} stays literal",
    ]
    prompt = rng.choice(prompts)
    if roll < 0.02:
        prompt = ("긴 시스템 프롬프트 " * (huge_prompt_chars // 10 + 1))[:huge_prompt_chars]
    if roll < 0.3:
        return chat_only_workflow(system_prompt=prompt, model=rng.choice([None, "offline"]))
    return rag_workflow(
        kb_ids=[f"kb-{rng.randrange(1000)}" for _ in range(rng.randint(1, 3))],
        top_k=rng.randint(1, 10),
        model=rng.choice([None, "offline", "claude-3-5-sonnet"]),
        system_prompt=prompt,
        temperature=rng.choice([None, 0.0, 0.3, 0.7, 1.0]),
    )


def _prompt_over_v2_limit() -> JSON:
    return chat_only_workflow(system_prompt="아주 긴 프롬프트 " * 12_000)  # ~120,000 chars


def _knowledge_without_bases() -> JSON:
    return rag_workflow(kb_ids=[])


# Valid V1 graphs the V2 engine cannot express: V1 still runs them; migration must report them.
V2_INCOMPATIBLE: Final[dict[str, Callable[[], Any]]] = {
    "prompt_over_v2_limit": _prompt_over_v2_limit,
    "knowledge_without_bases": _knowledge_without_bases,
}
