"""Run a fake provider server in its own process: ``python -m snapagent.testing.providers KIND``.

Prints the base URL on the first line of stdout, then serves (answering every request with the
default reply) until stdin closes or the process is terminated. Useful for a demo without keys
(``ANTHROPIC_BASE_URL=<printed url>``) and for benchmarks, where a server thread inside the
measuring process would compete with it for the GIL.

``--tool-rounds N --tool NAME --arguments JSON`` makes it a tool loop: a request carrying fewer
than N tool results is answered with a call of NAME, the others with the text (bench/agent.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from snapagent.testing.providers.anthropic_server import AnthropicFakeServer
from snapagent.testing.providers.bedrock_server import BedrockFakeServer
from snapagent.testing.providers.openai_server import OpenAIFakeServer
from snapagent.testing.providers.script import RecordedRequest, Reply, ScriptedReply, ToolUse

_KINDS = {
    "anthropic": AnthropicFakeServer,
    "openai": OpenAIFakeServer,
    "bedrock": BedrockFakeServer,
}


def tool_results(kind: str, request: RecordedRequest) -> int:
    """How many tool results a request carries, in each protocol's own shape."""
    messages = request.json().get("messages", [])
    if kind == "openai":
        return sum(1 for m in messages if m.get("role") == "tool")
    blocks = [b for m in messages if isinstance(m.get("content"), list) for b in m["content"]]
    if kind == "anthropic":
        return sum(1 for b in blocks if b.get("type") == "tool_result")
    return sum(1 for b in blocks if "toolResult" in b)


def tool_loop(
    kind: str, rounds: int, tool: str, arguments: dict[str, object], text: str
) -> Callable[[RecordedRequest], ScriptedReply]:
    def respond(request: RecordedRequest) -> ScriptedReply:
        done = tool_results(kind, request)
        if done < rounds:
            return Reply("", tool_calls=(ToolUse(tool, dict(arguments), id=f"call_{done}"),))
        return Reply(text)

    return respond


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snapagent.testing.providers")
    parser.add_argument("kind", choices=sorted(_KINDS))
    parser.add_argument("--text", default="Hello from the fake server.", help="the answer")
    parser.add_argument("--tool-rounds", type=int, default=0, help="tool calls before the text")
    parser.add_argument("--tool", default="lookup_order", help="the tool it calls")
    parser.add_argument("--arguments", default="{}", help="the call's arguments (JSON)")
    args = parser.parse_args(argv)
    responder = None
    if args.tool_rounds:
        arguments = json.loads(args.arguments)
        responder = tool_loop(args.kind, args.tool_rounds, args.tool, arguments, args.text)
    server = _KINDS[args.kind](default_reply=Reply(args.text), responder=responder)
    with server:
        base_url = getattr(server, "base_url", server.origin)
        print(base_url, flush=True)
        sys.stdin.read()  # block until the parent closes our stdin (or kills us)
    return 0


if __name__ == "__main__":
    sys.exit(main())
