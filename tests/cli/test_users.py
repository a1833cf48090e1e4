"""`snapagent users ...`: the operator's way to manage accounts (registration closed or not)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from snapagent.cli import app
from snapagent.db.models.accounts import User
from snapagent.db.session import Database
from snapagent.services.accounts import Credentials

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("fresh_process_logging")
PASSWORD = "operator chosen pw"


@pytest.fixture(autouse=True)
def embedded_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SNAPAGENT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SNAPAGENT_REGISTRATION", "closed")
    monkeypatch.setenv("SNAPAGENT_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("SNAPAGENT_ARGON2_MEMORY_KIB", "64")
    monkeypatch.setenv("SNAPAGENT_ARGON2_PARALLELISM", "1")
    return tmp_path / "data"


def stored(data_dir: Path, email: str) -> User:
    async def read() -> User:
        db = Database(f"sqlite+aiosqlite:///{data_dir / 'snapagent.db'}")
        try:
            async with db.session() as session:
                user = await session.scalar(select(User).where(User.email == email))
                assert user is not None
                return user
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_create_list_set_password_and_logout_everywhere(embedded_home: Path) -> None:
    created = runner.invoke(
        app, ["users", "create", "Ada@Example.com"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert created.exit_code == 0, created.output
    assert "created user ada@example.com" in created.output
    assert PASSWORD not in created.stdout.replace("Password", "")  # the prompt hides it
    user = stored(embedded_home, "ada@example.com")
    checker = Credentials(secret="s" * 32, token_ttl=timedelta(minutes=1))
    assert checker.verify_password(user.password_hash, PASSWORD)
    assert user.token_version == 0

    piped = runner.invoke(
        app, ["users", "create", "bob@example.com", "--password-stdin"], input=f"{PASSWORD}\n"
    )
    assert piped.exit_code == 0, piped.output

    listed = runner.invoke(app, ["users", "list", "--json"])
    assert [u["email"] for u in json.loads(listed.stdout)] == ["ada@example.com", "bob@example.com"]

    reset = runner.invoke(
        app,
        ["users", "set-password", "ada@example.com", "--password-stdin"],
        input="another one entirely\n",
    )
    assert reset.exit_code == 0, reset.output
    user = stored(embedded_home, "ada@example.com")
    assert checker.verify_password(user.password_hash, "another one entirely")
    assert user.token_version == 1

    out = runner.invoke(app, ["users", "logout-everywhere", "ada@example.com"])
    assert out.exit_code == 0, out.output
    assert stored(embedded_home, "ada@example.com").token_version == 2


def test_errors_are_messages_and_exit_1() -> None:
    short = runner.invoke(
        app, ["users", "create", "c@example.com", "--password-stdin"], input="x\n"
    )
    assert short.exit_code == 1
    assert "error: password must be 8 to 256 characters" in short.output
    bad = runner.invoke(
        app, ["users", "create", "not-an-email", "--password-stdin"], input=f"{PASSWORD}\n"
    )
    assert bad.exit_code == 1
    assert "not a valid email address" in bad.output
    runner.invoke(
        app, ["users", "create", "d@example.com", "--password-stdin"], input=f"{PASSWORD}\n"
    )
    again = runner.invoke(
        app, ["users", "create", "d@example.com", "--password-stdin"], input=f"{PASSWORD}\n"
    )
    assert again.exit_code == 1
    assert "already exists" in again.output
    missing = runner.invoke(app, ["users", "logout-everywhere", "nobody@example.com"])
    assert missing.exit_code == 1
    assert "no account with email 'nobody@example.com'" in missing.output
    assert "Traceback" not in missing.output
