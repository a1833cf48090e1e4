"""Agent tool schemas that make checking a model's arguments explode, against a real `snapagent
serve` whose agent talks to a fake OpenAI server over the real wire protocol: a ``pattern`` that
backtracks exponentially on the arguments the model sends, and ``$ref`` s that fan out to 2**40
evaluations without any regular expression. Each chat ends with a problem naming the tool and
the setting within the check deadline, and ``/health`` keeps answering meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from snapagent.testing.providers import OpenAIFakeServer, Reply, ToolUse

from .attack import AttackServer, HealthProbe, attack_server, publish, register

CHECK_TIMEOUT_S = 1.0
BACKTRACKING = {
    "type": "object",
    "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}},
}
FAN_OUT = {
    "type": "object",
    "$defs": {
        **{
            f"d{i}": {"allOf": [{"$ref": f"#/$defs/d{i + 1}"}, {"$ref": f"#/$defs/d{i + 1}"}]}
            for i in range(40)
        },
        "d40": {"type": "string"},
    },
    "properties": {"code": {"$ref": "#/$defs/d0"}},
}


@pytest.fixture(scope="module")
def model() -> Iterator[OpenAIFakeServer]:
    with OpenAIFakeServer() as server:
        yield server


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, model: OpenAIFakeServer
) -> Iterator[AttackServer]:
    with attack_server(
        tmp_path_factory.mktemp("agent-schema-attacks"),
        OPENAI_BASE_URL=model.base_url,
        OPENAI_API_KEY="test-key",
        SNAPAGENT_AGENT_ARGUMENT_CHECK_TIMEOUT_S=str(CHECK_TIMEOUT_S),
    ) as live:
        yield live


def agent_bot(schema: dict[str, Any]) -> dict[str, Any]:
    tool = {
        "type": "http",
        "name": "redeem",
        "description": "Redeem a voucher code",
        "url": "https://vouchers.example.com/redeem",
        "parameters": schema,
    }
    return {
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "agent", "type": "agent",
             "config": {"model": "openai:gpt-4o-mini", "tools": [tool]},
             "inputs": {"query": {"selector": ["start", "query"]}}},
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [{"source": "agent", "source_port": "text", "target": "end",
                   "target_port": "answer"}],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("schema", "code"),
    [(BACKTRACKING, "a" * 40 + "!"), (FAN_OUT, "x")],
    ids=["backtracking-pattern", "ref-fan-out"],
)
async def test_a_schema_that_explodes_ends_the_chat_with_a_problem(
    server: AttackServer, model: OpenAIFakeServer, schema: dict[str, Any], code: str
) -> None:
    mallory = register(server, f"mallory-schema-{len(code)}@example.com")
    bot = publish(server, mallory, agent_bot(schema))
    model.enqueue(Reply("", tool_calls=(ToolUse("redeem", {"code": code}),)))
    async with (
        httpx.AsyncClient(base_url=server.base, timeout=60) as http,
        HealthProbe(server.base) as probe,
    ):
        began = time.perf_counter()
        answered = await http.post(
            "/api/v1/chat", json={"bot_id": bot, "message": "redeem my code"}, headers=mallory
        )
        elapsed = time.perf_counter() - began
        await asyncio.sleep(0.2)  # /health right after the worker was killed and replaced
    probe.assert_responsive()
    assert answered.status_code >= 400, answered.text
    assert "checking the arguments of tool 'redeem' against its schema took longer" in (
        answered.text
    )
    assert "SNAPAGENT_AGENT_ARGUMENT_CHECK_TIMEOUT_S" in answered.text
    assert elapsed < CHECK_TIMEOUT_S + 5.0, elapsed
