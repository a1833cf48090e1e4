"""What each V1 node did with the implicit context, written once for the converter and the adapter.

A V1 run shares one context: the start node puts the user's ``query`` (and the ``history``) in
it, a ``knowledge`` node writes the retrieved ``context``, an ``llm`` node writes the
``response``, and the end node answers with the ``response``. An ``llm`` node's user turn is the
query alone, or the query under the retrieved context once a knowledge node ran before it.

Both :mod:`snapagent.legacy.converter` (V1 -> V2 graph with explicit ports) and
:mod:`snapagent.legacy.adapter` (V1 nodes inside the V2 executor) derive their V2 node
configuration from :func:`v2_config`, so a migrated bot sends the model exactly what it sent
before.

    >>> from snapagent.legacy.schema import V1NodeModel
    >>> v2_config(V1NodeModel(id="l", type="llm", data={"temperature": 0.2}), has_context=False)
    {'prompt': '{{ query }}', 'temperature': 0.2}
"""

from __future__ import annotations

import re
from typing import Any, Final

from snapagent.legacy.schema import V1KnowledgeData, V1LLMData, V1NodeModel
from snapagent.legacy.validation import typed_data

__all__ = [
    "ANSWER_OUTPUT",
    "V1_CONTEXT_PROMPT",
    "V1_QUERY_PROMPT",
    "input_port",
    "literal_template",
    "reads",
    "v2_config",
    "writes",
]

# The legacy engine's user turn, with and without retrieved context.
V1_CONTEXT_PROMPT: Final = "Context:\n{{ context }}\n\nQuestion: {{ query }}"
V1_QUERY_PROMPT: Final = "{{ query }}"
ANSWER_OUTPUT: Final = "answer"

# Implicit-context keys each V1 node type reads and writes, and the V2 port that holds them.
_READS: Final[dict[str, tuple[str, ...]]] = {
    "start": (),
    "knowledge": ("query",),
    "llm": ("query", "history", "context"),
    "end": ("response",),
}
_WRITES: Final[dict[str, dict[str, str]]] = {
    "start": {"query": "query", "history": "history", "session_id": "session_id"},
    "knowledge": {"context": "documents"},
    "llm": {"response": "text"},
    "end": {},
}


def reads(node_type: str) -> tuple[str, ...]:
    """Context keys a V1 node type reads (``context`` only when a writer ran before it)."""
    return _READS[node_type]


def writes(node_type: str) -> dict[str, str]:
    """Context keys a V1 node type writes, mapped to the V2 output port holding the value."""
    return _WRITES[node_type]


def input_port(node_type: str, key: str) -> str:
    """The V2 input port that receives context ``key`` (the end node answers with ``response``)."""
    return ANSWER_OUTPUT if (node_type, key) == ("end", "response") else key


def literal_template(text: str) -> str:
    """A Jinja2 template that renders to exactly ``text``.

    V1 system prompts were plain text, but the V2 LLM node renders its prompts as templates:
    a brace that would open a tag is emitted through an expression, and a trailing newline
    (which Jinja drops by default) through another.

    >>> literal_template("Use {{ braces }}\\n")
    "Use {{ '{' }}{ braces }}{{ '\\\\n' }}"
    """
    out = re.sub(r"\{(?=[{%#])", "{{ '{' }}", text)
    if out.endswith("\n"):
        out = out[:-1] + "{{ '\\n' }}"
    return out


def v2_config(node: V1NodeModel, *, has_context: bool) -> dict[str, Any]:
    """The V2 node ``config`` equivalent to a validated V1 node.

    Only keys the V1 node set are written (plus the prompt), so V2 defaults - such as the
    bot's default model - apply exactly where they applied in V1.
    """
    data = typed_data(node)
    if isinstance(data, V1KnowledgeData):
        config: dict[str, Any] = {
            "knowledge_base_ids": list(data.knowledge_base_ids),
            "top_k": data.top_k,
        }
        if data.score_threshold is not None:
            config["score_threshold"] = data.score_threshold
        return config
    if isinstance(data, V1LLMData):
        config = {}
        if data.model is not None:
            config["model"] = data.model
        if data.system_prompt is not None:
            config["system_prompt"] = literal_template(data.system_prompt)
        config["prompt"] = V1_CONTEXT_PROMPT if has_context else V1_QUERY_PROMPT
        for key in ("temperature", "max_tokens"):
            value = getattr(data, key)
            if value is not None:
                config[key] = value
        return config
    if node.type == "end":
        return {"outputs": [ANSWER_OUTPUT]}
    return {}
