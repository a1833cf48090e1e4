"""API keys: create (secret shown once), list, revoke."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from snapagent.api.deps import Accounts, CurrentUser, PageQuery
from snapagent.api.json_route import OffLoopJsonRoute
from snapagent.api.schemas.auth import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, ApiKeysPublic
from snapagent.api.schemas.common import problem_responses

router = APIRouter(
    route_class=OffLoopJsonRoute,
    prefix="/api/v1/api-keys",
    tags=["api-keys"],
    responses=problem_responses(401, 422),
)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an API key")
async def create_api_key(
    body: ApiKeyCreate, user: CurrentUser, accounts: Accounts
) -> ApiKeyCreated:
    """Create an API key; its secret is in this answer only (it is stored hashed)."""
    issued = await accounts.create_api_key(user, body.name)
    public = ApiKeyPublic.model_validate(issued.key, from_attributes=True)
    return ApiKeyCreated(**public.model_dump(), key=issued.secret)


@router.get("", summary="List your active API keys, newest first")
async def list_api_keys(user: CurrentUser, accounts: Accounts, page: PageQuery) -> ApiKeysPublic:
    """The caller's active API keys, newest first, a page at a time (prefixes only, never
    secrets)."""
    keys, next_cursor = await accounts.api_key_page(user, limit=page.limit, cursor=page.cursor)
    data = [ApiKeyPublic.model_validate(k, from_attributes=True) for k in keys]
    return ApiKeysPublic(data=data, next_cursor=next_cursor)


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404),
    summary="Revoke an API key",
)
async def revoke_api_key(key_id: str, user: CurrentUser, accounts: Accounts) -> Response:
    """Revoke an API key at once."""
    await accounts.revoke_api_key(user, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
