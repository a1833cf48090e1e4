"""Fake model-provider servers on 127.0.0.1 that the official SDKs talk to over real HTTP.

Scriptable (queue replies, errors, hangs), and they record what they received, so tests of
the provider clients - and of anything above them, like the chat API - can inject provider
failures without patching any client code.

    from snapagent.testing.providers import AnthropicFakeServer, ErrorReply, Reply

    with AnthropicFakeServer() as server:
        server.enqueue(ErrorReply(429, retry_after=1), Reply("Hello"))
        # ANTHROPIC_BASE_URL=server.base_url ...
"""

from __future__ import annotations

from snapagent.testing.providers.anthropic_server import AnthropicFakeServer
from snapagent.testing.providers.bedrock_server import BedrockFakeServer
from snapagent.testing.providers.openai_server import OpenAIFakeServer, fake_embedding
from snapagent.testing.providers.script import (
    ErrorReply,
    HangReply,
    MalformedReply,
    RecordedRequest,
    Reply,
    ScriptedReply,
    ToolUse,
)
from snapagent.testing.providers.server import FakeProviderServer

__all__ = [
    "AnthropicFakeServer",
    "BedrockFakeServer",
    "ErrorReply",
    "FakeProviderServer",
    "HangReply",
    "MalformedReply",
    "OpenAIFakeServer",
    "RecordedRequest",
    "Reply",
    "ScriptedReply",
    "ToolUse",
    "fake_embedding",
]
