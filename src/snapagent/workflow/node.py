"""`BaseNodeV2` (what a node type implements) and `NodeRegistryV2` (type key -> class).

A node type is a class with a stable ``type_key``, a ``version``, a pydantic ``config_model``
and ports that may depend on its config::

    class UpperData(BaseModel):
        suffix: str = ""

    class UpperNode(BaseNodeV2[UpperData]):
        type_key = "upper"
        config_model = UpperData

        def port_schema(self) -> NodePortSchema:
            return NodePortSchema(
                inputs=(PortDefinition(name="text", type="string"),),
                outputs=(PortDefinition(name="text", type="string"),),
            )

        async def run(self, inputs, ctx):
            return {"text": inputs["text"].upper() + self.config.suffix}

    registry = NodeRegistryV2([UpperNode])

One instance is made per graph node when a graph is compiled and reused by every run of that
plan, so a node keeps no per-run state on ``self``. Inputs are shared, never copied: a node
must not mutate them.
"""

from __future__ import annotations

import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from snapagent.errors import DefinitionError, NodeExecutionError
from snapagent.workflow.conversation import ConversationState, ConversationVariable
from snapagent.workflow.schema import NodePortSchema
from snapagent.workflow.services import ServiceContainer, TokenUsage
from snapagent.workflow.system_names import OWNER_ID

__all__ = ["BaseNodeV2", "NodeRegistryV2", "NodeResult", "ResourceRef", "RunContext"]

ConfigT = TypeVar("ConfigT", bound=BaseModel)

TextSink = Callable[[str, str], None]


@dataclass(slots=True)
class NodeResult:
    """What a node may return instead of a plain outputs dict: outputs plus the branch port it
    takes (branch nodes must name one) and the tokens it used."""

    outputs: Mapping[str, Any] = field(default_factory=dict)
    branch: str | None = None
    usage: TokenUsage | None = None


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """A resource a node's config names, which validation checks against the graph owner's
    account: a knowledge base (``value`` = its id), a chat model (``value`` = the model id,
    ``None`` = the bot's or the provider's default) or another bot (``value`` = its id; the
    agent's workflow tools). ``path`` is where, from the node
    (``"config.knowledge_base_ids[0]"``)."""

    kind: Literal["knowledge_base", "chat_model", "bot"]
    value: str | None
    path: str


# Config keys that name knowledge bases, wherever they appear in a node's config.
_KB_LIST_KEY = "knowledge_base_ids"
_KB_KEY = "knowledge_base_id"


def _knowledge_base_refs(value: Any, path: str) -> Iterator[ResourceRef]:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            where = f"{path}.{key}"
            if key == _KB_LIST_KEY and isinstance(inner, list | tuple):
                for i, kb_id in enumerate(inner):
                    yield ResourceRef("knowledge_base", str(kb_id), f"{where}[{i}]")
            elif key == _KB_KEY and isinstance(inner, str):
                yield ResourceRef("knowledge_base", inner, where)
            else:
                yield from _knowledge_base_refs(inner, where)
    elif isinstance(value, list | tuple):
        for i, inner in enumerate(value):
            yield from _knowledge_base_refs(inner, f"{path}[{i}]")


class RunContext:
    """Per-run facts every node may read: services, the run's inputs, ``sys`` values, and a way
    to stream text out (``ctx.emit_text(self.node_id, "Hel")``). Container nodes run their
    body through it (``await ctx.run_body(self, {"item": x, "index": 0}, iteration=0)``)."""

    __slots__ = ("_host", "_text_sink", "conversation", "inputs", "services", "sys")

    def __init__(
        self,
        services: ServiceContainer,
        inputs: Mapping[str, Any],
        sys: Mapping[str, Any],
        text_sink: TextSink | None = None,
        *,
        host: Any = None,
        conversation: ConversationState | None = None,
    ) -> None:
        self.services = services
        self.inputs = inputs
        self.sys = sys
        self._text_sink = text_sink
        # Weak: the run holds its context; a strong reference back would make a cycle.
        self._host = weakref.ref(host) if host is not None else None
        self.conversation = conversation or ConversationState(())
        """The run's conversation variables (``variable_assigner`` writes through it)."""

    async def run_body(
        self, container: BaseNodeV2[Any], values: Mapping[str, Any], *, iteration: int
    ) -> Any:
        """Run ``container``'s compiled body once, its scope values being ``values``; returns
        the body run's `WorkflowRunResult` (recorded under the container, scope
        ``iteration``)."""
        host = self._host() if self._host is not None else None
        if host is None:
            raise NodeExecutionError(
                f"node {container.node_id!r} runs a sub-graph, which needs a running workflow",
                node_id=container.node_id,
            )
        return await host.run_body(container, values, iteration)

    @property
    def owner_id(self) -> str:
        """The account whose resources this run may use (``sys.owner_id``, the bot's owner);
        empty when the caller set none, which a real retriever answers with nothing."""
        owner = self.sys.get(OWNER_ID)
        return owner if isinstance(owner, str) else ""

    def emit_text(self, node_id: str, text: str) -> None:
        """Forward a streamed piece of text now (a `TextChunk` event when someone listens)."""
        if self._text_sink is not None and text:
            self._text_sink(node_id, text)


