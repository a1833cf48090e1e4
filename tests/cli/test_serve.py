"""`snapagent serve`: the real command on uvicorn over loopback (a random port per test)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from snapagent.cli import app
from snapagent.testing.postgres import free_port

PASSWORD = "correct horse battery"


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        SNAPAGENT_DATA_DIR=str(tmp_path / "data"),
        SNAPAGENT_ARGON2_TIME_COST="1",
        SNAPAGENT_ARGON2_MEMORY_KIB="64",
        SNAPAGENT_ARGON2_PARALLELISM="1",
        SNAPAGENT_KNOWLEDGE_MAX_UPLOAD_BYTES="100000",
    )
    return env


def _start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "snapagent", "serve", "--port", str(port), *args],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # Its own process group: a failed start kills the workers too, which hold the pipe
        # open (killing only the supervisor left communicate() blocked for ever).
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output, _ = proc.communicate()
            pytest.fail(f"serve exited with {proc.returncode}: {output.decode()}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.1)  # polling a subprocess we cannot await: the only way to know
    _kill_group(proc)
    pytest.fail("serve did not answer /health within 60 s")


def _stop(proc: subprocess.Popen[bytes]) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        output, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        pytest.fail("serve did not stop on SIGTERM")
    return output.decode()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the server and every worker it started, then drain the pipe."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    proc, base = _start(tmp_path)
    try:
        yield base
    finally:
        output = _stop(proc)
        # uvicorn shuts down gracefully, then re-raises SIGTERM as its exit status.
        assert proc.returncode in (0, -signal.SIGTERM), output
        # Every line - uvicorn's start-up and shut-down lines too - is one JSON object.
        lines = [json.loads(line) for line in output.splitlines()]
        messages = [line["message"] for line in lines]
        assert messages.count("Application startup complete.") == 1  # one handler, no echo
        assert "Application shutdown complete." in messages
        assert any(m.startswith("Started server process") for m in messages)
        assert any(m.startswith("SnapAgent API on http://") for m in messages)


def test_serves_the_api_over_loopback(server: str, tmp_path: Path) -> None:
    with httpx.Client(base_url=server, timeout=10) as http:
        health = http.get("/health").json()
        assert health["database"] == {"status": "ok", "dialect": "sqlite"}
        assert (tmp_path / "data" / "snapagent.db").exists()  # migrated on start
        data = tmp_path / "data"
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        private = ["snapagent.db", "snapagent.db-wal", "snapagent.db-shm", "jwt_secret"]
        assert {stat.S_IMODE((data / name).stat().st_mode) for name in private} == {0o600}
        assert http.get("/openapi.json").json()["info"]["title"] == "SnapAgent API"

        assert (
            http.post(
                "/api/v1/auth/register", json={"email": "a@example.com", "password": PASSWORD}
            ).status_code
            == 201
        )
        token = http.post(
            "/api/v1/auth/login", json={"email": "a@example.com", "password": PASSWORD}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert http.get("/api/v1/auth/me", headers=headers).status_code == 200
        unauthorized = http.get("/api/v1/bots")
        assert unauthorized.status_code == 401
        assert unauthorized.headers["content-type"] == "application/problem+json"

        # The declared length alone is refused: the server answers before reading the body
        # (and before routing: the knowledge base need not exist).
        too_big = http.post(
            "/api/v1/knowledge-bases/any/documents",
            files={"file": ("big.txt", b"x" * 400_000, "text/plain")},
            headers=headers,
        )
        assert too_big.status_code == 413
        assert too_big.json()["status"] == 413


@pytest.mark.slow  # two cold starts, one of them with two worker processes
def test_tokens_survive_a_restart(tmp_path: Path) -> None:
    proc, base = _start(tmp_path)
    try:
        httpx.post(
            f"{base}/api/v1/auth/register", json={"email": "b@example.com", "password": PASSWORD}
        )
        token = httpx.post(
            f"{base}/api/v1/auth/login", json={"email": "b@example.com", "password": PASSWORD}
        ).json()["access_token"]
    finally:
        _stop(proc)
    secret = tmp_path / "data" / "jwt_secret"
    assert secret.stat().st_mode & 0o077 == 0
    proc, base = _start(tmp_path, "--workers", "2")
    try:
        for _ in range(4):  # whichever worker answers, the token is valid
            me = httpx.get(f"{base}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200
    finally:
        output = _stop(proc)
    # The supervisor and both spawned workers log JSON too.
    messages = [json.loads(line)["message"] for line in output.splitlines()]
    assert sum(m.startswith("Started server process") for m in messages) == 2, messages


def test_bad_options_are_clear_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in _env(tmp_path).items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["serve", "--workers", "0"])
    assert result.exit_code == 2
    assert "workers" in result.output
    monkeypatch.setenv("SNAPAGENT_JWT_SECRET", "short")
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 1
    assert "at least 32 characters" in result.output
    monkeypatch.delenv("SNAPAGENT_JWT_SECRET")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "jwt_secret").write_text("")
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 1
    assert "does not hold a usable secret" in result.output
