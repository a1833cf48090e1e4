"""What converting one Dify app needs to know everywhere: its nodes, where each Dify value lives
in our graph (selector translation), its start variables, environment and conversation
variables, the options and the report.

Dify nodes read values by selector (``["1711", "text"]``, ``["sys", "query"]``,
``["env", "API_KEY"]``, ``["conversation", "topic"]``). Node ids carry over unchanged, so most
selectors do too; what changes is the name of some outputs (a knowledge node's ``result`` is our
``documents``, a template's ``output`` our ``text``...), the run-level values (``sys.query`` is
the start node's ``query``), and the values that have no equivalent (reported, then read as
nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from snapagent.interop.dify.models import model_id
from snapagent.interop.dify.references import Selector, to_template
from snapagent.interop.dify.tools import http_equivalent
from snapagent.interop.names import PortNames, identifier, unique_identifiers
from snapagent.interop.report import ImportReport, Severity

__all__ = [
    "KNOWLEDGE_TOKEN_PREFIX",
    "ConvertOptions",
    "DifyContext",
    "DifyNode",
    "StartVariable",
]

KNOWLEDGE_TOKEN_PREFIX = "dify-dataset:"
"""Knowledge nodes name a Dify dataset as ``dify-dataset:<id>`` until the importing service
gives it a knowledge base of the importer's (`snapagent.services.bot_transfer`)."""

RESERVED_IDS = frozenset({"sys", "conversation", "env"})

# Outputs whose name differs, per Dify node type: Dify name -> (our port, path inside it).
_RENAMED: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "knowledge-retrieval": {"result": ("documents", ())},
    "template-transform": {"output": ("text", ())},
    "parameter-extractor": {
        "__is_success": ("is_success", ()),
        "__reason": ("reason", ()),
        "__usage": ("usage", ()),
    },
    "question-classifier": {"class_label": ("class_name", ())},
}
_ERROR_OUTPUTS = {"error_message": ("error", ("message",)), "error_type": ("error", ("type",))}

# sys.* values: Dify name -> our selector (a callable of the start id), and a note.
_SYS_AT_START = {"query": "query", "conversation_id": "session_id"}
_SYS_RUN = {"user_id": "user_id", "app_id": "bot_id", "workflow_run_id": "run_id", "files": "files"}
_SYS_APPROXIMATE = {"workflow_id": "bot_id"}


@dataclass(frozen=True, slots=True)
class ConvertOptions:
    """Choices of the importer: a model replacing every model, and the node types the server
    has (an ``agent`` node is used only when it is registered)."""

    model_override: str | None = None
    node_types: frozenset[str] = frozenset()


@dataclass(slots=True)
class DifyNode:
    """One node of the Dify graph (any depth) and where it sits."""

    id: str
    """Its id in our graph (Dify's, unless that one is reserved here)."""
    source_id: str
    type: str
    data: dict[str, Any]
    raw: dict[str, Any]
    parent: str | None = None
    """The Dify id of the iteration/loop holding it."""

    @property
    def title(self) -> str:
        title = self.data.get("title")
        return title if isinstance(title, str) and title else self.type


@dataclass(slots=True)
class StartVariable:
    """A Dify start variable: the chat message, the turn's files, or a declared input."""

    kind: Literal["message", "files", "input"]
    port: str


