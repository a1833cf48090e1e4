"""Fixtures for the provider tests: one fake server per test, clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from snapagent.testing.providers import (
    AnthropicFakeServer,
    BedrockFakeServer,
    FakeProviderServer,
    OpenAIFakeServer,
)

from .cases import AWS_KEY_ID, AWS_SECRET, ProviderCase, SleepRecorder, make_case


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake AWS credentials, and no shared config files that could point elsewhere."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


_SERVERS: dict[str, Callable[[], FakeProviderServer]] = {
    "anthropic": AnthropicFakeServer,
    "openai": OpenAIFakeServer,
    "bedrock": BedrockFakeServer,
}


@pytest.fixture(params=sorted(_SERVERS))
async def case(
    request: pytest.FixtureRequest, aws_credentials: None
) -> AsyncIterator[ProviderCase]:
    with _SERVERS[request.param]() as server:
        provider_case = make_case(request.param, server, SleepRecorder())
        yield provider_case
        await provider_case.aclose()
