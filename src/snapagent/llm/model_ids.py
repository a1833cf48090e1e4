"""Model ids and what each provider needs, without importing any provider SDK.

Checking a model id (a graph's, a bot's default) must be cheap and must not stall the server:
the SDKs take seconds to import. `check_chat_model` answers from the id and the settings alone;
`snapagent.llm.registry` builds the clients with the same rules.

    check_chat_model(ProviderSettings(), "anthropic:claude-sonnet-4-5")
    # ProviderNotConfiguredError: model anthropic:claude-sonnet-4-5 needs ANTHROPIC_API_KEY ...
"""

from __future__ import annotations

from typing import Any

from snapagent.errors import DefinitionError
from snapagent.llm.errors import ProviderNotConfiguredError
from snapagent.llm.local_embeddings import LOCAL_EMBEDDING_ID
from snapagent.llm.offline import OFFLINE_MODEL_ID
from snapagent.llm.settings import ProviderSettings

__all__ = [
    "CHAT_MODEL_FORMS",
    "UnknownModelError",
    "chat_credentials",
    "check_chat_model",
    "require_setting",
    "split_model_id",
]

CHAT_MODEL_FORMS = "offline, anthropic:<model>, openai:<model> or bedrock:<model id>"


class UnknownModelError(DefinitionError):
    """A model id that names no provider we know, or names no model."""


def split_model_id(model_id: str, *, forms: str = CHAT_MODEL_FORMS) -> tuple[str, str]:
    """Provider and model name: ``"anthropic:claude-x"`` -> ``("anthropic", "claude-x")``.

    Only the first colon separates: Bedrock ids contain colons themselves.
    """
    cleaned = model_id.strip()
    provider, _, name = cleaned.partition(":")
    provider = provider.lower()
    if provider == OFFLINE_MODEL_ID and not name:
        return provider, ""
    if provider == LOCAL_EMBEDDING_ID:  # "local" or "local:<model name>"
        return provider, name.strip()
    if provider not in ("anthropic", "openai", "bedrock") or not name.strip():
        raise UnknownModelError(f"unknown model id {model_id!r}: expected {forms}")
    return provider, name.strip()


def require_setting(value: Any, setting: str, provider: str, model: str) -> Any:
    """``value``, or `ProviderNotConfiguredError` naming the ``setting`` to set."""
    if not value:
        raise ProviderNotConfiguredError(
            f"model {provider}:{model} needs {setting} to be set",
            setting=setting,
            provider=provider,
            model=model,
        )
    return value


def chat_credentials(settings: ProviderSettings, provider: str, name: str) -> str | None:
    """The key or region a chat ``provider`` needs (None if it needs none); raises when unset."""
    if provider == "anthropic":
        key = require_setting(settings.anthropic_api_key, "ANTHROPIC_API_KEY", provider, name)
        return str(key.get_secret_value())
    if provider == "openai":
        # A self-hosted server (base_url set) usually needs no key; OpenAI itself does.
        if not settings.openai_base_url:
            require_setting(settings.openai_api_key, "OPENAI_API_KEY", provider, name)
        return settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    if provider == "bedrock":
        region = require_setting(settings.aws_bedrock_region, "AWS_BEDROCK_REGION", provider, name)
        return str(region)
    return None


def check_chat_model(settings: ProviderSettings, model_id: str | None) -> tuple[str, str]:
    """The provider and name ``model_id`` (None: the default) resolves to; raises
    `UnknownModelError` or `ProviderNotConfiguredError` when it cannot be used."""
    wanted = (model_id or "").strip() or settings.default_model
    provider, name = split_model_id(wanted)
    if provider == LOCAL_EMBEDDING_ID:
        raise UnknownModelError(
            f"{wanted!r} is an embedding model, not a chat model: use {CHAT_MODEL_FORMS}"
        )
    chat_credentials(settings, provider, name)
    return provider, name
