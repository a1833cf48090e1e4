"""Provider cases for the conformance tests: a fake server, a client factory, the secret."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from snapagent.llm.anthropic_model import AnthropicChatModel
from snapagent.llm.base import RemoteChatModel
from snapagent.llm.bedrock_model import BedrockChatModel, make_bedrock_client
from snapagent.llm.openai_model import OpenAIChatModel
from snapagent.llm.retry import RetryPolicy
from snapagent.testing.providers import (
    FakeProviderServer,
)

ANTHROPIC_KEY = "sk-ant-api03-TESTKEYtestkey0123456789"
OPENAI_KEY = "sk-proj-TESTKEYtestkey0123456789"
AWS_KEY_ID = "AKIAFAKEKEYID0123456"
AWS_SECRET = "fakeSecretAccessKey/0123456789abcdefghij"


class SleepRecorder:
    """Stands in for asyncio.sleep in the retry policy: records waits, returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@dataclass
class ProviderCase:
    """A provider under test: its fake server, a client factory and the secret it holds."""

    name: str
    server: FakeProviderServer
    secret: str
    sleeps: SleepRecorder
    factory: Callable[[RetryPolicy, float], RemoteChatModel]
    created: list[RemoteChatModel] = field(default_factory=list)

    def model(self, *, max_attempts: int = 3, budget: float = 60.0, timeout: float = 5.0) -> Any:
        policy = RetryPolicy(
            max_attempts=max_attempts,
            initial_backoff=0.05,
            max_backoff=0.2,
            budget_seconds=budget,
            sleep=self.sleeps,
        )
        model = self.factory(policy, timeout)
        self.created.append(model)
        return model

    async def aclose(self) -> None:
        for model in self.created:
            await model.aclose()


def make_case(name: str, server: FakeProviderServer, sleeps: SleepRecorder) -> ProviderCase:
    if name == "anthropic":
        return ProviderCase(
            name,
            server,
            ANTHROPIC_KEY,
            sleeps,
            lambda policy, timeout: AnthropicChatModel(
                "claude-test",
                api_key=ANTHROPIC_KEY,
                base_url=server.origin,
                retry=policy,
                timeout_seconds=timeout,
            ),
        )
    if name == "openai":
        return ProviderCase(
            name,
            server,
            OPENAI_KEY,
            sleeps,
            lambda policy, timeout: OpenAIChatModel(
                "gpt-test",
                api_key=OPENAI_KEY,
                base_url=f"{server.origin}/v1",
                retry=policy,
                timeout_seconds=timeout,
            ),
        )
    return ProviderCase(
        name,
        server,
        AWS_SECRET,
        sleeps,
        lambda policy, timeout: BedrockChatModel(
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            client=make_bedrock_client(
                region="us-east-1", endpoint_url=server.origin, timeout_seconds=timeout
            ),
            retry=policy,
        ),
    )
