"""Workflow versions of a bot: drafts, validation, publishing, history, restore, diff,
one-step rollback, and deleting a draft. (Running a version without publishing it:
`snapagent.api.routes.debugging`.)

Route order matters: the fixed paths (``validate``, ``diff``) are declared before
``{version_id}`` so they are never captured as an id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from snapagent.api.deps import CurrentUser, PageQuery, WorkflowVersions
from snapagent.api.json_route import OffLoopJsonRoute
from snapagent.api.schemas.common import problem_responses
from snapagent.api.schemas.workflow_versions import (
    DraftCreate,
    DraftUpdate,
    GraphDiffPublic,
    GraphProblem,
    PublishRequest,
    RestoreRequest,
    RollbackRequest,
    ValidateRequest,
    ValidationReport,
    VersionPublic,
    VersionsPublic,
    VersionSummary,
)
from snapagent.db.models.workflow_versions import BotWorkflowVersion

router = APIRouter(
    route_class=OffLoopJsonRoute,
    prefix="/api/v1/bots/{bot_id}/workflow-versions",
    tags=["workflow-versions"],
    responses=problem_responses(401, 404, 422),
)
_CONFLICT = problem_responses(409)


def version_public(version: BotWorkflowVersion) -> VersionPublic:
    return VersionPublic.model_validate(version, from_attributes=True)


@router.get("", summary="List versions: the draft first, then newest first")
async def list_versions(
    bot_id: str, user: CurrentUser, versions: WorkflowVersions, page: PageQuery
) -> VersionsPublic:
    """Summaries of the bot's versions (no graphs): the draft first, then numbered versions newest
    first, a page at a time."""
    rows, next_cursor = await versions.list_versions(
        user, bot_id, limit=page.limit, cursor=page.cursor
    )
    data = [VersionSummary.model_validate(v, from_attributes=True) for v in rows]
    return VersionsPublic(data=data, next_cursor=next_cursor)


@router.post("", status_code=status.HTTP_201_CREATED, responses=_CONFLICT, summary="Create a draft")
async def create_draft(
    bot_id: str, body: DraftCreate, user: CurrentUser, versions: WorkflowVersions
) -> VersionPublic:
    """Create the bot's draft from `graph`, or from a copy of the published version when no graph is
    sent. A bot has at most one draft (409 if it exists)."""
    draft = await versions.create_draft(user, bot_id, body.graph, body.note)
    return version_public(draft)


@router.post("/validate", summary="Validate a graph without saving it")
async def validate_graph(
    bot_id: str, body: ValidateRequest, user: CurrentUser, versions: WorkflowVersions
) -> ValidationReport:
    """Check a graph as publishing would - the engine's problems, knowledge bases the bot's owner
    may not use, unusable models - and save nothing."""
    problems = [
        GraphProblem(**p) for p in await versions.validate_for_bot(user, bot_id, body.graph)
    ]
    return ValidationReport(valid=not problems, problems=problems)


@router.get("/diff", summary="Structural diff between two versions")
async def diff_versions(
    bot_id: str,
    user: CurrentUser,
    versions: WorkflowVersions,
    from_version: Annotated[str, Query(alias="from", description="Version id to diff from.")],
    to_version: Annotated[str, Query(alias="to", description="Version id to diff to.")],
) -> GraphDiffPublic:
    """What changed between two versions: nodes matched by id, edges by (source, source_port,
    target, target_port)."""
    diff = await versions.diff(user, bot_id, from_version, to_version)
    return GraphDiffPublic(from_version=from_version, to_version=to_version, **diff.to_dict())


@router.get("/{version_id}", summary="One version with its graph")
async def get_version(
    bot_id: str, version_id: str, user: CurrentUser, versions: WorkflowVersions
) -> VersionPublic:
    """One version with its graph (a draft's graph may be half-finished)."""
    return version_public(await versions.get(user, bot_id, version_id))


@router.put("/{version_id}", responses=_CONFLICT, summary="Save the draft (optimistic concurrency)")
async def update_draft(
    bot_id: str,
    version_id: str,
    body: DraftUpdate,
    user: CurrentUser,
    versions: WorkflowVersions,
) -> VersionPublic:
    """Save the draft. Send the `revision` you loaded: if it was saved again since, the answer is
    409 and nothing is overwritten. A half-finished graph may be saved; its shape and what it
    names are checked."""
    draft = await versions.update_draft(
        user, bot_id, version_id, body.graph, revision=body.revision, note=body.note
    )
    return version_public(draft)


@router.post(
    "/{version_id}/publish",
    responses=_CONFLICT,
    summary="Publish a draft (422 with every problem if the graph is invalid)",
)
async def publish_version(
    bot_id: str,
    version_id: str,
    user: CurrentUser,
    versions: WorkflowVersions,
    body: PublishRequest | None = None,
) -> VersionPublic:
    """Validate the draft and publish it as the next version number; the previously published
    version is archived. 422 lists every problem."""
    revision = body.revision if body is not None else None
    return version_public(await versions.publish(user, bot_id, version_id, revision=revision))


@router.post(
    "/{version_id}/restore",
    responses=_CONFLICT,
    summary="Copy a past version's graph into the draft",
)
async def restore_version(
    bot_id: str,
    version_id: str,
    user: CurrentUser,
    versions: WorkflowVersions,
    body: RestoreRequest | None = None,
) -> VersionPublic:
    """Copy a past version's graph into the draft (creating it if needed); `revision` guards the
    draft it overwrites."""
    revision = body.revision if body is not None else None
    return version_public(await versions.restore(user, bot_id, version_id, revision=revision))


@router.post(
    "/{version_id}/rollback",
    responses=_CONFLICT,
    summary="Make an earlier version live again at once (published as the next number)",
)
async def rollback_version(
    bot_id: str,
    version_id: str,
    user: CurrentUser,
    versions: WorkflowVersions,
    body: RollbackRequest | None = None,
) -> VersionPublic:
    """Make an earlier published version live again (the current one is archived); chat runs it from
    the next turn."""
    note = body.note if body is not None else None
    return version_public(await versions.rollback(user, bot_id, version_id, note=note))


@router.delete(
    "/{version_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_CONFLICT,
    summary="Delete the draft (409 for a published or archived version)",
)
async def delete_draft(
    bot_id: str, version_id: str, user: CurrentUser, versions: WorkflowVersions
) -> Response:
    """Delete the bot's draft (409 if it was published meanwhile); the published version is
    untouched."""
    await versions.delete_draft(user, bot_id, version_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
