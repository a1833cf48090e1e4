"""The node catalogue: what an editor or importer needs to know about each node type.

    entries = describe_registry(default_registry())
    entries[0].type, entries[0].config_schema, entries[0].outputs      # "end", {...}, ()
    schema = node_ports(registry, "if_else", {"cases": [...]})          # a NodePortSchema
    # ... or `NodeConfigError` carrying every problem, each with its path under ``config``

The ports listed for a type are those of its ``default_config`` (the config a new node starts
with). Types whose ports depend on the config say so (``dynamic_ports``); an editor asks
`node_ports` for the ports of the config being edited, computed exactly as validation does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from snapagent.errors import DefinitionError
from snapagent.workflow.node import BaseNodeV2, NodeRegistryV2
from snapagent.workflow.schema import ErrorStrategy, NodePortSchema, WorkflowNode
from snapagent.workflow.validation import ValidationProblem, build_node, effective_ports

__all__ = [
    "NodeConfigError",
    "NodeTypeInfo",
    "describe_node_type",
    "describe_registry",
    "node_ports",
]

_PROBE_ID = "node"


@dataclass(frozen=True, slots=True)
class NodeTypeInfo:
    """One catalogue entry (the ``GET /api/v1/node-types`` item)."""

    type: str
    version: int
    title: str
    description: str
    category: str
    config_schema: dict[str, Any]
    default_config: dict[str, Any]
    ports: NodePortSchema
    dynamic_ports: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "version": self.version,
            "title": self.title,
            "description": self.description,
            "category": self.category,
            "config_schema": self.config_schema,
            "default_config": self.default_config,
            "inputs": [p.model_dump(mode="json") for p in self.ports.inputs],
            "outputs": [p.model_dump(mode="json") for p in self.ports.outputs],
            "branches": list(self.ports.branches),
            "dynamic_ports": self.dynamic_ports,
        }


class NodeConfigError(DefinitionError):
    """A config (or type) for which no ports can be computed; ``problems`` says why, each
    ``path`` relative to the node (``type``, ``config.cases.0.name``)."""

    def __init__(self, problems: list[ValidationProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems) or "invalid node config")
        self.problems = problems


def _default_ports(node_type: type[BaseNodeV2[Any]]) -> NodePortSchema:
    """The ports of the type's default config. A type whose default config is incomplete
    (a knowledge node needs knowledge bases) still has ports that do not depend on it: build
    the config without validation and ask; a type that cannot answer lists none."""
    config = dict(node_type.default_config)
    try:
        parsed = node_type.config_model.model_validate(config)
    except ValidationError:
        parsed = node_type.config_model.model_construct(**config)
    try:
        return node_type(_PROBE_ID, parsed).port_schema()
    except Exception:  # an incomplete config a type cannot describe: no ports to show
        return NodePortSchema()


@lru_cache(maxsize=256)
def describe_node_type(node_type: type[BaseNodeV2[Any]]) -> NodeTypeInfo:
    """The catalogue entry of one node type (cached: types are immutable classes)."""
    return NodeTypeInfo(
        type=node_type.type_key,
        version=node_type.version,
        title=node_type.title or node_type.type_key,
        description=node_type.description,
        category=node_type.category,
        config_schema=node_type.config_model.model_json_schema(),
        default_config=dict(node_type.default_config),
        ports=_default_ports(node_type),
        dynamic_ports=node_type.dynamic_ports,
    )


def describe_registry(registry: NodeRegistryV2) -> list[NodeTypeInfo]:
    """Every registered type, sorted by type key."""
    entries = []
    for key in registry.type_keys:
        node_type = registry.get(key)
        assert node_type is not None
        entries.append(describe_node_type(node_type))
    return entries


def node_ports(
    registry: NodeRegistryV2,
    type_key: str,
    config: Mapping[str, Any],
    *,
    error_strategy: ErrorStrategy = ErrorStrategy.FAIL_RUN,
) -> NodePortSchema:
    """The ports a node of ``type_key`` with ``config`` has in a graph (with the ``fail``
    branch and ``error`` output of ``fail_branch``). Raises `NodeConfigError`."""
    if type_key not in registry:
        known = ", ".join(registry.type_keys)
        message = f"unknown node type {type_key!r} (known types: {known})"
        raise NodeConfigError([ValidationProblem("unknown_node_type", message, path="type")])
    node = WorkflowNode(id=_PROBE_ID, type=type_key, config=dict(config))
    _instance, schema, problems = build_node(registry, node, "")
    if schema is None:
        label = f"node {_PROBE_ID!r} ({type_key}): "
        raise NodeConfigError([_relative(p, label) for p in problems])
    return effective_ports(schema, error_strategy)


def _relative(problem: ValidationProblem, label: str) -> ValidationProblem:
    """The problem as seen from the node itself: no node label, path under the node."""
    message = problem.message.removeprefix(label)
    return ValidationProblem(problem.code, message, path=problem.path.removeprefix(".") or "config")