@dataclass(slots=True)
class DifyContext:
    """Shared state of one conversion (see the module docstring)."""

    report: ImportReport
    mode: str
    options: ConvertOptions
    nodes: dict[str, DifyNode] = field(default_factory=dict)
    start_id: str = "start"
    start_variables: dict[str, StartVariable] = field(default_factory=dict)
    trigger_inputs: list[str] = field(default_factory=list)
    """Values of trigger nodes (webhook fields...), declared as start inputs."""
    environment: list[dict[str, Any]] = field(default_factory=list)
    """The app's environment variables (``{"name", "value_type", "value"}``)."""
    env_ports: dict[str, str] = field(default_factory=dict)
    conversation_names: dict[str, str] = field(default_factory=dict)
    """Dify conversation variable -> ours (an identifier)."""
    conversation_types: dict[str, str] = field(default_factory=dict)
    """Our conversation variable -> its port type."""
    datasets: dict[str, str] = field(default_factory=dict)
    """Dify dataset id -> its knowledge token (``dify-dataset:<id>``)."""
    referenced_outputs: dict[str, set[str]] = field(default_factory=dict)
    """Dify node id -> the output names other nodes read (placeholders declare them)."""
    handles: dict[str, dict[str, str | None]] = field(default_factory=dict)
    """Dify node id -> its edge handles -> our branch ports."""
    models_seen: list[str] = field(default_factory=list)
    loop_updates: dict[str, dict[str, Selector]] = field(default_factory=dict)
    """Dify loop id -> our loop variable -> the body value it takes after each round (written
    by the assigner nodes of the body)."""
    edge_ends: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    """Dify node id -> the nodes its incoming edges enter and its outgoing edges leave, when
    it became several nodes (default: the node itself)."""
    _reported: set[tuple[str, str | None, str | None]] = field(default_factory=set)

    # -- reporting --------------------------------------------------------------------------

    def note(
        self,
        severity: Severity,
        message: str,
        action: str,
        *,
        node_id: str | None = None,
        field: str | None = None,
    ) -> None:
        """Add a report item once (the same message for the same place is said once)."""
        key = (message, node_id, field)
        if key in self._reported:
            return
        self._reported.add(key)
        self.report.add(severity, message, action, node_id=node_id, field=field)

    def agent_converts(self, node: DifyNode) -> bool:
        """Whether a Dify agent node becomes our agent node (else a placeholder)."""
        params = node.data.get("agent_parameters")
        return "agent" in self.options.node_types and isinstance(params, dict | None)

    # -- ids and names ----------------------------------------------------------------------

    def our_id(self, dify_id: str) -> str:
        node = self.nodes.get(dify_id)
        return node.id if node is not None else dify_id

    def code_outputs(self, node: DifyNode) -> dict[str, str]:
        """A code node's output names -> ours (identifiers, unique)."""
        outputs = node.data.get("outputs")
        names = list(outputs) if isinstance(outputs, dict) else []
        return unique_identifiers(names, fallback="result")

    def parameter_outputs(self, node: DifyNode) -> dict[str, str]:
        """A parameter extractor's parameter names -> our output ports."""
        parameters = node.data.get("parameters") or []
        names = [str(p.get("name", "")) for p in parameters if isinstance(p, dict)]
        return unique_identifiers(
            names, taken=("is_success", "reason", "usage"), fallback="parameter"
        )

    def loop_variables(self, node: DifyNode) -> dict[str, str]:
        """A loop's variable labels -> our names (identifiers, not ``index``/``rounds``)."""
        labels = [
            str(v.get("label", ""))
            for v in node.data.get("loop_variables") or []
            if isinstance(v, dict)
        ]
        return unique_identifiers(labels, taken=("index", "rounds"), fallback="variable")

    def aggregator_groups(self, node: DifyNode) -> dict[str, str]:
        """Group names of an aggregator in group mode -> the id of the node of each group."""
        settings = node.data.get("advanced_settings")
        if not isinstance(settings, dict) or not settings.get("group_enabled"):
            return {}
        groups = [
            str(g.get("group_name", ""))
            for g in settings.get("groups") or []
            if isinstance(g, dict)
        ]
        names = unique_identifiers(groups, fallback="group")
        return {group: f"{node.id}__{name}" for group, name in names.items()}

    # -- selectors --------------------------------------------------------------------------

    def selector(self, raw: Any, *, node_id: str, field: str) -> Selector | None:
        """Our selector for a Dify ``value_selector``; None (reported) when there is none."""
        if not isinstance(raw, list | tuple) or len(raw) < 2:
            if raw:
                self.note(
                    "warning",
                    f"the reference {raw!r} is not a [node, variable] selector",
                    "it reads nothing",
                    node_id=node_id,
                    field=field,
                )
            return None
        parts = [str(p) for p in raw]
        head, var, path = parts[0], parts[1], parts[2:]
        if head == "sys":
            return self._sys(var, path, node_id, field)
        if head == "env":
            return self._env(var, path, node_id, field)
        if head == "conversation":
            name = self.conversation_names.get(var)
            if name is None:
                self.note(
                    "warning",
                    f"conversation variable {var!r} is not declared in the file",
                    "the reference reads nothing",
                    node_id=node_id,
                    field=field,
                )
                return None
            return ["conversation", name, *path]
        source = self.nodes.get(head)
        if source is None:
            self.note(
                "warning",
                f"the reference {'.'.join(parts)} names node {head!r}, which is not in the file",
                "it reads nothing",
                node_id=node_id,
                field=field,
            )
            return None
        return self._output(source, var, path, node_id, field)

    def _sys(self, var: str, path: list[str], node_id: str, field: str) -> Selector | None:
        if var in _SYS_AT_START:
            return [self.start_id, _SYS_AT_START[var], *path]
        if var in _SYS_RUN:
            return ["sys", _SYS_RUN[var], *path]
        if var in _SYS_APPROXIMATE:
            ours = _SYS_APPROXIMATE[var]
            self.note(
                "info",
                f"sys.{var} has no exact equivalent",
                f"it reads sys.{ours} (the bot's id)",
                node_id=node_id,
                field=field,
            )
            return ["sys", ours, *path]
        self.note(
            "warning",
            f"sys.{var} has no SnapAgent equivalent (run values here: query, session_id, "
            "user_id, bot_id, run_id, files)",
            "the reference reads nothing",
            node_id=node_id,
            field=field,
        )
        return None

    def _env(self, var: str, path: list[str], node_id: str, field: str) -> Selector | None:
        port = self.env_ports.get(var)
        if port is None:
            self.note(
                "warning",
                f"environment variable {var!r} is not declared in the file",
                "the reference reads nothing",
                node_id=node_id,
                field=field,
            )
            return None
        return [self.start_id, port, *path]

    def _output(
        self, source: DifyNode, var: str, path: list[str], node_id: str, field: str
    ) -> Selector | None:
        kind = source.type
        if kind == "start" or kind.startswith("trigger-"):
            start_var = self.start_variables.get(var)
            if start_var is None:
                if var in _SYS_AT_START:  # old exports read sys values off the start node
                    return [self.start_id, _SYS_AT_START[var], *path]
                self.note(
                    "warning",
                    f"the start node has no variable {var!r}",
                    "the reference reads nothing",
                    node_id=node_id,
                    field=field,
                )
                return None
            if start_var.kind == "files":
                return ["sys", "files", *path]
            return [self.start_id, start_var.port, *path]
        if var in _ERROR_OUTPUTS and source.data.get("error_strategy") == "fail-branch":
            port, inner = _ERROR_OUTPUTS[var]
            return [source.id, port, *inner, *path]
        renamed = _RENAMED.get(kind, {}).get(var)
        if renamed is not None:
            return [source.id, renamed[0], *renamed[1], *path]
        if kind == "code":
            return [source.id, self.code_outputs(source).get(var, identifier(var)), *path]
        if kind == "parameter-extractor":
            return [source.id, self.parameter_outputs(source).get(var, identifier(var)), *path]
        if kind == "loop":
            names = self.loop_variables(source)
            return [source.id, names.get(var, identifier(var)), *path]
        if kind == "document-extractor" and var == "text":
            port = "texts" if source.data.get("is_array_file") else "text"
            return [source.id, port, *path]
        if kind in ("variable-aggregator", "variable-assigner"):
            groups = self.aggregator_groups(source)
            if groups and var in groups:
                rest = path[1:] if path[:1] == ["output"] else path
                return [groups[var], "output", *rest]
        if kind == "tool" and http_equivalent(source.data) is not None and var == "text":
            return [source.id, "body", *path]
        if kind == "llm" and var == "reasoning_content":
            self.note(
                "warning",
                "the LLM's separate reasoning_content has no equivalent",
                "the reference reads nothing (the reasoning stays in the text)",
                node_id=node_id,
                field=field,
            )
            return None
        if kind == "agent" and var in ("files", "json") and self.agent_converts(source):
            self.note(
                "warning",
                f"the agent's {var} output has no equivalent (SnapAgent's agent gives text, "
                "tool_calls and documents)",
                "the reference reads nothing",
                node_id=node_id,
                field=field,
            )
            return None
        if kind == "http-request" and var == "files":
            self.note(
                "warning",
                "an HTTP response's files are not kept (SnapAgent returns the body as text)",
                "the reference reads nothing",
                node_id=node_id,
                field=field,
            )
            return None
        return [source.id, var, *path]

    # -- templates --------------------------------------------------------------------------

    def template(
        self,
        text: Any,
        *,
        node_id: str,
        field: str,
        ports: PortNames,
        inputs: dict[str, Selector],
        context: Selector | None = None,
    ) -> str:
        """A Dify text with ``{{#...#}}`` references as our Jinja2 template; the ports it reads
        are added to ``inputs`` (``ports`` keeps names unique across the node's texts)."""
        if not isinstance(text, str):
            return ""

        def resolve(parts: list[str]) -> Selector | None:
            if parts == ["context"]:
                if context is None:
                    self.note(
                        "warning",
                        "the prompt uses {{#context#}} but the node's context is off",
                        "it renders as nothing",
                        node_id=node_id,
                        field=field,
                    )
                return context
            return self.selector(parts, node_id=node_id, field=field)

        template, _ = to_template(text, resolve, ports, refs=inputs)
        return template

    # -- models and knowledge ---------------------------------------------------------------

    def model(self, raw: Any, *, node_id: str, field: str = "model") -> str | None:
        """Our model id for a node's Dify model settings (the override when one is given)."""
        if self.options.model_override:
            return self.options.model_override
        if not isinstance(raw, dict):
            return None
        provider = str(raw.get("provider") or "")
        name = str(raw.get("name") or raw.get("model") or "")
        ours, note = model_id(provider, name)
        if note:
            self.note("info", note, f"model {ours or 'the default'}", node_id=node_id, field=field)
        if ours:
            self.models_seen.append(ours)
        return ours

    def dataset(self, dataset_id: str) -> str:
        token = f"{KNOWLEDGE_TOKEN_PREFIX}{dataset_id}"
        self.datasets.setdefault(dataset_id, token)
        return token
