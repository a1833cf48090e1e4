"""Hostile code and hostile URLs through the HTTP surface of a real `snapagent serve`: each
attack ends as a recorded node failure within its deadline, the server's files and other
requests stay out of reach, and /health keeps answering meanwhile."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from security.attack import AttackServer, HealthProbe, attack_server, publish, register


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AttackServer]:
    with attack_server(tmp_path_factory.mktemp("attacks"), SNAPAGENT_CODE_TIMEOUT_S="3") as live:
        # A server's very first chat is slow whatever the graph (about a second of warm-up):
        # have it before the attacks, so /health is judged on the attacks alone.
        headers = register(live, "warm-up@example.com")
        bot = publish(live, headers, code_bot("def main(q):\n    return {'out': q}\n"))
        chat = {"bot_id": bot, "message": "hi"}
        httpx.post(f"{live.base}/api/v1/chat", json=chat, headers=headers, timeout=60)
        yield live


def code_bot(code: str, timeout_s: float = 3) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "start", "type": "start"},
            {
                "id": "evil",
                "type": "code",
                "config": {"code": code, "inputs": ["q"], "outputs": {"out": "string"}},
                "inputs": {"q": {"selector": ["start", "query"]}},
                "timeout_s": timeout_s,
            },
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [
            {"source": "evil", "source_port": "out", "target": "end", "target_port": "answer"}
        ],
    }


# Each attack that would fail at once first waits 0.3 s, so /health is probed while it runs.
ATTACKS = {
    "read the database": (
        "import time\ndef main(q):\n    time.sleep(0.3)\n"
        "    return {'out': open('{data_dir}/snapagent.db', errors='replace').read()}\n",
        "FileNotFoundError|PermissionError",
    ),
    "list the data directory": (
        "import os, time\ndef main(q):\n    time.sleep(0.3)\n"
        "    return {'out': str(os.listdir('{data_dir}'))}\n",
        "FileNotFoundError|PermissionError",
    ),
    "spin forever": ("def main(q):\n    while True:\n        pass\n", "timed out|time limit"),
    "allocate 4 GiB": (
        "import time\ndef main(q):\n    time.sleep(0.3)\n    return {'out': 'x' * (4 << 30)}\n",
        "memory",
    ),
    "fork bomb": (
        "import os, time\ndef main(q):\n    time.sleep(0.3)\n    while True:\n        os.fork()\n",
        "Permission",
    ),
    "call the server": (
        "import socket, time\ndef main(q):\n    time.sleep(0.3)\n"
        "    socket.create_connection(('127.0.0.1', 8000))\n",
        "Permission",
    ),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_hostile_code_fails_as_a_node_and_the_server_stays_healthy(
    server: AttackServer, attack: str
) -> None:
    code, expected = ATTACKS[attack]
    code = code.replace("{data_dir}", str(server.data_dir))
    headers = register(server, f"{attack.replace(' ', '-')}@example.com")
    bot = publish(server, headers, code_bot(code))
    # The client first: building one loads a CA bundle on this loop, which the probe would
    # otherwise count against the server.
    async with (
        httpx.AsyncClient(base_url=server.base, headers=headers, timeout=60) as http,
        HealthProbe(server.base) as probe,
    ):
        started = time.monotonic()
        response = await http.post("/api/v1/chat", json={"bot_id": bot, "message": "hi"})
        elapsed = time.monotonic() - started
        executions = f"/api/v1/bots/{bot}/workflow-executions"
        runs = (await http.get(f"{executions}?limit=1")).json()["data"]
        detail = (await http.get(f"{executions}/{runs[0]['id']}")).json()
    probe.assert_responsive()
    assert elapsed < 3 + 2.5  # the node's deadline plus a margin
    assert response.status_code >= 400
    assert "SQLite format" not in response.text
    assert runs[0]["status"] == "failed"
    errors = " ".join(str(node.get("error")) for node in detail["nodes"])
    assert re.search(expected, errors, re.IGNORECASE), errors


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/health",
        "http://localhost:{port}/api/v1/bots",
        "http://2130706433:{port}/health",
        "http://[::ffff:127.0.0.1]:{port}/health",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
async def test_http_request_cannot_reach_the_server_or_the_metadata_service(
    server: AttackServer, url: str, tmp_path: Path
) -> None:
    port = server.base.rsplit(":", 1)[1]
    headers = register(server, f"ssrf-{abs(hash(url))}@example.com")
    graph = {
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "get", "type": "http_request", "config": {"url": "{{ target }}"},
             "inputs": {"target": {"selector": ["start", "query"]}}},
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [
            {"source": "get", "source_port": "body", "target": "end", "target_port": "answer"}
        ],
    }  # fmt: skip
    bot = publish(server, headers, graph)
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=60) as http:
        response = await http.post(
            "/api/v1/chat", json={"bot_id": bot, "message": url.format(port=port)}
        )
    assert response.status_code >= 400
    assert "refused" in response.text
