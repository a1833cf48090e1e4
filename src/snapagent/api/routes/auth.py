"""Register, log in, and who am I."""

from __future__ import annotations

from fastapi import APIRouter, status

from snapagent.api.deps import Accounts, CurrentUser
from snapagent.api.json_route import OffLoopJsonRoute
from snapagent.api.schemas.auth import LoginRequest, RegisterRequest, TokenPublic, UserPublic
from snapagent.api.schemas.common import problem_responses
from snapagent.db.base import utcnow

router = APIRouter(route_class=OffLoopJsonRoute, prefix="/api/v1/auth", tags=["auth"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409, 422),
    summary="Create an account",
)
async def register(body: RegisterRequest, accounts: Accounts) -> UserPublic:
    user = await accounts.register(body.email, body.password)
    return UserPublic.model_validate(user, from_attributes=True)


@router.post("/login", responses=problem_responses(401, 422), summary="Get an access token")
async def login(body: LoginRequest, accounts: Accounts) -> TokenPublic:
    token = await accounts.login(body.email, body.password)
    expires_in = max(0, int((token.expires_at - utcnow()).total_seconds()))
    return TokenPublic(
        access_token=token.access_token, expires_at=token.expires_at, expires_in=expires_in
    )


@router.get("/me", responses=problem_responses(401), summary="The authenticated user")
async def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user, from_attributes=True)
