"""Request dependencies as ``Annotated`` aliases: the database session, the caller, services.

Routes stay thin by declaring what they need:

    @router.get("/bots")
    async def list_bots(user: CurrentUser, bots: Bots) -> BotsPublic: ...

``CurrentUser`` accepts ``Authorization: Bearer <access token | API key>`` and raises
:class:`~snapagent.errors.AuthenticationError` (401 problem+json) otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.api.lazy_session import lazy_session
from snapagent.api.state import AppState
from snapagent.db.models.accounts import User
from snapagent.db.pagination import MAX_PAGE_SIZE
from snapagent.db.session import Database
from snapagent.errors import AuthenticationError
from snapagent.services.accounts import AccountService
from snapagent.services.bot_transfer import BotTransferService
from snapagent.services.bots import BotService
from snapagent.services.knowledge import KnowledgeService
from snapagent.services.workflow_versions import WorkflowVersionService

__all__ = [
    "Accounts",
    "AppStateDep",
    "BotTransfer",
    "Bots",
    "ClientAddress",
    "CurrentUser",
    "DatabaseDep",
    "DbSession",
    "Knowledge",
    "OptionalUser",
    "PageParams",
    "PageQuery",
    "WorkflowVersions",
    "get_app_state",
]


# Dependencies are `async def` even when they do not await: FastAPI runs plain `def`
# dependencies in a worker thread, a needless thread hand-off on every request.
async def get_app_state(request: Request) -> AppState:
    state: AppState = request.app.state.snapagent
    return state


AppStateDep = Annotated[AppState, Depends(get_app_state)]


async def get_database(state: AppStateDep) -> Database:
    return state.database


DatabaseDep = Annotated[Database, Depends(get_database)]


async def get_db_session(database: DatabaseDep) -> AsyncIterator[AsyncSession]:
    # Made on first use: a chat answered from the lookup caches never needs one.
    async with lazy_session(database) as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(get_db_session)]

# auto_error=False: a missing header must become our 401 problem, not FastAPI's 403.
_bearer = HTTPBearer(
    auto_error=False,
    description="A login access token (JWT) or an API key (`sa_...`).",
)


async def get_account_service(session: DbSession, state: AppStateDep) -> AccountService:
    return AccountService(
        session, state.credentials, state.account_guard, cache=state.credential_cache
    )


Accounts = Annotated[AccountService, Depends(get_account_service)]


async def get_current_user(
    accounts: Accounts,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None or not credentials.credentials:
        raise AuthenticationError(
            "authentication required: send 'Authorization: Bearer <access token or API key>'"
        )
    return await accounts.authenticate(credentials.credentials)


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_optional_user(
    accounts: Accounts,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User | None:
    """The caller when it sent credentials (which must then be valid), else None."""
    if credentials is None or not credentials.credentials:
        return None
    return await accounts.authenticate(credentials.credentials)


OptionalUser = Annotated[User | None, Depends(get_optional_user)]


async def get_client_address(request: Request) -> str | None:
    """The client's address, as uvicorn reports it (behind a proxy: set FORWARDED_ALLOW_IPS
    so uvicorn takes it from X-Forwarded-For)."""
    return request.client.host if request.client else None


ClientAddress = Annotated[str | None, Depends(get_client_address)]


async def get_bot_service(session: DbSession, state: AppStateDep) -> BotService:
    return BotService(session, state.node_registry, state.graph_resources)


Bots = Annotated[BotService, Depends(get_bot_service)]


async def get_bot_transfer_service(session: DbSession, state: AppStateDep) -> BotTransferService:
    return BotTransferService(
        session, state.node_registry, state.graph_resources, state.knowledge, state.bot_import
    )


BotTransfer = Annotated[BotTransferService, Depends(get_bot_transfer_service)]


async def get_workflow_version_service(
    session: DbSession, state: AppStateDep
) -> WorkflowVersionService:
    return WorkflowVersionService(session, state.node_registry, state.graph_resources)


WorkflowVersions = Annotated[WorkflowVersionService, Depends(get_workflow_version_service)]


@dataclass(frozen=True, slots=True)
class PageParams:
    """``?limit=&cursor=`` of every list (`snapagent.db.pagination`)."""

    limit: int
    cursor: str | None


async def get_page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page (default 100).")
    ] = MAX_PAGE_SIZE,
    cursor: Annotated[
        str | None,
        Query(max_length=1000, description="`next_cursor` of the previous page."),
    ] = None,
) -> PageParams:
    return PageParams(limit, cursor)


PageQuery = Annotated[PageParams, Depends(get_page_params)]


async def get_knowledge_service(state: AppStateDep) -> KnowledgeService:
    return state.knowledge


Knowledge = Annotated[KnowledgeService, Depends(get_knowledge_service)]
