"""`WorkflowTool`: another published bot of the same owner, asked a question as a nested turn
through the `BotRunner` service. Each nested call is one level deeper (``sys.call_depth``);
past ``SNAPAGENT_AGENT_MAX_BOT_DEPTH`` the call is refused, so bots that call each other stop."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from snapagent.errors import SnapAgentError
from snapagent.nodes.agent_tools.base import AgentTool, ToolError, ToolOutcome
from snapagent.nodes.agent_tools.config import WorkflowToolConfig
from snapagent.workflow.node import RunContext
from snapagent.workflow.services import BotCall, ToolSpec
from snapagent.workflow.system_names import RUN_ID

__all__ = ["WorkflowTool"]

_QUESTION_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {"query": {"type": "string", "description": "The question for the bot."}},
    "required": ["query"],
}


class WorkflowTool(AgentTool):
    """Asks the bot ``config.bot_id`` (see the module docstring)."""

    kind = "workflow"

    def __init__(
        self,
        config: WorkflowToolConfig,
        ctx: RunContext,
        timeout_s: float,
        *,
        depth: int,
        max_depth: int,
    ) -> None:
        super().__init__(ToolSpec(config.name, config.description, _QUESTION_SCHEMA), timeout_s)
        self.config = config
        self.ctx = ctx
        self.depth = depth
        self.max_depth = max_depth

    async def call(self, arguments: Mapping[str, Any]) -> ToolOutcome:
        query = arguments.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ToolError("argument 'query' must be a non-empty text")
        if self.depth > self.max_depth:
            raise ToolError(
                f"bots may call bots only {self.max_depth} levels deep; this call would be "
                f"level {self.depth} (SNAPAGENT_AGENT_MAX_BOT_DEPTH)"
            )
        run_id = self.ctx.sys.get(RUN_ID)
        call = BotCall(
            self.config.bot_id,
            query,
            owner_id=self.ctx.owner_id,
            depth=self.depth,
            caller_run_id=run_id if isinstance(run_id, str) else None,
            timeout_s=self.timeout_s,
        )
        try:
            answer = await self.ctx.services.bots.run_bot(call)
        except SnapAgentError as exc:
            raise ToolError(f"bot {self.config.bot_id!r}: {exc.message}") from None
        return ToolOutcome(answer.text or "(the bot gave no answer)")
