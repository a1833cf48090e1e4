"""Workflow versions on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema

from snapagent.api.schemas.common import RequestModel
from snapagent.db.pagination import Page

__all__ = [
    "DraftCreate",
    "DraftUpdate",
    "GraphDiffPublic",
    "GraphProblem",
    "PublishRequest",
    "RestoreRequest",
    "RollbackRequest",
    "ValidateRequest",
    "ValidationReport",
    "VersionPublic",
    "VersionSummary",
    "VersionsPublic",
]

Graph = Annotated[
    dict[str, Any],
    # allOf: a bare $ref next to a description is resolved by pydantic, which cannot see it
    WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/WorkflowGraph"}]}),
]
"""A graph a client sends: typed in the OpenAPI document, checked by the engine's validation
(every problem at once, with its path) rather than by the request schema."""
StoredGraph = Annotated[
    dict[str, Any],
    WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/StoredWorkflowGraph"}]}),
]
"""A graph as a version holds it (a draft may be half-finished)."""
# Revisions are stored as 32-bit integers on both databases.
MAX_REVISION = 2**31 - 1
_NOTE = "A free-text note about this version (at most 2000 characters)."


class DraftCreate(RequestModel):
    graph: Graph | None = Field(
        default=None, description="The graph; omitted: a copy of the published version."
    )
    note: str = Field(default="", max_length=2000, description=_NOTE)


class DraftUpdate(RequestModel):
    graph: Graph = Field(
        description="The whole new graph (replaces the draft's); may be half-finished."
    )
    revision: int = Field(
        ge=1, le=MAX_REVISION, description="The draft revision this edit started from."
    )
    note: str | None = Field(
        default=None, max_length=2000, description="A new note; omitted: the note is kept."
    )


class PublishRequest(RequestModel):
    revision: int | None = Field(
        default=None,
        ge=1,
        le=MAX_REVISION,
        description="If given, publish only if the draft is still at it.",
    )


class RestoreRequest(RequestModel):
    revision: int | None = Field(
        default=None,
        ge=1,
        le=MAX_REVISION,
        description="If given, the draft revision this restore overwrites.",
    )


class RollbackRequest(RequestModel):
    note: str | None = Field(
        default=None,
        max_length=2000,
        description="The new version's note; default: \"rollback to version N (replacing "
        'version M)".',
    )


class ValidateRequest(RequestModel):
    graph: Graph = Field(description="The graph to check, as it would be published.")


class GraphProblem(BaseModel):
    code: str = Field(
        description="A stable code (docs/api.md lists them all).", examples=["unknown_node_type"]
    )
    message: str = Field(description="What is wrong, for a person to read.")
    node_id: str | None = Field(default=None, description="The node at fault, if one is.")
    edge_index: int | None = Field(
        default=None, description="Index in `edges` of the edge at fault, if one is."
    )
    path: str = Field(
        default="",
        description="Where in the graph, in the request's path syntax; empty for the graph "
        "as a whole.",
        examples=["nodes[0].config.cases[0]"],
    )


class ValidationReport(BaseModel):
    valid: bool = Field(description="True when the graph could be published as it is.")
    problems: list[GraphProblem] = Field(
        description="Every problem found, all at once; empty when `valid`."
    )


class VersionSummary(BaseModel):
    id: str = Field(description="The version's id.")
    bot_id: str = Field(description="The bot it belongs to.")
    version_number: int | None = Field(
        description="1, 2, 3... given when published; null for the draft."
    )
    status: Literal["draft", "published", "archived"] = Field(
        description="draft: the one editable graph; published: what chat runs (at most one); "
        "archived: published once and since replaced."
    )
    revision: int = Field(
        description="Bumped on every save of the draft; send it back to edit, publish or "
        "restore only if nobody saved in between (409 otherwise)."
    )
    source: str = Field(
        description="How the version came to be: `editor`, `default` (a new bot's starting "
        "graph), `rollback`, `migration` (from V1) or `import:<format>`.",
        examples=["editor"],
    )
    note: str = Field(description="Its free-text note (may be empty).")
    created_by: str | None = Field(
        description="The user who created it; null once that account is deleted."
    )
    created_at: datetime = Field(description="When it was created (UTC).")
    updated_at: datetime = Field(description="When it was last saved (UTC).")
    published_by: str | None = Field(
        description="The user who published it; null if not published or the account is deleted."
    )
    published_at: datetime | None = Field(description="When it was published (UTC); null if not.")


class VersionPublic(VersionSummary):
    graph: StoredGraph = Field(description="The version's graph.")


class VersionsPublic(Page):
    data: list[VersionSummary] = Field(
        description="The bot's versions on this page, without graphs."
    )


class FieldChangePublic(BaseModel):
    field: str = Field(
        description="The changed field's dotted path in the node.", examples=["config.top_k"]
    )
    before: Any = Field(description="Its value in `from_version`; null when absent there.")
    after: Any = Field(description="Its value in `to_version`; null when absent there.")


class NodeChangePublic(BaseModel):
    node_id: str = Field(description="The id of a node present in both versions.")
    changed_fields: list[str] = Field(description="The `field` of each of `changes`.")
    changes: list[FieldChangePublic] = Field(description="Every field that differs.")


class EdgePublic(BaseModel):
    source: str = Field(description="The node the edge leaves.")
    target: str = Field(description="The node the edge enters.")
    source_port: str | None = Field(
        description="The output or branch port it leaves from; null: when the source succeeds."
    )
    target_port: str | None = Field(description="The input port it feeds; null: a control edge.")


class GraphDiffPublic(BaseModel):
    from_version: str = Field(description="The id of the version compared from.")
    to_version: str = Field(description="The id of the version compared to.")
    nodes_added: list[str] = Field(description="Ids of nodes only in `to_version`.")
    nodes_removed: list[str] = Field(description="Ids of nodes only in `from_version`.")
    nodes_changed: list[NodeChangePublic] = Field(
        description="Nodes in both whose fields differ (nodes are matched by id)."
    )
    edges_added: list[EdgePublic] = Field(
        description="Edges only in `to_version` (an edge is its four ends: rewiring is one "
        "removed and one added)."
    )
    edges_removed: list[EdgePublic] = Field(description="Edges only in `from_version`.")
