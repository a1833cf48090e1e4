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


class DraftCreate(RequestModel):
    graph: Graph | None = Field(
        default=None, description="The graph; omitted: a copy of the published version."
    )
    note: str = Field(default="", max_length=2000)


class DraftUpdate(RequestModel):
    graph: Graph
    revision: int = Field(
        ge=1, le=MAX_REVISION, description="The draft revision this edit started from."
    )
    note: str | None = Field(default=None, max_length=2000)


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
    graph: Graph


class GraphProblem(BaseModel):
    code: str
    message: str
    node_id: str | None = None
    edge_index: int | None = None
    path: str = ""


class ValidationReport(BaseModel):
    valid: bool
    problems: list[GraphProblem]


class VersionSummary(BaseModel):
    id: str
    bot_id: str
    version_number: int | None
    status: Literal["draft", "published", "archived"]
    revision: int
    source: str
    note: str
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    published_by: str | None
    published_at: datetime | None


class VersionPublic(VersionSummary):
    graph: StoredGraph


class VersionsPublic(Page):
    data: list[VersionSummary]


class FieldChangePublic(BaseModel):
    field: str
    before: Any
    after: Any


class NodeChangePublic(BaseModel):
    node_id: str
    changed_fields: list[str]
    changes: list[FieldChangePublic]


class EdgePublic(BaseModel):
    source: str
    target: str
    source_port: str | None
    target_port: str | None


class GraphDiffPublic(BaseModel):
    from_version: str
    to_version: str
    nodes_added: list[str]
    nodes_removed: list[str]
    nodes_changed: list[NodeChangePublic]
    edges_added: list[EdgePublic]
    edges_removed: list[EdgePublic]