class BaseNodeV2(ABC, Generic[ConfigT]):
    """Base of every node type. Subclasses set the class attributes and implement
    `port_schema()` and `run()`; see the module docstring for a complete example."""

    type_key: ClassVar[str]
    """Stable key used in graph JSON (``"llm"``); never rename it."""
    version: ClassVar[int] = 1
    """Bumped when the config or port contract of the type changes."""
    config_model: ClassVar[type[BaseModel]]
    title: ClassVar[str] = ""
    """Display name in editors (``"Knowledge retrieval"``); the catalogue falls back to the key."""
    description: ClassVar[str] = ""
    category: ClassVar[str] = "other"
    """Palette group: ``io``, ``model``, ``knowledge``, ``logic``, ``transform``, ``tools``."""
    dynamic_ports: ClassVar[bool] = False
    """True when `port_schema()` depends on the config (editors then ask for the ports)."""
    default_config: ClassVar[Mapping[str, Any]] = {}
    """The config a new node starts with in an editor; the catalogue lists its ports."""

    def __init__(self, node_id: str, config: ConfigT) -> None:
        self.node_id = node_id
        self.config = config

    @abstractmethod
    def port_schema(self) -> NodePortSchema:
        """The node's ports for its config (called once per compile)."""

    @abstractmethod
    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> Mapping[str, Any] | NodeResult:
        """Do the work. Return the outputs (port -> value) or a `NodeResult`."""

    @classmethod
    def resources(cls, config: Mapping[str, Any]) -> list[ResourceRef]:
        """The knowledge bases and chat models a (raw, possibly invalid) ``config`` names.

        The default finds every ``knowledge_base_ids`` / ``knowledge_base_id`` key at any
        depth, and the top-level ``model`` of a type whose config has a ``model`` field.
        Override it when a type names resources some other way.
        """
        refs = list(_knowledge_base_refs(config, "config"))
        config_model = getattr(cls, "config_model", None)  # None on BaseNodeV2 itself
        if config_model is not None and "model" in config_model.model_fields:
            model = config.get("model")
            refs.append(
                ResourceRef("chat_model", model if isinstance(model, str) else None, "config.model")
            )
        return refs

    def check_conversation(
        self, declared: Mapping[str, ConversationVariable]
    ) -> list[tuple[str, str]]:
        """Problems with the conversation variables this node writes, given those the graph
        declares: ``[(path under the node, message)]`` (``("config.items[0].variable",
        "...")``). Only writers override it."""
        return []

    def default_branch(self) -> str | None:
        """The branch taken when the node fails under the ``default_value`` strategy."""
        branches = self.port_schema().branches
        return branches[-1] if branches else None


class NodeRegistryV2:
    """Node types by ``type_key``. ``NodeRegistryV2([StartNodeV2, EndNodeV2]).create(node)``.

    An app builds its registries at start-up and then `freeze()` s them: what validates a
    draft at noon is what validated it at nine, and nothing a request does can add a type.
    """

    def __init__(self, node_types: Iterable[type[BaseNodeV2[Any]]] = ()) -> None:
        self._types: dict[str, type[BaseNodeV2[Any]]] = {}
        self._frozen = False
        for node_type in node_types:
            self.register(node_type)

    def register(self, node_type: type[BaseNodeV2[Any]]) -> type[BaseNodeV2[Any]]:
        """Add a node type (usable as a class decorator). Registering a key twice is an error,
        and so is registering into a frozen registry."""
        if self._frozen:
            raise DefinitionError(
                f"cannot register {node_type.__name__}: the node registry is frozen "
                "(register node types before the app starts)"
            )
        key = getattr(node_type, "type_key", None)
        if not isinstance(key, str) or not key:
            raise DefinitionError(f"{node_type.__name__} has no type_key")
        if not hasattr(node_type, "config_model"):
            raise DefinitionError(f"{node_type.__name__} has no config_model")
        if key in self._types and self._types[key] is not node_type:
            raise DefinitionError(f"node type {key!r} is already registered")
        self._types[key] = node_type
        return node_type

    def freeze(self) -> NodeRegistryV2:
        """Refuse every later `register` (idempotent); returns the registry."""
        self._frozen = True
        return self

    @property
    def frozen(self) -> bool:
        return self._frozen

    def copy(self) -> NodeRegistryV2:
        """A new, unfrozen registry with the same types (to extend without changing this one)."""
        return NodeRegistryV2(self._types.values())

    def get(self, type_key: str) -> type[BaseNodeV2[Any]] | None:
        return self._types.get(type_key)

    def __contains__(self, type_key: object) -> bool:
        return type_key in self._types

    @property
    def type_keys(self) -> list[str]:
        return sorted(self._types)

    def versions(self) -> dict[str, int]:
        """``{"llm": 1, ...}``: the version of every registered type."""
        return {key: cls.version for key, cls in sorted(self._types.items())}

    def create(self, node_id: str, type_key: str, config: Mapping[str, Any]) -> BaseNodeV2[Any]:
        """Build a node, validating its config with the type's own model.

        Raises `DefinitionError` for an unknown type and lets pydantic's `ValidationError`
        through for a bad config (validation turns it into per-field problems).
        """
        node_type = self._types.get(type_key)
        if node_type is None:
            known = ", ".join(self.type_keys) or "none"
            raise DefinitionError(f"unknown node type {type_key!r} (known types: {known})")
        parsed = node_type.config_model.model_validate(dict(config))
        return node_type(node_id, parsed)

    def try_create(
        self, node_id: str, type_key: str, config: Mapping[str, Any]
    ) -> BaseNodeV2[Any] | ValidationError | None:
        """Like `create` but returns the config `ValidationError`, or None for an unknown type."""
        if type_key not in self._types:
            return None
        try:
            return self.create(node_id, type_key, config)
        except ValidationError as exc:
            return exc
