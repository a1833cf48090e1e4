"""The built-in node types, one module each, and `default_registry()`.

registry = default_registry()          # start, knowledge, llm, template, if_else, end, code, ...
registry.register(MyNode)              # each call returns a fresh registry to extend
"""

from __future__ import annotations

from snapagent.nodes.code import CodeNodeData, CodeNodeV2
from snapagent.nodes.end import EndNodeData, EndNodeV2
from snapagent.nodes.http_request import HttpRequestNodeData, HttpRequestNodeV2
from snapagent.nodes.if_else import IfElseNodeData, IfElseNodeV2
from snapagent.nodes.knowledge import KnowledgeNodeData, KnowledgeNodeV2
from snapagent.nodes.llm import LLMNodeData, LLMNodeV2
from snapagent.nodes.start import StartNodeData, StartNodeV2
from snapagent.nodes.template import TemplateNodeData, TemplateNodeV2
from snapagent.workflow.node import NodeRegistryV2

__all__ = [
    "CodeNodeData",
    "CodeNodeV2",
    "EndNodeData",
    "EndNodeV2",
    "HttpRequestNodeData",
    "HttpRequestNodeV2",
    "IfElseNodeData",
    "IfElseNodeV2",
    "KnowledgeNodeData",
    "KnowledgeNodeV2",
    "LLMNodeData",
    "LLMNodeV2",
    "StartNodeData",
    "StartNodeV2",
    "TemplateNodeData",
    "TemplateNodeV2",
    "default_registry",
]


def default_registry() -> NodeRegistryV2:
    """A new registry holding every built-in node type."""
    return NodeRegistryV2(
        [
            StartNodeV2,
            KnowledgeNodeV2,
            LLMNodeV2,
            TemplateNodeV2,
            IfElseNodeV2,
            EndNodeV2,
            CodeNodeV2,
            HttpRequestNodeV2,
        ]
    )
