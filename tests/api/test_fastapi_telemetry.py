"""FastAPI's own OpenTelemetry is off unless SNAPAGENT_FASTAPI_TELEMETRY asks for it: off, a
process-wide tracer provider (opentelemetry-instrument's) gets no HTTP span from FastAPI."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from .conftest import client_of


@pytest.mark.parametrize("enabled", [False, True])
async def test_fastapis_http_spans_only_when_asked(
    make_app: Callable[..., FastAPI], monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)  # process-wide
    if enabled:
        monkeypatch.setenv("SNAPAGENT_FASTAPI_TELEMETRY", "true")
    async with client_of(make_app()) as client:
        assert (await client.get("/api/v1/auth/me")).status_code == 401
    spans = exporter.get_finished_spans()
    assert bool(spans) is enabled
