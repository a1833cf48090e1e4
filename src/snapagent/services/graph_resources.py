"""`GraphResources`: the resources a graph names, checked against the account that owns it.

Static validation (`snapagent.workflow.validation`) knows nothing about accounts; this adds
what only the database and the configured providers know:

- every knowledge base a node names must exist and belong to the bot's owner (one query per
  graph; a missing and a foreign knowledge base get the same message, so validation never
  reveals whether another account's id exists);
- every bot a node calls (the agent's workflow tools) must exist and belong to the same owner
  (same rule, same one message);
- every chat model a node uses (its own ``model``, else the bot's default, else the
  provider's) must name a known provider whose credentials are configured;
- a V2 draft never contains a legacy adapter type (``v1_*``): those run only bots' V1
  workflows, from a registry of their own.

Problems have the engine's shape (``code``, ``message``, ``node_id``, ``edge_index``,
``path``), so callers list them beside the engine's.

    resources = GraphResources(chat_models=ChatModelRegistry())
    problems = await resources.problems(session, owner_id, graph, registry, default_model=None)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, runtime_checkable

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.models.bots import Bot
from snapagent.db.models.knowledge import KnowledgeBase
from snapagent.errors import DefinitionError, NotFoundError, ProviderError
from snapagent.workflow.node import BaseNodeV2, NodeRegistryV2, ResourceRef
from snapagent.workflow.schema import WorkflowGraph
from snapagent.workflow.services import ChatModelProvider
from snapagent.workflow.subgraph import SubgraphNode

__all__ = ["LEGACY_TYPE_PREFIX", "GraphResources", "ModelChecker", "NodeResource"]

LEGACY_TYPE_PREFIX: Final = "v1_"
# Bodies nested deeper than any graph may validly nest are not searched (validation refuses
# them anyway); a hostile graph cannot make this recurse without bound.
_MAX_BODY_DEPTH: Final = 10


@runtime_checkable
class ModelChecker(Protocol):
    """A chat model provider that can tell whether a model id is usable without building a
    client (`snapagent.llm.ChatModelRegistry.check`)."""

    def check(self, model_id: str | None) -> None: ...


@dataclass(frozen=True, slots=True)
class NodeResource:
    """One resource reference, located in the submitted document."""

    node_id: str
    node_path: str
    """Where the node is: ``nodes[3]``."""
    ref: ResourceRef

    @property
    def path(self) -> str:
        return f"{self.node_path}.{self.ref.path}"


def _problem(code: str, message: str, node_id: str | None, path: str) -> dict[str, Any]:
    return {"code": code, "message": message, "node_id": node_id, "edge_index": None, "path": path}


def graph_resources(
    graph: WorkflowGraph, registry: NodeRegistryV2, *, _prefix: str = "", _depth: int = 0
) -> list[NodeResource]:
    """Every resource the graph's nodes name (unknown types: by the default convention),
    including those of the nodes inside iteration/loop bodies, with their full paths."""
    found = []
    for index, node in enumerate(graph.nodes):
        node_type = registry.get(node.type) or BaseNodeV2
        node_path = f"{_prefix}nodes[{index}]"
        for ref in node_type.resources(node.config):
            found.append(NodeResource(node.id, node_path, ref))
        if issubclass(node_type, SubgraphNode) and _depth < _MAX_BODY_DEPTH:
            try:
                body = WorkflowGraph.from_json(node.config.get(node_type.body_field))
            except ValidationError:
                continue  # validation reports the malformed body
            inner = f"{node_path}.config.{node_type.body_field}."
            found += graph_resources(body, registry, _prefix=inner, _depth=_depth + 1)
    return found


class GraphResources:
    """Checks graphs against accounts and providers; one per app (see the module docstring).

    Without ``chat_models`` model ids are not checked (knowledge bases always are).
    """

    def __init__(self, chat_models: ChatModelProvider | None = None) -> None:
        self.chat_models = chat_models

    def model_error(self, model_id: str | None) -> str | None:
        """Why ``model_id`` (None: the provider's default) cannot be used, or None."""
        provider = self.chat_models
        if provider is None:
            return None
        try:
            if isinstance(provider, ModelChecker):
                provider.check(model_id)
            else:
                provider.resolve(model_id)
        except (DefinitionError, NotFoundError, ProviderError) as exc:
            return exc.message
        return None

    async def knowledge_base_problems(
        self, session: AsyncSession, owner_id: str, resources: Iterable[NodeResource]
    ) -> list[dict[str, Any]]:
        """A problem per reference to a knowledge base ``owner_id`` does not own."""
        refs = [r for r in resources if r.ref.kind == "knowledge_base"]
        if not refs:
            return []
        wanted = sorted({r.ref.value for r in refs if r.ref.value})
        owned = set(
            await session.scalars(
                select(KnowledgeBase.id).where(
                    KnowledgeBase.id.in_(wanted), KnowledgeBase.owner_id == owner_id
                )
            )
        )
        return [
            _problem(
                "unknown_knowledge_base",
                f"node {r.node_id!r}: knowledge base {r.ref.value!r} not found "
                "(it does not exist or belongs to another account)",
                r.node_id,
                r.path,
            )
            for r in refs
            if r.ref.value not in owned
        ]

    async def bot_problems(
        self, session: AsyncSession, owner_id: str, resources: Iterable[NodeResource]
    ) -> list[dict[str, Any]]:
        """A problem per reference to a bot ``owner_id`` does not own (one query)."""
        refs = [r for r in resources if r.ref.kind == "bot"]
        if not refs:
            return []
        wanted = sorted({r.ref.value for r in refs if r.ref.value})
        owned = set(
            await session.scalars(
                select(Bot.id).where(Bot.id.in_(wanted), Bot.owner_id == owner_id)
            )
        )
        return [
            _problem(
                "unknown_bot",
                f"node {r.node_id!r}: bot {r.ref.value!r} not found "
                "(it does not exist or belongs to another account)",
                r.node_id,
                r.path,
            )
            for r in refs
            if r.ref.value not in owned
        ]

    def model_problems(
        self, resources: Iterable[NodeResource], *, default_model: str | None
    ) -> list[dict[str, Any]]:
        """A problem per node whose chat model (its own, else ``default_model``, the bot's,
        else the provider's default) cannot be used."""
        problems = []
        verdicts: dict[str | None, str | None] = {}
        for r in resources:
            if r.ref.kind != "chat_model":
                continue
            model = r.ref.value or default_model
            if model not in verdicts:
                verdicts[model] = self.model_error(model)
            error = verdicts[model]
            if error is None:
                continue
            if r.ref.value:
                whose = f"model {model!r}"
            elif model:
                whose = f"the bot's default model {model!r}"
            else:
                whose = "the server's default model"
            problems.append(
                _problem(
                    "unusable_model",
                    f"node {r.node_id!r}: {whose} cannot be used: {error}",
                    r.node_id,
                    r.path,
                )
            )
        return problems

    async def problems(
        self,
        session: AsyncSession,
        owner_id: str,
        graph: WorkflowGraph,
        registry: NodeRegistryV2,
        *,
        default_model: str | None,
        models: bool = True,
    ) -> list[dict[str, Any]]:
        """Legacy types, foreign or missing knowledge bases and bots, and (with ``models``)
        unusable models in a V2 ``graph`` owned by ``owner_id``."""
        problems = legacy_type_problems(graph)
        resources = graph_resources(graph, registry)
        problems += await self.knowledge_base_problems(session, owner_id, resources)
        problems += await self.bot_problems(session, owner_id, resources)
        if models:
            problems += self.model_problems(resources, default_model=default_model)
        return problems


def legacy_type_problems(graph: WorkflowGraph) -> list[dict[str, Any]]:
    """``v1_*`` nodes in a V2 graph: the adapters run only V1 workflows, never a draft."""
    return [
        _problem(
            "legacy_node_type",
            f"node {node.id!r}: type {node.type!r} is a legacy (V1) adapter; it runs only a "
            "bot's V1 workflow and is never valid in a V2 graph",
            node.id,
            f"nodes[{index}].type",
        )
        for index, node in enumerate(graph.nodes)
        if node.type.startswith(LEGACY_TYPE_PREFIX)
    ]


def v1_knowledge_resources(workflow: Any) -> Sequence[NodeResource]:
    """The knowledge bases a V1 workflow (``bots.workflow`` JSON) names, by the same
    convention as V2 nodes (``knowledge_base_ids`` anywhere in a node's ``data``)."""
    nodes = workflow.get("nodes") if isinstance(workflow, dict) else None
    if not isinstance(nodes, list):
        return []
    found = []
    for index, node in enumerate(nodes):
        if not isinstance(node, dict):
            continue
        for ref in BaseNodeV2.resources({"data": node.get("data") or {}}):
            if ref.kind == "knowledge_base":
                path = ref.path.removeprefix("config.")
                found.append(NodeResource(str(node.get("id")), f"nodes[{index}]", _at(ref, path)))
    return found


def _at(ref: ResourceRef, path: str) -> ResourceRef:
    return ResourceRef(ref.kind, ref.value, path)
