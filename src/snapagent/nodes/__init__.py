"""The built-in node types, one module each, and `default_registry()`.

registry = default_registry()          # every built-in type (the catalogue: GET /api/v1/node-types)
registry.register(MyNode)              # each call returns a fresh registry to extend
"""

from __future__ import annotations

from snapagent.nodes.agent import AgentNodeData, AgentNodeV2
from snapagent.nodes.answer import AnswerNodeData, AnswerNodeV2
from snapagent.nodes.code import CodeNodeData, CodeNodeV2
from snapagent.nodes.document_extractor import DocumentExtractorNodeData, DocumentExtractorNodeV2
from snapagent.nodes.end import EndNodeData, EndNodeV2
from snapagent.nodes.http_request import HttpRequestNodeData, HttpRequestNodeV2
from snapagent.nodes.if_else import IfElseNodeData, IfElseNodeV2
from snapagent.nodes.iteration import IterationNodeData, IterationNodeV2
from snapagent.nodes.knowledge import KnowledgeNodeData, KnowledgeNodeV2
from snapagent.nodes.llm import LLMNodeData, LLMNodeV2
from snapagent.nodes.loop import LoopNodeData, LoopNodeV2
from snapagent.nodes.parameter_extractor import ParameterExtractorNodeData, ParameterExtractorNodeV2
from snapagent.nodes.placeholder import PlaceholderNodeData, PlaceholderNodeV2
from snapagent.nodes.question_classifier import QuestionClassifierNodeData, QuestionClassifierNodeV2
from snapagent.nodes.start import StartNodeData, StartNodeV2
from snapagent.nodes.template import TemplateNodeData, TemplateNodeV2
from snapagent.nodes.variable_aggregator import VariableAggregatorNodeData, VariableAggregatorNodeV2
from snapagent.nodes.variable_assigner import VariableAssignerNodeData, VariableAssignerNodeV2
from snapagent.workflow.node import NodeRegistryV2

__all__ = [
    "AgentNodeData",
    "AgentNodeV2",
    "AnswerNodeData",
    "AnswerNodeV2",
    "CodeNodeData",
    "CodeNodeV2",
    "DocumentExtractorNodeData",
    "DocumentExtractorNodeV2",
    "EndNodeData",
    "EndNodeV2",
    "HttpRequestNodeData",
    "HttpRequestNodeV2",
    "IfElseNodeData",
    "IfElseNodeV2",
    "IterationNodeData",
    "IterationNodeV2",
    "KnowledgeNodeData",
    "KnowledgeNodeV2",
    "LLMNodeData",
    "LLMNodeV2",
    "LoopNodeData",
    "LoopNodeV2",
    "ParameterExtractorNodeData",
    "ParameterExtractorNodeV2",
    "PlaceholderNodeData",
    "PlaceholderNodeV2",
    "QuestionClassifierNodeData",
    "QuestionClassifierNodeV2",
    "StartNodeData",
    "StartNodeV2",
    "TemplateNodeData",
    "TemplateNodeV2",
    "VariableAggregatorNodeData",
    "VariableAggregatorNodeV2",
    "VariableAssignerNodeData",
    "VariableAssignerNodeV2",
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
            AnswerNodeV2,
            QuestionClassifierNodeV2,
            ParameterExtractorNodeV2,
            VariableAggregatorNodeV2,
            IterationNodeV2,
            LoopNodeV2,
            VariableAssignerNodeV2,
            CodeNodeV2,
            HttpRequestNodeV2,
            DocumentExtractorNodeV2,
            AgentNodeV2,
            PlaceholderNodeV2,
        ]
    )
