"""examples/support_agent.json runs offline with `snapagent run-workflow`: the offline model
picks the MCP order lookup (a real MCP server here, the example's URL pointed at it) or the
policy search (the example's policies loaded with --doc), and the tool calls are outputs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from snapagent.cli import app
from snapagent.netguard import get_http_settings
from snapagent.testing.mcp_server import LocalMcpServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_URL = "http://localhost:9100/mcp"


@pytest.fixture
def graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, LocalMcpServer]]:
    """The example with its MCP URL pointed at a server on a free port (allowed)."""
    monkeypatch.setenv("SNAPAGENT_HTTP_ALLOWED_NETWORKS", "127.0.0.1/32")
    get_http_settings.cache_clear()
    with LocalMcpServer() as server:
        text = (EXAMPLES / "support_agent.json").read_text(encoding="utf-8")
        assert EXAMPLE_URL in text
        path = tmp_path / "support_agent.json"
        path.write_text(text.replace(EXAMPLE_URL, server.url), encoding="utf-8")
        yield path, server
    get_http_settings.cache_clear()


def run(path: Path, query: str) -> dict[str, object]:
    args = ["run-workflow", str(path), "-i", f"query={query}"]
    args += ["--doc", str(EXAMPLES / "support_policies.md")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    outputs: dict[str, object] = json.loads(result.output[result.output.index("{") :])
    return outputs


def test_an_order_question_looks_the_order_up_on_the_mcp_server(
    graph: tuple[Path, LocalMcpServer],
) -> None:
    path, server = graph
    outputs = run(path, "Where is my order 12345?")
    assert server.calls == [("lookup_order", {"order_id": 12345})]
    assert '"status": "shipped"' in str(outputs["answer"])
    [call] = outputs["tool_calls"]  # type: ignore[misc]
    assert call["type"] == "mcp"


def test_a_policy_question_searches_the_policies(graph: tuple[Path, LocalMcpServer]) -> None:
    path, server = graph
    outputs = run(path, "How long do I have to return an order for a refund?")
    assert server.calls == []
    assert "within 30 days of delivery" in str(outputs["answer"])
    [call] = outputs["tool_calls"]  # type: ignore[misc]
    assert (call["name"], call["type"]) == ("search_policies", "knowledge")
