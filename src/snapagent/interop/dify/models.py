"""Dify model settings (``{"provider": "langgenius/openai/openai", "name": "gpt-4o"}``) -> our
chat model ids (``openai:gpt-4o``).

Dify names providers by plugin (``langgenius/anthropic/anthropic``) or, before plugins, by a
short key (``anthropic``). Ours are ``anthropic:``, ``bedrock:`` and ``openai:`` (any
OpenAI-compatible server). Providers we have no client for become ``openai:<model>`` - most
of them (DeepSeek, Moonshot, SiliconFlow, Ollama, OpenRouter, Groq, ...) speak the OpenAI
wire protocol behind ``OPENAI_BASE_URL`` - and the report says so.

    >>> model_id("langgenius/anthropic/anthropic", "claude-3-5-sonnet-latest")
    ('anthropic:claude-3-5-sonnet-latest', None)
"""

from __future__ import annotations

__all__ = ["model_id", "provider_key"]

_NATIVE = {"anthropic": "anthropic", "openai": "openai", "bedrock": "bedrock"}
_AZURE = frozenset({"azure_openai", "azure_ai_studio"})


def provider_key(provider: str) -> str:
    """The short key of a Dify provider (``langgenius/openai/openai`` -> ``openai``)."""
    return provider.strip().rsplit("/", 1)[-1].lower() if provider else ""


def model_id(provider: str, name: str) -> tuple[str | None, str | None]:
    """Our model id for a Dify model, and a note when it is not an exact equivalent."""
    key = provider_key(provider)
    name = (name or "").strip()
    if not name:
        return None, "the node names no model: it uses the bot's default model"
    native = _NATIVE.get(key)
    if native is not None:
        return f"{native}:{name}", None
    if key in _AZURE:
        return (
            f"openai:{name}",
            f"Azure OpenAI model {name!r} is called through the OpenAI-compatible client "
            "(set OPENAI_BASE_URL and OPENAI_API_KEY to your deployment)",
        )
    return (
        f"openai:{name}",
        f"provider {provider!r} has no client of its own here: model {name!r} is called "
        "through the OpenAI-compatible client (OPENAI_BASE_URL, OPENAI_API_KEY)",
    )
