"""`DebugService`: try a workflow without publishing it - debug runs, one node alone, replays.

Three ways to run what is not (or no longer) live, each recorded as a run with
``trigger = "debug"`` (listed with the executions, never counted in statistics, rollout success
rates or metrics):

- **a version** (`prepare_version_run`): the draft or any published/archived version answers a
  message against the bot's real knowledge bases and models, as a chat turn would - JSON or the
  chat's stream. A draft is validated first (422 with every problem). The turn's history and
  conversation variables live in a debug session (`DebugSessionStore`), never a user's.
- **one node** (`run_node`): a node of a version with inputs given by hand
  (``{"inputs": {port: value}}``, checked against its ports) or with the inputs it got in a
  past run, as recorded (``{"from_run_id": ...}``; refused when they were truncated). Nodes
  inside iteration/loop bodies are addressed by their own id (ids are unique in the whole
  document); a body node recorded several times (once per item) is picked with ``scope``
  (``[["each", 2]]``), else its failed execution, else its first. A container run alone with
  a past run's inputs sees that run's recorded outputs of the nodes outside it.
- **a replay** (`prepare_rerun`): a past run again from one of its top-level nodes, on its
  version or another (the draft that fixes the bug): every node upstream of it reuses its
  recorded outcome (outputs, branch, or a failure its error strategy absorbed), the rest runs
  again; the new run links to the original (``rerun_of``). Refused (422) when the version has
  no such node, when the node sits inside a body (replay from its container), or when an
  upstream node's recorded outputs were truncated or it failed the original run.

Every id is resolved through the caller's bots: another account's bot, version, run or node is a
404, never a hint that it exists.

    debug = DebugService(session, app_state.chat, versions)
    turn = await debug.prepare_version_run(user, bot_id, draft_id, "hi", None, {})
    answer = await app_state.chat.answer(turn)        # or app_state.chat.stream(turn)
    outcome = await debug.run_node(await debug.prepare_node_run(user, bot_id, draft_id, "llm",
                                                                from_run_id=failed_run_id))
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.base import new_id, new_key
from snapagent.db.models.accounts import User
from snapagent.db.models.bots import Bot
from snapagent.db.models.executions import WorkflowExecutionRun, WorkflowNodeExecution
from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.errors import GraphValidationError, InputValidationError, NotFoundError
from snapagent.nodes.start import StartNodeV2, coerce_input
from snapagent.services.chat import ChatService, ChatTurn, DebugTurn
from snapagent.services.executions import ExecutionService, truncated_of
from snapagent.services.run_recorder import RunInfo, clip_mapping
from snapagent.services.runtime import CompiledVersion
from snapagent.services.system_values import RunKind, system_inputs
from snapagent.services.workflow_versions import WorkflowVersionService, get_owned_bot
from snapagent.workflow.node import BaseNodeV2
from snapagent.workflow.plan import ExecutionPlan, PlanNode
from snapagent.workflow.replay import (
    GIVEN_INPUTS,
    ReplayedNode,
    find_node,
    isolate_node,
    upstream_of,
)
from snapagent.workflow.result import NodeStatus
from snapagent.workflow.schema import ErrorStrategy
from snapagent.workflow.values import coerce_value

__all__ = ["DebugService", "NodeRun", "NodeRunOutcome"]

# What the chat gives every run; a debug run's declared inputs may not replace them.
_RESERVED_INPUTS = frozenset({"query", "session_id", "history"})
# The response repeats node values in full (JSON-safe), unlike the clipped record.
_NO_CLIP = 1 << 62


class NodeRunOutcome(BaseModel):
    """What one node run alone did (also readable as a run: ``GET .../workflow-executions/
    {run_id}``)."""

    run_id: str = Field(description="The run recorded for it (a debug run).")
    version_id: str = Field(description="The version whose node ran (usually the draft).")
    node_id: str = Field(description="The node that ran.")
    node_type: str = Field(description="Its node type.")
    status: str = Field(description="succeeded, failed or cancelled")
    inputs: dict[str, Any] = Field(description="The input values it ran with, by port.")
    outputs: dict[str, Any] = Field(description="The values it wrote, by output port.")
    branch: str | None = Field(description="The branch port it took; null if it has none.")
    error: dict[str, Any] | None = Field(description="`{type, message, node_id}` if it failed")
    elapsed_ms: float = Field(description="How long it ran, in milliseconds.")
    usage: dict[str, int] = Field(
        description="Model tokens it used: `input_tokens`, `output_tokens`, `total_tokens`."
    )
    from_run_id: str | None = Field(description="The run whose recorded inputs it was given.")


@dataclass(frozen=True, slots=True)
class NodeRun:
    """A node checked and ready to run alone (`DebugService.prepare_node_run`)."""

    info: RunInfo
    compiled: CompiledVersion
    plan: ExecutionPlan
    inputs: Mapping[str, Any]
    links: Mapping[str, Mapping[str, Any]]
    sys: Mapping[str, Any]
    owner_id: str


class DebugService:
    """See the module docstring. One per request (it holds the request's database session)."""

    def __init__(
        self, session: AsyncSession, chat: ChatService, versions: WorkflowVersionService
    ) -> None:
        self.session = session
        self.chat = chat
        self.versions = versions

    # -- a version --------------------------------------------------------------------------

    async def prepare_version_run(
        self,
        user: User,
        bot_id: str,
        version_id: str,
        message: str,
        session_id: str | None,
        inputs: Mapping[str, Any],
    ) -> ChatTurn:
        """A debug turn of the version: validated (422), compiled, its declared inputs checked."""
        self.chat.check_request(message, session_id)
        bot, version = await self._version(user, bot_id, version_id)
        compiled = await self._compiled(user, bot, version)
        declared = _declared_inputs(compiled, inputs)
        return self._turn(
            user,
            bot,
            version,
            compiled,
            message,
            session_id,
            DebugTurn(inputs=declared),
        )

    # -- one node ---------------------------------------------------------------------------

    async def prepare_node_run(
        self,
        user: User,
        bot_id: str,
        version_id: str,
        node_id: str,
        *,
        inputs: Mapping[str, Any] | None = None,
        from_run_id: str | None = None,
        scope: Sequence[Sequence[Any]] | None = None,
    ) -> NodeRun:
        """One node of the version, ready to run alone (see the module docstring); every
        check is done, nothing has run. `run_node` runs it."""
        if (inputs is None) == (from_run_id is None):
            raise InputValidationError(
                "give either inputs ({port: value}) or from_run_id (a past run's inputs)",
                field="inputs",
            )
        bot, version = await self._version(user, bot_id, version_id)
        compiled = await self._compiled(user, bot, version)
        found = find_node(compiled.plan, node_id)
        if found is None:
            raise NotFoundError(
                f"{_version_name(version)} has no node {node_id!r} "
                f"(its nodes: {_node_list(compiled)})"
            )
        pn = found[0]
        links: dict[str, Mapping[str, Any]] = {}
        run_inputs: Mapping[str, Any]
        if inputs is not None:
            given = _checked_ports(pn, inputs)
            run_inputs = given
        else:
            assert from_run_id is not None
            record = await self._run_record(bot, from_run_id)
            given = _recorded_inputs(pn, record, scope)
            run_inputs = dict(record.inputs)
            links = _recorded_outputs(record)
        links[GIVEN_INPUTS] = given
        plan = isolate_node(compiled.plan, node_id, given.keys())
        info = RunInfo(
            run_id=new_id(),
            bot_id=bot.id,
            inputs=given,
            titles=compiled.titles,
            version_id=version.id,
            version_number=version.version_number,
            user_id=user.id,
            trigger="debug",
            rerun_of=from_run_id,
            rerun_from_node=node_id if from_run_id else None,
        )
        return NodeRun(
            info, compiled, plan, run_inputs, links, _sys(bot, user, info.run_id), bot.owner_id
        )

    async def run_node(self, prepared: NodeRun) -> NodeRunOutcome:
        """Run a prepared node alone; it is recorded as a debug run of one node."""
        info = prepared.info
        result = await self.chat.run_recorded(
            info,
            prepared.compiled,
            prepared.inputs,
            prepared.sys,
            owner_id=prepared.owner_id,
            plan=prepared.plan,
            links=prepared.links,
        )
        node_id = prepared.plan.nodes[0].node_id
        node = result.nodes[node_id]
        return NodeRunOutcome(
            run_id=info.run_id,
            version_id=str(info.version_id),
            node_id=node_id,
            node_type=node.node_type,
            status=node.status.value,
            inputs=clip_mapping(node.inputs, _NO_CLIP),
            outputs=clip_mapping(node.outputs, _NO_CLIP),
            branch=node.branch,
            error=node.error.to_dict() if node.error else None,
            elapsed_ms=round(node.elapsed_s * 1000, 3),
            usage=node.usage.to_dict(),
            from_run_id=info.rerun_of,
        )

    # -- a replay ---------------------------------------------------------------------------

    async def prepare_rerun(
        self, user: User, bot_id: str, run_id: str, from_node_id: str, version_id: str | None
    ) -> ChatTurn:
        """A debug turn replaying run ``run_id`` from ``from_node_id`` (module docstring)."""
        bot = await get_owned_bot(self.session, user, bot_id)
        original = await self._run_record(bot, run_id)
        target = version_id or original.version_id
        if target is None:
            raise InputValidationError(
                f"run {run_id} ran the bot's legacy (V1) workflow, which has no versions: "
                "name the version_id to replay it on",
                field="version_id",
            )
        try:
            _bot, version = await self._version(user, bot_id, target)
        except NotFoundError:
            if version_id is not None:
                raise
            raise InputValidationError(
                f"the version run {run_id} ran no longer exists: name a version_id",
                field="version_id",
            ) from None
        compiled = await self._compiled(user, bot, version)
        plan = compiled.plan
        if from_node_id not in plan.index_of:
            found = find_node(plan, from_node_id)
            if found is not None:
                raise InputValidationError(
                    f"node {from_node_id!r} is inside {found[1][0]!r}'s body: a replay starts "
                    f"at a top-level node; rerun from {found[1][0]!r}",
                    field="from_node_id",
                )
            raise InputValidationError(
                f"{_version_name(version)}'s graph has no node {from_node_id!r} "
                f"(its nodes: {_node_list(compiled)})",
                field="from_node_id",
            )
        recorded = {row.node_id: row for row in original.nodes if not row.scope}
        replay = {
            node_id: _replayed(plan.nodes[plan.index_of[node_id]], recorded[node_id], run_id)
            for node_id in sorted(upstream_of(plan, from_node_id))
            if node_id in recorded and _reusable(recorded[node_id])
        }
        message, declared = _original_inputs(original, recorded.get("start"))
        debug = DebugTurn(
            inputs=declared, rerun_of=original.id, rerun_from_node=from_node_id, replay=replay
        )
        return self._turn(user, bot, version, compiled, message, None, debug)

    # -- helpers ----------------------------------------------------------------------------

    async def _version(
        self, user: User, bot_id: str, version_id: str
    ) -> tuple[Bot, BotWorkflowVersion]:
        version = await self.versions.get(user, bot_id, version_id)
        return await get_owned_bot(self.session, user, bot_id), version

    async def _compiled(self, user: User, bot: Bot, version: BotWorkflowVersion) -> CompiledVersion:
        """The version's plan. A draft is validated for the bot first, like a publish."""
        if version.status == "draft":
            problems = await self.versions.validate_for_bot(user, bot.id, version.graph)
            if problems:
                raise GraphValidationError(problems, "the draft cannot run: fix its problems")
            key = f"{version.id}@{version.revision}"  # drafts change; their plans must too
        else:
            key = version.id  # published versions never change (the chat's cache key)
        return await self.chat.runtime.compile_off_loop(key, version.graph)

    async def _run_record(self, bot: Bot, run_id: str) -> WorkflowExecutionRun:
        return await ExecutionService(self.session).get_record(bot.id, run_id)

    def _turn(
        self,
        user: User,
        bot: Bot,
        version: BotWorkflowVersion,
        compiled: CompiledVersion,
        message: str,
        session_id: str | None,
        debug: DebugTurn,
    ) -> ChatTurn:
        return ChatTurn(
            user_id=user.id,
            bot_id=bot.id,
            default_model=bot.default_model,
            session_key=session_id or new_key(),
            message=message,
            engine="v2",
            version_id=version.id,
            version_number=version.version_number,
            compiled=compiled,
            owner_id=bot.owner_id,
            new_session=session_id is None,
            debug=debug,
        )


def _sys(bot: Bot, user: User, run_id: str) -> dict[str, Any]:
    """A debug run of one node stands for a chat turn of ``user`` (with no files)."""
    return system_inputs(
        RunKind.CHAT,
        bot_id=bot.id,
        run_id=run_id,
        user_id=user.id,
        default_model=bot.default_model,
        files=[],
    )


def _version_name(version: BotWorkflowVersion) -> str:
    if version.status == "draft":
        return "the draft"
    return f"version {version.version_number}"


def _node_list(compiled: CompiledVersion) -> str:
    ids = [pn.node_id for pn in compiled.plan.nodes]
    shown = ", ".join(ids[:30])
    return shown + (f" and {len(ids) - 30} more" if len(ids) > 30 else "")


def _declared_inputs(compiled: CompiledVersion, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The start node's declared inputs, checked: names it declares, values of their types,
    every required one present."""
    start = compiled.plan.nodes[compiled.plan.start_index].node
    declared = {p.name: p for p in start.config.inputs} if isinstance(start, StartNodeV2) else {}
    checked: dict[str, Any] = {}
    for name, value in inputs.items():
        if name in _RESERVED_INPUTS:
            raise InputValidationError(
                f"{name!r} is given by the run itself (message, session_id), not as an input",
                field=f"inputs.{name}",
            )
        port = declared.get(name)
        if port is None:
            known = ", ".join(sorted(declared)) or "none"
            raise InputValidationError(
                f"the start node declares no input {name!r} (declared: {known})",
                field=f"inputs.{name}",
            )
        try:
            checked[name] = coerce_input(port, value)
        except InputValidationError as exc:
            raise InputValidationError(exc.message, field=f"inputs.{name}") from None
    for name, port in declared.items():
        if port.required and not port.has_default and name not in checked:
            raise InputValidationError(
                f"the start node requires input {name!r} ({port.type.value})",
                field=f"inputs.{name}",
            )
    return checked


def _ports(node: BaseNodeV2[Any]) -> dict[str, Any]:
    return {port.name: port for port in node.port_schema().inputs}


def _checked_ports(pn: PlanNode, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs given by hand: ports the node has, values of the ports' types."""
    ports = _ports(pn.node)
    checked: dict[str, Any] = {}
    for name, value in inputs.items():
        port = ports.get(name)
        if port is None:
            known = ", ".join(sorted(ports)) or "none"
            raise InputValidationError(
                f"node {pn.node_id!r} has no input port {name!r} (its inputs: {known})",
                field=f"inputs.{name}",
            )
        try:
            checked[name] = coerce_value(port.type, value)
        except ValueError as exc:
            reason = str(exc) or f"is not a {port.type.value}"
            raise InputValidationError(
                f"input {name!r} of node {pn.node_id!r} {reason}", field=f"inputs.{name}"
            ) from None
    return checked


def _recorded_inputs(
    pn: PlanNode, record: WorkflowExecutionRun, scope: Sequence[Sequence[Any]] | None
) -> dict[str, Any]:
    """The inputs ``pn``'s node got in ``record``, exactly as recorded."""
    rows = [row for row in record.nodes if row.node_id == pn.node_id]
    if scope is not None:
        wanted = [list(level) for level in scope]
        rows = [row for row in rows if [list(level) for level in row.scope or []] == wanted]
    if not rows:
        where = f" at scope {json.dumps(scope)}" if scope is not None else ""
        raise InputValidationError(
            f"run {record.id} has no execution of node {pn.node_id!r}{where}",
            field="from_run_id",
        )
    failed = [row for row in rows if row.status == NodeStatus.FAILED.value]
    row = failed[0] if failed else rows[0]
    if row.status == NodeStatus.SKIPPED.value:
        raise InputValidationError(
            f"node {pn.node_id!r} was skipped in run {record.id}: it got no inputs to replay",
            field="from_run_id",
        )
    clipped = [name for name in truncated_of(row) if name.startswith("inputs.")]
    if clipped:
        raise InputValidationError(
            f"the inputs node {pn.node_id!r} got in run {record.id} were truncated when "
            f"recorded ({', '.join(clipped)}; limit SNAPAGENT_EXECUTIONS_VALUE_MAX_CHARS): "
            "give them as inputs instead",
            field="from_run_id",
        )
    ports = _ports(pn.node)
    # Values for ports the node (of this version) no longer has are left out.
    return {name: value for name, value in (row.inputs or {}).items() if name in ports}


def _recorded_outputs(record: WorkflowExecutionRun) -> dict[str, Mapping[str, Any]]:
    """The top-level nodes' recorded outputs (whole ones only), for a container's body."""
    return {
        row.node_id: row.outputs
        for row in record.nodes
        if not row.scope
        and row.status == NodeStatus.SUCCEEDED.value
        and not any(name.startswith("outputs.") for name in truncated_of(row))
    }


def _reusable(row: WorkflowNodeExecution) -> bool:
    """Nodes that did not run in the original (skipped, cancelled) run again."""
    return row.status in (NodeStatus.SUCCEEDED.value, NodeStatus.FAILED.value)


def _replayed(pn: PlanNode, row: WorkflowNodeExecution, run_id: str) -> ReplayedNode:
    """An upstream node's recorded outcome, or a 422 saying why it cannot stand in."""
    if row.status == NodeStatus.FAILED.value:
        if pn.error_strategy is ErrorStrategy.FAIL_RUN:
            raise InputValidationError(
                f"node {pn.node_id!r} failed run {run_id}, and it comes before the node you "
                f"replay from: rerun from {pn.node_id!r} (or earlier)",
                field="from_node_id",
            )
        return ReplayedNode({}, error=row.error or "the node failed")
    clipped = [name for name in truncated_of(row) if name.startswith("outputs.")]
    if clipped:
        raise InputValidationError(
            f"the outputs of node {pn.node_id!r} were truncated when run {run_id} was recorded "
            f"({', '.join(clipped)}; limit SNAPAGENT_EXECUTIONS_VALUE_MAX_CHARS), so they "
            f"cannot be reused: rerun from {pn.node_id!r} (or earlier)",
            field="from_node_id",
        )
    if pn.branches and row.branch is None:
        raise InputValidationError(
            f"run {run_id} did not record which branch node {pn.node_id!r} took: "
            f"rerun from {pn.node_id!r} (or earlier)",
            field="from_node_id",
        )
    return ReplayedNode(dict(row.outputs or {}), branch=row.branch)


def _original_inputs(
    run: WorkflowExecutionRun, start: WorkflowNodeExecution | None
) -> tuple[str, dict[str, Any]]:
    """The replay's message and declared inputs: what the original's start node gave out
    (else the run's recorded inputs), when recorded whole."""
    candidates: list[tuple[Mapping[str, Any], list[str]]] = []
    if start is not None and start.status == NodeStatus.SUCCEEDED.value:
        clipped = [n for n in truncated_of(start) if n.startswith("outputs.")]
        candidates.append((start.outputs or {}, clipped))
    candidates.append((run.inputs or {}, [n for n in truncated_of(run) if n.startswith("inputs.")]))
    for values, clipped in candidates:
        query = values.get("query")
        if not clipped and isinstance(query, str) and query.strip():
            return query, {k: v for k, v in values.items() if k not in _RESERVED_INPUTS}
    raise InputValidationError(
        f"run {run.id} has no whole recorded query to replay (it was truncated or empty)",
        field="run_id",
    )
