"""The app runs code nodes in the sandbox it built (one pool per app, closed at shutdown),
never in the process-wide fallback a bare executor uses."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI

from snapagent.isolation.errors import PoolClosedError
from snapagent.sandbox.service import CodeSandbox, default_sandbox

from .conftest import client_of, register_user
from .test_agent_workflow_tools import new_bot, publish
from .test_chat_api import CHAT

GRAPH = {
    "nodes": [
        {"id": "start", "type": "start"},
        {"id": "code", "type": "code",
         "config": {"language": "python3",
                    "code": "def main(text):\n    return {'result': text.upper()}\n",
                    "inputs": [{"name": "text", "type": "string"}],
                    "outputs": {"result": "string"}},
         "inputs": {"text": {"selector": ["start", "query"]}}},
        {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
    ],
    "edges": [{"source": "code", "source_port": "result", "target": "end",
               "target_port": "answer"}],
}  # fmt: skip


async def test_code_nodes_run_in_the_app_s_sandbox_which_closes_at_shutdown(
    make_app: Callable[..., FastAPI],
) -> None:
    app = make_app()
    sandbox = app.state.snapagent.runtime.services.code_runner
    assert isinstance(sandbox, CodeSandbox)
    default_sandbox.cache_clear()  # so building the fallback would show below

    async with client_of(app) as client:
        user = await register_user(client, "coder@example.com")
        bot = await new_bot(client, user, "shout")
        await publish(client, user, bot, GRAPH)
        answered = await client.post(
            CHAT, json={"bot_id": bot, "message": "hello"}, headers=user.headers
        )
        assert answered.status_code == 200, answered.text
        assert answered.json()["answer"] == "HELLO"
        assert default_sandbox.cache_info().currsize == 0

    with pytest.raises(PoolClosedError):
        await sandbox.execute("python3", "def main():\n    return {}\n", {}, timeout_s=5)
