"""Bots in and out as files: import a Dify DSL or SnapAgent export, export as either."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, Response, UploadFile, status
from pydantic import BaseModel, Field

from snapagent.api.deps import BotTransfer, CurrentUser
from snapagent.api.json_route import OffLoopJsonRoute
from snapagent.api.schemas.common import problem_responses
from snapagent.errors import PayloadTooLargeError

__all__ = ["BotImportPublic", "router"]

router = APIRouter(
    prefix="/api/v1/bots",
    tags=["bots"],
    responses=problem_responses(401, 422),
    route_class=OffLoopJsonRoute,
)


class BotImportPublic(BaseModel):
    bot_id: str = Field(description="The new bot.")
    version_id: str = Field(description="Its draft, holding the imported workflow.")
    report: dict[str, Any] = Field(
        description="What did not carry over exactly: items (severity, node_id, field, "
        "message, action), counts, the node type each source node became, and the draft's "
        "validation problems (none when it can be published as it is)."
    )


@router.post(
    "/import",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(413),
    summary="Import a bot from a Dify DSL or SnapAgent YAML/JSON file",
)
async def import_bot(
    user: CurrentUser,
    transfer: BotTransfer,
    file: Annotated[UploadFile, File(description="The export (YAML or JSON, up to 10 MB).")],
    model_override: Annotated[
        str | None,
        Query(max_length=200, description="A model id replacing every model of the app."),
    ] = None,
    format: Annotated[
        Literal["auto", "dify", "snapagent"], Query(description="The file's format.")
    ] = "auto",
) -> BotImportPublic:
    """Create a bot from an export file - a Dify DSL app or a SnapAgent YAML/JSON export - with its
    graph as a draft; the report lists what was converted, dropped or needs attention, and the
    graph's validation problems."""
    limit = transfer.converter.settings.max_bytes
    if file.size is not None and file.size > limit:
        raise PayloadTooLargeError(f"the file is {file.size:,} bytes; the limit is {limit:,}")
    data = await file.read(limit + 1)
    result = await transfer.import_bot(user, data, format=format, model_override=model_override)
    return BotImportPublic(bot_id=result.bot_id, version_id=result.version_id, report=result.report)


@router.get(
    "/{bot_id}/export",
    response_class=Response,
    responses={
        200: {"content": {"application/yaml": {}}, "description": "The export (YAML)."},
        **problem_responses(404, 409),
    },
    summary="Export a bot as a SnapAgent or Dify DSL YAML file",
)
async def export_bot(
    bot_id: str,
    user: CurrentUser,
    transfer: BotTransfer,
    format: Annotated[
        Literal["snapagent", "dify"], Query(description="snapagent (lossless) or dify.")
    ] = "snapagent",
    version_id: Annotated[
        str | None,
        Query(description="The version to export (default: the draft, else the live one)."),
    ] = None,
) -> Response:
    """Download a bot as YAML: SnapAgent's lossless format (re-importable) or Dify DSL (409 when
    the bot has no version to export)."""
    export = await transfer.export_bot(user, bot_id, format=format, version_id=version_id)
    return Response(
        export.text,
        media_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )
