"""Register, log in, who am I, change the password, log out everywhere, and the public
account settings a sign-in page reads (``GET /api/v1/auth/config``)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from snapagent.api.deps import Accounts, AppStateDep, ClientAddress, CurrentUser, OptionalUser
from snapagent.api.json_route import OffLoopJsonRoute
from snapagent.api.schemas.auth import (
    AuthConfigPublic,
    LoginRequest,
    PasswordChange,
    RegisterRequest,
    TokenPublic,
    UserPublic,
)
from snapagent.api.schemas.common import problem_responses
from snapagent.db.base import utcnow
from snapagent.services.accounts import MAX_PASSWORD, MIN_PASSWORD, AccessToken

router = APIRouter(route_class=OffLoopJsonRoute, prefix="/api/v1/auth", tags=["auth"])


def _token(token: AccessToken) -> TokenPublic:
    expires_in = max(0, int((token.expires_at - utcnow()).total_seconds()))
    return TokenPublic(
        access_token=token.access_token, expires_at=token.expires_at, expires_in=expires_in
    )


@router.get("/config", summary="Public account settings (is registration open?)")
async def auth_config(state: AppStateDep) -> AuthConfigPublic:
    """Public account settings the sign-in page needs (is registration open?)."""
    registration = state.settings.registration
    return AuthConfigPublic(
        registration=registration,
        registration_open=registration == "open",
        password_min_length=MIN_PASSWORD,
        password_max_length=MAX_PASSWORD,
    )


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 403, 409, 422, 429, 503),
    summary="Create an account",
    description="Open registration: anyone. Closed (`SNAPAGENT_REGISTRATION=closed`): only with "
    "an existing account's `Authorization` header (403 otherwise). Counted per client address "
    "(`SNAPAGENT_REGISTRATIONS_PER_CLIENT`); 429 with `Retry-After` over the limit or while the "
    "server is hashing too many passwords at once.",
)
async def register(
    body: RegisterRequest, accounts: Accounts, creator: OptionalUser, client: ClientAddress
) -> UserPublic:
    """Create an account (throttled per client address; 403 when registration is closed)."""
    user = await accounts.sign_up(body.email, body.password, client=client, creator=creator)
    return UserPublic.model_validate(user, from_attributes=True)


@router.post(
    "/login",
    responses=problem_responses(401, 422, 429, 503),
    summary="Get an access token",
    description="Failed logins are counted per account and per client address; over "
    "`SNAPAGENT_LOGIN_FAILURES_PER_ACCOUNT` / `..._PER_CLIENT` in the window, 429 with "
    "`Retry-After` (before the password is checked).",
)
async def login(body: LoginRequest, accounts: Accounts, client: ClientAddress) -> TokenPublic:
    """Exchange email and password for an access token (failed attempts are throttled per account
    and per address: 429)."""
    return _token(await accounts.login(body.email, body.password, client=client))


@router.get("/me", responses=problem_responses(401), summary="The authenticated user")
async def me(user: CurrentUser) -> UserPublic:
    """The authenticated user."""
    return UserPublic.model_validate(user, from_attributes=True)


@router.post(
    "/password",
    responses=problem_responses(401, 422, 429, 503),
    summary="Change the password",
    description="Needs the current password (a wrong one is a 422 on `current_password` and "
    "counts as a failed login). Every access token issued before stops working; the answer "
    "carries a fresh one. API keys keep working.",
)
async def change_password(
    body: PasswordChange, user: CurrentUser, accounts: Accounts, client: ClientAddress
) -> TokenPublic:
    """Change the password; every access token issued before stops working."""
    token = await accounts.change_password(
        user, body.current_password, body.new_password, client=client
    )
    return _token(token)


@router.post(
    "/logout-everywhere",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 503),
    summary="Revoke every access token of this account",
    description="Every access token issued so far - this one included - stops working on "
    "every replica at once. API keys keep working (revoke them under /api/v1/api-keys).",
)
async def logout_everywhere(user: CurrentUser, accounts: Accounts) -> Response:
    """Revoke every access token of this account (API keys keep working)."""
    await accounts.revoke_tokens(user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
