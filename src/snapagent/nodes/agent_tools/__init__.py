"""The agent node's tools: configs (`config`), the four kinds (`http`, `mcp`, `knowledge`,
`workflow`), name and schema rules (`schemas`) and the `Toolbox` that makes every call.

    async with Toolbox.open(configs, ToolEnv(ctx, "agent"), ToolboxLimits()) as box:
        box.specs                                   # what the model is offered
        records = await box.run_all(calls, iteration=1)
"""

from __future__ import annotations

from snapagent.nodes.agent_tools.base import AgentTool, ToolEnv, ToolError, ToolOutcome
from snapagent.nodes.agent_tools.config import (
    HttpToolConfig,
    KnowledgeToolConfig,
    McpToolConfig,
    ToolConfig,
    WorkflowToolConfig,
)
from snapagent.nodes.agent_tools.toolbox import Toolbox, ToolboxLimits, ToolCallRecord

__all__ = [
    "AgentTool",
    "HttpToolConfig",
    "KnowledgeToolConfig",
    "McpToolConfig",
    "ToolCallRecord",
    "ToolConfig",
    "ToolEnv",
    "ToolError",
    "ToolOutcome",
    "Toolbox",
    "ToolboxLimits",
    "WorkflowToolConfig",
]
