"""`snapagent serve`: the real command on uvicorn over loopback (a random port per test)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
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
        if sys.platform == "linux":
            _assert_connections_spread(proc.pid, int(base.rsplit(":", 1)[1]))
    finally:
        output = _stop(proc)
    # The supervisor and both spawned workers log JSON too.
    messages = [json.loads(line)["message"] for line in output.splitlines()]
    assert sum(m.startswith("Started server process") for m in messages) == 2, messages


def _port_sockets(port: int) -> dict[str, str]:
    """Socket inode -> TCP state (``0A`` listening, ``01`` established) of every socket whose
    local port is ``port`` (Linux's /proc/net/tcp)."""
    found: dict[str, str] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    found[fields[9]] = fields[3]
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def _assert_connections_spread(supervisor: int, port: int) -> None:
    """Each worker listens on a socket of its own, and a burst of 32 keep-alive connections
    (as a load generator opens them) is spread over both workers - on uvicorn's one shared
    socket, whichever worker woke first took most of them (30 of 32 seen)."""
    listening = {inode for inode, state in _port_sockets(port).items() if state == "0A"}
    assert len(listening) == 2
    children = [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit()
        and (entry / "stat").exists()
        and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == supervisor
    ]
    workers = {pid: _socket_inodes(pid) for pid in children}
    workers = {pid: inodes for pid, inodes in workers.items() if inodes & listening}
    assert len(workers) == 2
    assert all(len(inodes & listening) == 1 for inodes in workers.values())
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
    try:
        for client in clients:
            client.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        for client in clients:
            assert client.recv(64).startswith(b"HTTP/1.1 200")
        states = _port_sockets(port)
        held = [sum(states.get(inode) == "01" for inode in _socket_inodes(pid)) for pid in workers]
        assert sum(held) == 32
        # Spread by a hash of the client port: fewer than 4 of 32 on one side is a 1 in
        # 400,000 chance.
        assert min(held) >= 4, held
    finally:
        for client in clients:
            client.close()


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
