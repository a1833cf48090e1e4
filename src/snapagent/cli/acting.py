"""Which account a command acts as: ``--as EMAIL``, else ``SNAPAGENT_CLI_OWNER``, else the
only account there is.

The bot, chat, run, knowledge base and import/export commands work on the server's database as
one named account - the same owner checks as the HTTP API, so a command sees and changes exactly
what that account would through the API (a knowledge base made with ``snapagent kb`` is the
console user's). With several accounts and no ``--as``, the command refuses and lists them
rather than guess; with none, it says how to create one. An account is never created here: a
name that matches none is an error, not a new, silently different user.

    snapagent bots list --as ada@example.com
    SNAPAGENT_CLI_OWNER=ada@example.com snapagent kb list     # the default --as for scripts
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.cli.db import run_with_database
from snapagent.db.migrate import ensure_database_ready
from snapagent.db.models.accounts import User
from snapagent.db.session import Database
from snapagent.errors import InputValidationError, NotFoundError

__all__ = ["OWNER_ENV", "AsOption", "acting_user", "run_as"]

T = TypeVar("T")
_LISTED = 10
OWNER_ENV = "SNAPAGENT_CLI_OWNER"

AsOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        metavar="EMAIL",
        help=f"Act as this account (default: {OWNER_ENV} if set, else the only account; "
        "with several, name one).",
    ),
]


async def acting_user(session: AsyncSession, email: str | None) -> User:
    """The account ``email`` (else ``SNAPAGENT_CLI_OWNER``) names, else the only account; a
    clear error otherwise."""
    named_by = ""
    if email is None and (from_env := os.environ.get(OWNER_ENV, "").strip()):
        email, named_by = from_env, f"named by {OWNER_ENV}; "
    if email is not None:
        user: User | None = await session.scalar(
            select(User).where(User.email == email.strip().lower())
        )
        if user is None:
            raise NotFoundError(f"no account {email!r} ({named_by}snapagent users list shows them)")
        return user
    total = await session.scalar(select(func.count()).select_from(User)) or 0
    if total == 0:
        raise NotFoundError(
            "no account yet: create one with `snapagent users create EMAIL` "
            "(or sign up in the console)"
        )
    if total > 1:
        emails = list(await session.scalars(select(User.email).order_by(User.email).limit(_LISTED)))
        more = f" and {total - _LISTED} more" if total > _LISTED else ""
        raise InputValidationError(
            f"{total} accounts: pick one with --as EMAIL ({', '.join(emails)}{more})",
            field="as",
        )
    only: User | None = await session.scalar(select(User))
    assert only is not None
    return only


def run_as(email: str | None, action: Callable[[Database, User], Awaitable[T]]) -> T:
    """Open the database (migrating the embedded default), find the acting account, run
    ``action``; errors become messages and exit code 1 (`run_with_database`)."""

    async def with_user(db: Database) -> T:
        await ensure_database_ready(db)
        async with db.session() as session:
            user = await acting_user(session, email)
        return await action(db, user)

    return run_with_database(with_user)
