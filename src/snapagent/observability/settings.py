"""Settings of logging, metrics, EMF, tracing, CORS details and the JSON body limit.

Read from the environment with the prefix ``SNAPAGENT_`` like every other settings class
(``SNAPAGENT_LOG_FORMAT=text``, ``SNAPAGENT_EMF_ENABLED=true``...). The OpenTelemetry exporter
follows the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` variable. CORS origins stay in
`ServerSettings.cors_origins` (``SNAPAGENT_CORS_ORIGINS``); empty keeps CORS off.

    settings = ObservabilitySettings(log_format="text", metrics_enabled=False)
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ObservabilitySettings"]


class ObservabilitySettings(BaseSettings):
    """What the server reports about itself, and how.

    >>> ObservabilitySettings().emf_namespace
    'RAGBackend'
    """

    model_config = SettingsConfigDict(env_prefix="SNAPAGENT_", extra="ignore")

    log_format: Literal["json", "text"] = Field(
        default="json", description="One JSON object per line, or plain text for a terminal."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_buffer_lines: int = Field(
        default=10_000,
        ge=0,
        le=1_000_000,
        description="A server process writes log lines through a buffer of this many lines and "
        "a writer thread, so a slow stdout never blocks requests; when it is full, new lines "
        "are dropped and counted (a warning says how many). 0 writes every line synchronously.",
    )
    metrics_enabled: bool = Field(
        default=True,
        description="Serve Prometheus text at GET /metrics (unauthenticated: bind or disable).",
    )
    metrics_max_label_values: int = Field(
        default=100,
        ge=1,
        le=10_000,
        description="Distinct values one metric label keeps (model ids, node types...); later "
        "ones are counted as 'other', so /metrics cannot grow without bound.",
    )
    emf_enabled: bool = Field(
        default=False,
        description="Write a CloudWatch EMF `ErrorCount` line to stdout per 5xx answer.",
    )
    emf_namespace: str = Field(default="RAGBackend", min_length=1, max_length=255)
    service_name: str = Field(default="snapagent", min_length=1, max_length=100)
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        description="Send spans (one per run and per node) to this OTLP/HTTP collector.",
    )
    fastapi_telemetry: bool = Field(
        default=False,
        description="FastAPI's own OpenTelemetry HTTP spans, metrics and logs, through the "
        "process's global providers (set by opentelemetry-instrument, say). Off, FastAPI skips "
        "its provider check on every request; SnapAgent's run and node spans "
        "(OTEL_EXPORTER_OTLP_ENDPOINT) do not depend on it.",
    )
    otel_console: bool = Field(
        default=False, description="Print spans to stderr (for a look without a collector)."
    )
    json_body_max_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest JSON request body; larger bodies get 413 before they are parsed.",
    )
    cors_methods: list[str] = Field(
        default_factory=lambda: ["GET", "POST", "PUT", "PATCH", "DELETE"],
        description="Methods CORS allows (only used when SNAPAGENT_CORS_ORIGINS is set).",
    )
    cors_headers: list[str] = Field(
        default_factory=lambda: ["Authorization", "Content-Type", "Accept", "X-Request-ID"],
        description="Request headers CORS allows.",
    )
    cors_max_age: int = Field(default=600, ge=0, description="Seconds a preflight is cached.")

    @property
    def tracing_enabled(self) -> bool:
        return bool(self.otel_exporter_otlp_endpoint) or self.otel_console
