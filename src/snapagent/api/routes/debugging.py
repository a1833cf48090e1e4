"""Debugging without publishing: run a version, run one node, replay a run from a node.

Every run here is recorded with ``trigger: "debug"``: listed with the executions
(``?trigger=debug``), never counted in statistics, rollout success rates or run metrics. A
version run answers like ``POST /api/v1/chat`` - the same JSON (plus ``version_id``,
``trigger``, ``rerun_of``, ``reused``), or the same Server-Sent Events with ``"stream": true``
or ``Accept: text/event-stream`` - and keeps its history and conversation variables in a debug
session, never a user's. See `snapagent.services.debugging` and docs/debugging.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path
from pydantic import Field

from snapagent.api.deps import AppStateDep, CurrentUser, DbSession, WorkflowVersions
from snapagent.api.json_route import OffLoopJsonRoute
from snapagent.api.routes.chat import SSE_DOC, ChatAnswerPublic, turn_events
from snapagent.api.schemas.common import RequestModel, problem_responses
from snapagent.services.chat import ChatService, ChatTurn
from snapagent.services.debugging import DebugService, NodeRunOutcome

__all__ = ["DebugRunPublic", "DebugRunRequest", "NodeRunRequest", "RerunRequest", "router"]

router = APIRouter(
    route_class=OffLoopJsonRoute,
    prefix="/api/v1/bots/{bot_id}",
    tags=["debugging"],
    responses=problem_responses(401, 404, 422),
)

_MAX_INPUTS = 100
NodeId = Annotated[str, Path(min_length=1, max_length=100)]


class DebugRunRequest(RequestModel):
    message: str = Field(min_length=1, description="The user's message (length capped).")
    session_id: str | None = Field(
        default=None,
        max_length=64,
        description="Continue this debug session (created if new; never a user's chat "
        "session, even under the same id); omitted: a new one.",
    )
    inputs: dict[str, Any] = Field(
        default_factory=dict,
        max_length=_MAX_INPUTS,
        description="Values of the start node's declared inputs, by name.",
    )
    stream: bool = Field(default=False, description="Answer as Server-Sent Events.")


class NodeRunRequest(RequestModel):
    inputs: dict[str, Any] | None = Field(
        default=None,
        max_length=_MAX_INPUTS,
        description="The node's input values by port (checked against the ports' types).",
    )
    from_run_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Instead of inputs: the run whose recorded inputs of this node to use.",
    )
    scope: list[tuple[str, int]] | None = Field(
        default=None,
        max_length=8,
        description="With from_run_id, for a node inside an iteration/loop body: which of its "
        'executions (`[["each", 2]]`: item 2 of `each`); default: the failed one, else the '
        "first.",
    )


class RerunRequest(RequestModel):
    from_node_id: str = Field(
        min_length=1,
        max_length=100,
        description="A top-level node: it and everything not upstream of it run again.",
    )
    version_id: str | None = Field(
        default=None,
        max_length=64,
        description="Replay on this version (the draft that fixes the bug); default: the "
        "version the run ran.",
    )
    stream: bool = Field(default=False, description="Answer as Server-Sent Events.")


class DebugRunPublic(ChatAnswerPublic):
    version_id: str | None = Field(description="The version that ran.")
    trigger: str = Field(description='Always "debug".')
    rerun_of: str | None = Field(description="The run a replay replays.")
    reused: list[str] = Field(description="Nodes whose recorded outcomes were reused.")


_RUN_RESPONSES: dict[int | str, dict[str, Any]] = {
    **SSE_DOC,
    200: {**SSE_DOC[200], "model": DebugRunPublic},
    **problem_responses(409, 502, 504),
}


def _debug(session: DbSession, state: AppStateDep, versions: WorkflowVersions) -> DebugService:
    return DebugService(session, state.chat, versions)


async def _answer(chat: ChatService, turn: ChatTurn, stream: bool, accept: str | None) -> Any:
    if stream or "text/event-stream" in (accept or ""):
        return turn_events(chat, turn)
    return (await chat.answer(turn)).to_dict()


@router.post(
    "/workflow-versions/{version_id}/run",
    summary="Run a version - the draft or any published one - as a debug run",
    response_model=DebugRunPublic,
    responses=_RUN_RESPONSES,
)
async def run_version(
    bot_id: str,
    version_id: str,
    body: DebugRunRequest,
    user: CurrentUser,
    session: DbSession,
    state: AppStateDep,
    versions: WorkflowVersions,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    """Run any version (a draft too) as a chat turn would, recorded as a debug run (not in
    statistics): a JSON answer, or Server-Sent Events with `stream`."""
    debug = _debug(session, state, versions)
    turn = await debug.prepare_version_run(
        user, bot_id, version_id, body.message, body.session_id, body.inputs
    )
    await session.close()  # release the request's connection before the (long) run
    return await _answer(state.chat, turn, body.stream, accept)


@router.post(
    "/workflow-versions/{version_id}/nodes/{node_id}/run",
    summary="Run one node alone, with inputs given or recorded by a past run",
)
async def run_node(
    bot_id: str,
    version_id: str,
    node_id: NodeId,
    body: NodeRunRequest,
    user: CurrentUser,
    session: DbSession,
    state: AppStateDep,
    versions: WorkflowVersions,
) -> NodeRunOutcome:
    """Run one node of a version on given inputs (checked against its ports) or on the inputs it
    recorded in an earlier run."""
    debug = _debug(session, state, versions)
    prepared = await debug.prepare_node_run(
        user,
        bot_id,
        version_id,
        node_id,
        inputs=body.inputs,
        from_run_id=body.from_run_id,
        scope=body.scope,
    )
    await session.close()
    return await debug.run_node(prepared)


@router.post(
    "/workflow-executions/{run_id}/rerun",
    summary="Replay a run from a node: upstream nodes reuse their recorded outputs",
    response_model=DebugRunPublic,
    responses=_RUN_RESPONSES,
)
async def rerun(
    bot_id: str,
    run_id: str,
    body: RerunRequest,
    user: CurrentUser,
    session: DbSession,
    state: AppStateDep,
    versions: WorkflowVersions,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    """Replay a recorded run from one node: the nodes upstream of it reuse their recorded outputs,
    it and everything after run again (optionally on another version)."""
    debug = _debug(session, state, versions)
    turn = await debug.prepare_rerun(user, bot_id, run_id, body.from_node_id, body.version_id)
    await session.close()
    return await _answer(state.chat, turn, body.stream, accept)
