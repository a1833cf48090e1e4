"""Real `snapagent serve` processes on loopback, and the client calls the replica checks make.

Shared by `bench/load.py` and the replica, fault and shutdown tests (which load this file by
path): start N servers on one database, seed a user with a published start -> llm(offline) ->
end bot, chat (JSON or Server-Sent Events), stop with SIGTERM.

    with PostgresServer() as pg:                  # snapagent.testing.postgres
        url = pg.create_database("load")
        migrate(url)
        servers = start_servers(url, 2, workdir)
        headers, bot_id = asyncio.run(seed(servers[0].base))
        ...
        stop_all(servers)
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from snapagent.testing.postgres import free_port

ROOT = Path(__file__).resolve().parents[1]
JWT_SECRET = "replica-test-secret-" + "x" * 32
OFFLINE_GRAPH: dict[str, Any] = {
    "nodes": [
        {"id": "start", "type": "start", "config": {}},
        {"id": "llm", "type": "llm", "config": {"model": "offline", "prompt": "{{ query }}"}},
        {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
    ],
    "edges": [
        {"source": "start", "source_port": "query", "target": "llm", "target_port": "query"},
        {"source": "llm", "source_port": "text", "target": "end", "target_port": "answer"},
    ],
}


def model_graph(model: str) -> dict[str, Any]:
    """The offline graph with another chat model (e.g. ``openai:gpt-test`` on a fake server)."""
    graph: dict[str, Any] = json.loads(json.dumps(OFFLINE_GRAPH))
    graph["nodes"][1]["config"]["model"] = model
    return graph


def server_env(database_url: str | None, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of one replica: the shared database (None: the embedded SQLite in
    ``data_dir``) and JWT secret, cheap argon2 (registration cost is not what we measure)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    env.update(
        SNAPAGENT_DATA_DIR=str(data_dir),
        SNAPAGENT_JWT_SECRET=JWT_SECRET,
        SNAPAGENT_ARGON2_TIME_COST="1",
        SNAPAGENT_ARGON2_MEMORY_KIB="1024",
        SNAPAGENT_ARGON2_PARALLELISM="1",
        SNAPAGENT_DEFAULT_MODEL="offline",
        HF_HUB_OFFLINE="1",
    )
    env.update(extra)
    return env


def migrate(database_url: str) -> None:
    """`snapagent db upgrade`: the explicit deploy step replicas expect to have run."""
    env = server_env(database_url, ROOT / "data")
    subprocess.run(
        [sys.executable, "-m", "snapagent", "db", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


@dataclass
class Server:
    """One `snapagent serve` process."""

    process: subprocess.Popen[bytes]
    base: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout_s: float = 60) -> int:
        """SIGTERM, then wait; returns the exit code (SIGKILL after ``timeout_s``)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            self.process.kill()
            self.process.wait()
            raise RuntimeError(
                f"{self.base} did not stop on SIGTERM:\n{self.log()[-3000:]}"
            ) from exc


SERVE = (sys.executable, "-m", "snapagent", "serve")


def start_server(
    env: Mapping[str, str],
    workdir: Path,
    *args: str,
    name: str = "server",
    command: Sequence[str] = SERVE,
) -> Server:
    """Start ``command --port N *args`` (`snapagent serve`) on a free loopback port (not yet
    waited for); its output goes to a log file in ``workdir``."""
    port = free_port()
    log_path = workdir / f"{name}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port), *args],
            env=dict(env),
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Server(process, f"http://127.0.0.1:{port}", log_path)


def wait_ready(server: Server, timeout_s: float = 90) -> None:
    """Poll ``/health`` until 200 (a subprocess cannot be awaited otherwise)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.base} exited early:\n{server.log()[-3000:]}")
        try:
            if httpx.get(f"{server.base}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{server.base} not healthy within {timeout_s} s:\n{server.log()[-3000:]}")


def start_servers(
    database_url: str, count: int, workdir: Path, *args: str, **env: str
) -> list[Server]:
    """``count`` replicas on one database, each with its own data directory, all healthy."""
    servers = [
        start_server(
            server_env(database_url, workdir / f"data-{i}", **env), workdir, *args, name=f"r{i}"
        )
        for i in range(count)
    ]
    try:
        for server in servers:
            wait_ready(server)
    except BaseException:
        stop_all(servers)
        raise
    return servers


def stop_all(servers: list[Server]) -> None:
    for server in servers:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
    for server in servers:
        try:
            server.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


async def seed(
    base: str, graph: Mapping[str, Any] | None = None, email: str = "load@example.com"
) -> tuple[dict[str, str], str]:
    """A user and a bot whose draft becomes ``graph`` (default: offline answers), published."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        account = {"email": email, "password": "replica password 123"}
        (await http.post("/api/v1/auth/register", json=account)).raise_for_status()
        login = (await http.post("/api/v1/auth/login", json=account)).raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        bot = (await http.post("/api/v1/bots", json={"name": "replicas"}, headers=headers)).json()
        versions = f"/api/v1/bots/{bot['id']}/workflow-versions"
        draft = (await http.get(versions, headers=headers)).json()["data"][0]
        body = {"graph": dict(graph or OFFLINE_GRAPH), "revision": draft["revision"]}
        (await http.put(f"{versions}/{draft['id']}", json=body, headers=headers)).raise_for_status()
        (await http.post(f"{versions}/{draft['id']}/publish", headers=headers)).raise_for_status()
        return headers, str(bot["id"])


@dataclass
class ChatOutcome:
    """What one chat request got: HTTP status (or the SSE error's), ids, body/detail."""

    status: int
    run_id: str | None = None
    session_id: str | None = None
    body: Any = None
    content_type: str = ""


async def chat(
    http: httpx.AsyncClient, headers: Mapping[str, str], payload: Mapping[str, Any]
) -> ChatOutcome:
    """``POST /api/v1/chat`` as JSON."""
    response = await http.post("/api/v1/chat", json=dict(payload), headers=dict(headers))
    body = response.json() if response.content else None
    ok = response.status_code == 200 and isinstance(body, dict)
    return ChatOutcome(
        response.status_code,
        body.get("run_id") if ok else None,
        body.get("session_id") if ok else None,
        body,
        response.headers.get("content-type", ""),
    )


async def stream_chat(
    http: httpx.AsyncClient, headers: Mapping[str, str], payload: Mapping[str, Any]
) -> ChatOutcome:
    """``POST /api/v1/chat`` streamed: reads events to the ``message`` or ``error`` one."""
    body = {**payload, "stream": True}
    async with http.stream("POST", "/api/v1/chat", json=body, headers=dict(headers)) as response:
        if response.status_code != 200:
            await response.aread()
            return ChatOutcome(
                response.status_code,
                body=response.json() if response.content else None,
                content_type=response.headers.get("content-type", ""),
            )
        outcome = ChatOutcome(200, content_type=response.headers.get("content-type", ""))
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                if event == "session":
                    outcome.run_id, outcome.session_id = data["run_id"], data["session_id"]
                elif event == "message":
                    outcome.body = data
                    return outcome
                elif event == "error":
                    outcome.status, outcome.body = int(data["status"]), data
                    return outcome
        outcome.status = 0  # the stream ended without its last event
        return outcome


def _conftest() -> Any:
    """tests/conftest.py loaded as a module (for its ``HashEmbeddingModel``, used by the
    replica tests' worker processes)."""
    spec = importlib.util.spec_from_file_location(
        "_snapagent_test_conftest", ROOT / "tests" / "conftest.py"
    )
    if spec is None or spec.loader is None:
        raise RuntimeError("tests/conftest.py not found")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module
