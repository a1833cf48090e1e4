"""OpenTelemetry traces: one span per workflow run with a child span per node.

Built only when an exporter is configured (``OTEL_EXPORTER_OTLP_ENDPOINT`` for an OTLP/HTTP
collector, ``SNAPAGENT_OTEL_CONSOLE=true`` for stderr); otherwise :func:`build_tracing` returns
``None`` and runs cost nothing. Spans are written from the finished run record with the real
start and end times of the run and of each node, so the engine needs no tracing code. The
provider is the app's own (not the global one), so several apps can live in one process.

    tracing = Tracing(InMemorySpanExporter())          # tests; or build_tracing(settings)
    tracing.record_run(record)
    tracing.shutdown()
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import Status, StatusCode

from snapagent.observability.settings import ObservabilitySettings

if TYPE_CHECKING:
    from snapagent.services.run_recorder import RunRecord

__all__ = ["Tracing", "build_tracing"]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns(moment: datetime | None, fallback: datetime) -> int:
    # Integer arithmetic: a float timestamp would blur nanoseconds at today's epoch.
    return ((moment or fallback) - _EPOCH) // timedelta(microseconds=1) * 1000


class Tracing:
    """Turns run records into spans through ``exporter``.

    ``batch`` exports from a background thread (production); without it each span is
    exported as it ends (tests, console).
    """

    def __init__(
        self, exporter: SpanExporter, *, service_name: str = "snapagent", batch: bool = False
    ) -> None:
        self.provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("snapagent.workflow")

    def record_run(self, record: RunRecord) -> None:
        failed = record.status == "failed"
        node_times = [
            (_ns(n.started_at, record.started_at), _ns(n.finished_at, record.finished_at))
            for n in record.nodes
        ]
        # The run's clock and its nodes' stamps differ by microseconds: the run span is widened
        # to cover its children, as a parent span must.
        run_start = min([_ns(record.started_at, record.started_at), *(t[0] for t in node_times)])
        run_end = max([_ns(record.finished_at, record.finished_at), *(t[1] for t in node_times)])
        run_span = self.tracer.start_span(
            "workflow.run",
            start_time=run_start,
            attributes={
                "snapagent.run_id": record.run_id,
                "snapagent.bot_id": record.bot_id,
                "snapagent.engine": record.engine,
                "snapagent.bot_version": record.version_number or 0,
                "snapagent.status": record.status,
                "snapagent.mode": record.mode,
                "snapagent.tokens.input": record.input_tokens,
                "snapagent.tokens.output": record.output_tokens,
            },
        )
        if failed:
            run_span.set_status(Status(StatusCode.ERROR, record.error_type or "failed"))
        parent = trace.set_span_in_context(run_span)
        for node, (node_start, node_end) in zip(record.nodes, node_times, strict=True):
            node_span = self.tracer.start_span(
                f"node {node.node_type}",
                context=parent,
                start_time=node_start,
                attributes={
                    "snapagent.node_id": node.node_id,
                    "snapagent.node_type": node.node_type,
                    "snapagent.status": node.status,
                    "snapagent.retries": node.retries,
                    "snapagent.tokens.input": node.input_tokens,
                    "snapagent.tokens.output": node.output_tokens,
                },
            )
            if node.status == "failed":
                node_span.set_status(Status(StatusCode.ERROR, "node failed"))
            node_span.end(end_time=node_end)
        run_span.end(end_time=run_end)

    def shutdown(self) -> None:
        self.provider.shutdown()


def build_tracing(settings: ObservabilitySettings) -> Tracing | None:
    """The configured exporter's tracing, or None when no exporter is configured."""
    if settings.otel_exporter_otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        return Tracing(
            OTLPSpanExporter(endpoint=endpoint), service_name=settings.service_name, batch=True
        )
    if settings.otel_console:
        # stderr: stdout carries the JSON log lines, which must stay one object per line.
        return Tracing(ConsoleSpanExporter(out=sys.stderr), service_name=settings.service_name)
    return None
