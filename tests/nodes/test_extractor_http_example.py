"""examples/extractor_http.json runs offline: the offline model extracts, the code node builds
the ticket in the sandbox, the http_request node posts it to a local server (allowed by the
operator's allow-list), and the same graph is refused the server without that allow-list."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from snapagent.cli import app
from snapagent.netguard import get_http_settings
from snapagent.testing.http_server import LocalHttpServer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "extractor_http.json"
QUERY = "Order 12345 never arrived, write to ada@example.com"


@pytest.fixture
def server() -> Iterator[LocalHttpServer]:
    with LocalHttpServer() as server:
        yield server
    get_http_settings.cache_clear()


def run(server: LocalHttpServer) -> tuple[int, str]:
    get_http_settings.cache_clear()
    args = ["run-workflow", str(EXAMPLE), "-i", f"query={QUERY}"]
    result = CliRunner().invoke(app, [*args, "-i", f"endpoint={server.url('/echo')}"])
    return result.exit_code, result.output


def test_the_ticket_reaches_an_allowed_server(
    server: LocalHttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNAPAGENT_HTTP_ALLOWED_NETWORKS", "127.0.0.1/32")
    code, output = run(server)
    assert code == 0, output
    [request] = server.requests
    assert request.method == "POST"
    assert json.loads(request.body) == {
        "subject": "Order 12345",
        "priority": "high",
        "contact": "ada@example.com",
        "text": QUERY,
    }


def test_without_the_allow_list_the_local_server_is_refused(
    server: LocalHttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SNAPAGENT_HTTP_ALLOWED_NETWORKS", raising=False)
    code, output = run(server)
    assert code == 1
    assert "refused: loopback address" in output
    assert server.requests == []
