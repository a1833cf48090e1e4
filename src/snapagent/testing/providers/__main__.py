"""Run a fake provider server in its own process: ``python -m snapagent.testing.providers KIND``.

Prints the base URL on the first line of stdout, then serves (answering every request with the
default reply) until stdin closes or the process is terminated. Useful for a demo without keys
(``ANTHROPIC_BASE_URL=<printed url>``) and for benchmarks, where a server thread inside the
measuring process would compete with it for the GIL.
"""

from __future__ import annotations

import argparse
import sys

from snapagent.testing.providers.anthropic_server import AnthropicFakeServer
from snapagent.testing.providers.bedrock_server import BedrockFakeServer
from snapagent.testing.providers.openai_server import OpenAIFakeServer
from snapagent.testing.providers.script import Reply

_KINDS = {
    "anthropic": AnthropicFakeServer,
    "openai": OpenAIFakeServer,
    "bedrock": BedrockFakeServer,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snapagent.testing.providers")
    parser.add_argument("kind", choices=sorted(_KINDS))
    parser.add_argument("--text", default="Hello from the fake server.", help="the answer")
    args = parser.parse_args(argv)
    server = _KINDS[args.kind](default_reply=Reply(args.text))
    with server:
        base_url = getattr(server, "base_url", server.origin)
        print(base_url, flush=True)
        sys.stdin.read()  # block until the parent closes our stdin (or kills us)
    return 0


if __name__ == "__main__":
    sys.exit(main())
