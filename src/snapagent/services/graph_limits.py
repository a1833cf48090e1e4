"""The configured size limits of workflow graphs (``SNAPAGENT_GRAPH_*``).

Every graph a user sends - a V2 draft, a graph to validate, a legacy V1 workflow - is checked
against them before anything else reads it; a graph over a limit is a 422 problem naming the
limit, never slow work. See `snapagent.workflow.limits` for what each limit counts.

    limits = GraphLimitSettings().limits()      # GraphLimits(max_nodes=1000, ...)
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from snapagent.workflow.limits import GraphLimits

__all__ = ["GraphLimitSettings", "default_graph_limits"]

_DEFAULTS = GraphLimits()


class GraphLimitSettings(BaseSettings):
    """Graph size limits (environment: ``SNAPAGENT_GRAPH_*``)."""

    model_config = SettingsConfigDict(env_prefix="SNAPAGENT_GRAPH_", extra="ignore")

    max_nodes: int = Field(
        default=_DEFAULTS.max_nodes, ge=2, description="Most nodes a workflow graph may have."
    )
    max_edges: int = Field(
        default=_DEFAULTS.max_edges, ge=1, description="Most edges a workflow graph may have."
    )
    max_depth: int = Field(
        default=_DEFAULTS.max_depth,
        ge=8,
        le=200,
        description="Deepest JSON nesting in a graph (node config and editor metadata included).",
    )

    def limits(self) -> GraphLimits:
        return GraphLimits(self.max_nodes, self.max_edges, self.max_depth)


@lru_cache(maxsize=1)
def default_graph_limits() -> GraphLimits:
    """The limits from the environment, read once per process."""
    return GraphLimitSettings().limits()
