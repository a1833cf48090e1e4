"""`snapagent users`: accounts from the operator's side (works with registration closed).

    snapagent users create ada@example.com            # asks for the password twice
    printf '%s\\n' "$PASSWORD" | snapagent users create ada@example.com --password-stdin
    snapagent users list [--json]
    snapagent users set-password ada@example.com      # also logs the account out everywhere
    snapagent users logout-everywhere ada@example.com # revoke every access token (not API keys)

Passwords are never taken as arguments (they would show in ``ps`` and shell history): typed at
a hidden prompt, or one line on standard input with ``--password-stdin``.
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, TypeVar

import typer

from snapagent.cli.db import run_with_database
from snapagent.db.migrate import ensure_database_ready
from snapagent.db.session import Database
from snapagent.server_settings import ServerSettings
from snapagent.services.accounts import AccountService, Credentials
from snapagent.services.password_hashing import HashingGate

__all__ = ["register", "users_app"]

users_app = typer.Typer(
    help="User accounts: create, list, set a password, log out everywhere.", no_args_is_help=True
)
T = TypeVar("T")

Email = Annotated[str, typer.Argument(metavar="EMAIL", help="The account's email address.")]
PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from one line of standard input."),
]


def _credentials() -> Credentials:
    settings = ServerSettings()
    return Credentials(
        # The CLI hashes passwords and never issues tokens: no need to read (or create) the
        # server's signing secret.
        secret=secrets.token_urlsafe(48),
        token_ttl=timedelta(minutes=settings.token_expiry_minutes),
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        gate=HashingGate(concurrency=1, max_waiting=1, wait_s=60),
    )


def _run(action: Callable[[AccountService], Awaitable[T]]) -> T:
    """Open the database (migrating the embedded default), run `action`, close it."""
    credentials = _credentials()

    async def with_service(db: Database) -> T:
        await ensure_database_ready(db)
        async with db.session() as session:
            return await action(AccountService(session, credentials))

    return run_with_database(with_service)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@users_app.command("create")
def create(email: Email, password_stdin: PasswordStdin = False) -> None:
    """Create an account (whatever SNAPAGENT_REGISTRATION says)."""
    password = _password(password_stdin)
    user = _run(lambda accounts: accounts.register(email, password))
    typer.echo(f"created user {user.email} ({user.id})")


@users_app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List every account (email, id, created)."""
    users = _run(lambda accounts: accounts.list_users())
    if as_json:
        rows = [
            {"id": u.id, "email": u.email, "created_at": u.created_at.isoformat()} for u in users
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    for u in users:
        typer.echo(f"{u.email}\t{u.id}\t{u.created_at:%Y-%m-%d %H:%M}")
    typer.echo(f"{len(users)} user(s)")


@users_app.command("set-password")
def set_password(email: Email, password_stdin: PasswordStdin = False) -> None:
    """Set a new password; every access token issued before stops working."""
    password = _password(password_stdin)
    user = _run(lambda accounts: accounts.set_password(email, password))
    typer.echo(f"password of {user.email} set; earlier access tokens are revoked")


@users_app.command("logout-everywhere")
def logout_everywhere(email: Email) -> None:
    """Revoke every access token of an account (its API keys keep working)."""

    async def action(accounts: AccountService) -> str:
        user = await accounts.get_user(email)
        await accounts.revoke_tokens(user)
        return user.email

    typer.echo(f"every access token of {_run(action)} is revoked")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
