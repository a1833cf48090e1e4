"""Spans from a run record; the run observer and observed chat models report to metrics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from snapagent.llm.errors import ProviderTimeoutError
from snapagent.nodes import default_registry
from snapagent.observability.metrics import Metrics
from snapagent.observability.runs import MetricsObserver, ObservedChatModels, RunTelemetry
from snapagent.observability.settings import ObservabilitySettings
from snapagent.observability.tracing import Tracing, build_tracing
from snapagent.services.run_recorder import NodeRecord, RunInfo, RunRecord
from snapagent.testing import GraphBuilder, ScriptedChatModel, ScriptedChatModels
from snapagent.workflow import RunEnd, WorkflowExecutorV2
from snapagent.workflow.services import ChatMessage, ChatRequest

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def failed_run() -> RunRecord:
    ms = timedelta(milliseconds=1)
    return RunRecord(
        run_id="r1",
        bot_id="b1",
        status="failed",
        started_at=T0,
        finished_at=T0 + 30 * ms,
        elapsed_ms=30.0,
        error_type="ProviderTimeoutError",
        engine="v1",
        nodes=[
            NodeRecord("s", "start", 0, "succeeded", started_at=T0, finished_at=T0 + ms),
            NodeRecord("l", "llm", 1, "failed", started_at=T0 + 2 * ms, finished_at=T0 + 29 * ms),
        ],
    )


def test_a_run_becomes_a_run_span_with_node_children() -> None:
    exporter = InMemorySpanExporter()
    Tracing(exporter).record_run(failed_run())
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"workflow.run", "node start", "node llm"}
    run, llm = spans["workflow.run"], spans["node llm"]
    assert run.status.status_code is StatusCode.ERROR
    assert llm.status.status_code is StatusCode.ERROR
    assert spans["node start"].status.status_code is StatusCode.UNSET
    assert llm.parent is not None
    assert run.context is not None
    assert llm.parent.span_id == run.context.span_id
    assert llm.end_time is not None
    assert llm.start_time is not None
    assert llm.end_time - llm.start_time == 27_000_000  # exact nanoseconds from the record
    assert run.attributes is not None
    assert run.attributes["snapagent.engine"] == "v1"


def test_tracing_only_with_an_exporter() -> None:
    assert build_tracing(ObservabilitySettings()) is None
    console = build_tracing(ObservabilitySettings(otel_console=True))
    assert console is not None
    console.shutdown()
    otlp = build_tracing(ObservabilitySettings(otel_exporter_otlp_endpoint="http://127.0.0.1:9"))
    assert otlp is not None
    otlp.shutdown()


async def test_run_observers_report_the_record_of_how_a_run_ended() -> None:
    metrics = Metrics()
    exporter = InMemorySpanExporter()
    telemetry = RunTelemetry(metrics)
    info = RunInfo(run_id="r1", bot_id="b1", inputs={}, engine="v1")
    await telemetry.for_run(info).on_end(RunEnd("r1", None, asyncio.CancelledError()))
    telemetry.tracing = Tracing(exporter)  # traces from the next run on
    result = await WorkflowExecutorV2(default_registry()).run(
        GraphBuilder()
        .node("start", "start")
        .node("end", "end", outputs=["answer"])
        .edge("start.query", "end.answer")
        .build(),
        {"query": "hi"},
    )
    await telemetry.for_run(info).on_end(RunEnd("r1", result))
    text = metrics.render().decode()
    assert 'snapagent_workflow_runs_total{engine="v1",status="cancelled"} 1.0' in text
    assert 'snapagent_workflow_runs_total{engine="v1",status="succeeded"} 1.0' in text
    assert 'snapagent_node_duration_seconds_count{node_type="start",status="succeeded"} 1.0' in text
    assert {span.name for span in exporter.get_finished_spans()} == {
        "workflow.run",
        "node start",
        "node end",
    }


async def test_a_broken_observer_never_fails_the_run(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Metrics):
        def observe_run(self, record: RunRecord) -> None:
            raise RuntimeError("sink down")

    info = RunInfo(run_id="r1", bot_id="b1", inputs={})
    await MetricsObserver(Broken(), info).on_end(RunEnd("r1", None, asyncio.CancelledError()))
    assert "could not report run r1" in caplog.text


async def test_observed_models_count_tokens_and_provider_errors() -> None:
    model = ScriptedChatModel("claude-x")
    model.enqueue("two words").enqueue("three more words")
    model.enqueue_error(ProviderTimeoutError("slow", provider="anthropic"))
    metrics = Metrics()
    models = ObservedChatModels(ScriptedChatModels(model), metrics)
    request = ChatRequest(messages=[ChatMessage("user", "hello")])
    resolved = models.resolve("claude-x")
    assert resolved.model_id == "claude-x"
    await resolved.complete(request)
    chunks = [chunk async for chunk in resolved.stream(request)]
    assert "".join(c.text for c in chunks) == "three more words"
    with pytest.raises(ProviderTimeoutError):
        await resolved.complete(request)
    text = metrics.render().decode()
    assert 'snapagent_llm_tokens_total{direction="output",model="claude-x"} 5.0' in text
    assert 'snapagent_llm_tokens_total{direction="input",model="claude-x"} 2.0' in text
    errors = (
        'snapagent_provider_errors_total{error_class="ProviderTimeoutError",provider="anthropic"}'
    )
    assert f"{errors} 1.0" in text
