"""Operator limits on the node catalogue: how far sub-graphs nest, how much they may run, how
much a document extractor reads, how long and how far an agent may go.

Read from the environment with the ``SNAPAGENT_`` prefix (``SNAPAGENT_ITERATION_MAX_ITEMS=500``).
A node's own config may ask for less (``max_items``, ``parallelism``, ``max_iterations``);
it never gets more than these.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["NodeSettings", "get_node_settings"]


class NodeSettings(BaseSettings):
    """Limits of the iteration, loop, document extractor and agent nodes.

    >>> NodeSettings(iteration_max_items=10).iteration_max_items
    10
    """

    model_config = SettingsConfigDict(env_prefix="SNAPAGENT_", extra="ignore")

    subgraph_max_depth: int = Field(
        default=3, ge=1, le=10, description="How deep iteration/loop nodes may nest."
    )
    iteration_max_items: int = Field(
        default=1_000, ge=1, le=100_000, description="Most items one iteration node runs."
    )
    iteration_max_parallelism: int = Field(
        default=10, ge=1, le=100, description="Most items of one iteration running at once."
    )
    loop_max_iterations: int = Field(
        default=100, ge=1, le=10_000, description="Most rounds one loop node runs."
    )
    document_max_files: int = Field(
        default=10, ge=1, le=100, description="Most files one document_extractor reads."
    )
    document_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        le=200 * 1024 * 1024,
        description="Largest file a document_extractor reads (bytes).",
    )
    document_max_chars: int = Field(
        default=200_000,
        ge=1_000,
        le=10_000_000,
        description="A file's text is cut after this many characters.",
    )
    document_timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="Longest one file may take to parse."
    )
    agent_max_iterations: int = Field(
        default=20,
        ge=1,
        le=200,
        description="Most tool rounds an agent's max_iterations may ask for (a larger value is "
        "a validation problem).",
    )
    agent_timeout_s: float = Field(
        default=300.0, gt=0, le=3600, description="Default and longest time of one agent run."
    )
    agent_tool_timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="Default and longest time of one tool call."
    )
    agent_max_tool_calls: int = Field(
        default=50, ge=1, le=1_000, description="Most tool calls one agent run makes."
    )
    agent_max_parallel_tools: int = Field(
        default=4, ge=1, le=64, description="Most tool calls of one model turn running at once."
    )
    agent_max_tool_result_chars: int = Field(
        default=20_000,
        ge=100,
        le=1_000_000,
        description="Default and largest tool result given to the model (characters; the "
        "rest is cut and the cut is said).",
    )
    agent_max_tools: int = Field(
        default=128, ge=1, le=128, description="Most tools offered to the model at once."
    )
    agent_max_argument_chars: int = Field(
        default=100_000,
        ge=1_000,
        le=10_000_000,
        description="Largest arguments (characters of JSON) of one tool call; larger ones are "
        "an error result for the model, never checked or sent.",
    )
    agent_argument_check_timeout_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="Longest checking one tool call's arguments against the tool's schema may "
        "take (in a worker process, which is then killed); past it the agent node fails.",
    )
    agent_argument_check_memory_mb: int = Field(
        default=256, ge=64, le=65536, description="Address-space limit of each argument checker."
    )
    agent_argument_check_workers: int = Field(
        default=2, ge=1, le=64, description="Worker processes checking tool arguments at once."
    )
    agent_max_bot_depth: int = Field(
        default=3,
        ge=1,
        le=10,
        description="How deep workflow tools may nest (a bot's agent calling a bot calling...).",
    )


@lru_cache(maxsize=1)
def get_node_settings() -> NodeSettings:
    """The settings from the environment, read once (tests call ``cache_clear()``)."""
    return NodeSettings()
