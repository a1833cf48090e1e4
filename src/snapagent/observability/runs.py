"""Metrics and traces of workflow runs and model calls, wired in once by ``create_app``.

Runs are observed through the engine's run handle (`snapagent.workflow.handle`): for each
chat run the chat service asks every observer factory of the app for a `RunObserver`, and
`RunTelemetry` builds the two kinds - `MetricsObserver` (counts, durations) and, when an
exporter is configured, `TracingObserver` (a span per run with a child per node). Each turns
the run's end into the same `RunRecord` the recorder stores. Model calls pass through
`ObservedChatModels`, which reports tokens and provider errors to the app's `Metrics`.
Nothing here is global: several apps in one process never mix their figures, and code that
wires nothing (CLI, unit tests) reports nothing.

    telemetry = RunTelemetry(Metrics(), build_tracing(settings))
    chat = ChatService(db, runtime, recorder, observers=[telemetry.for_run])
    chat_models = ObservedChatModels(ChatModelRegistry(), telemetry.metrics)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from snapagent.errors import ProviderError
from snapagent.observability.metrics import Metrics
from snapagent.observability.tracing import Tracing
from snapagent.services.run_recorder import RunInfo, RunRecord, record_from_end
from snapagent.workflow.events import WorkflowEvent
from snapagent.workflow.handle import RunEnd, RunObserver
from snapagent.workflow.services import (
    ChatChunk,
    ChatModel,
    ChatModelProvider,
    ChatRequest,
    ChatResult,
)

__all__ = [
    "MetricsObserver",
    "ObservedChatModel",
    "ObservedChatModels",
    "RunTelemetry",
    "TracingObserver",
]

log = logging.getLogger(__name__)


class _RecordObserver:
    """Base of the observers that report a run's record at its end (never raising)."""

    def __init__(self, info: RunInfo) -> None:
        self.info = info

    def on_event(self, event: WorkflowEvent) -> None:
        return None

    async def on_end(self, end: RunEnd) -> None:
        try:
            self.report(record_from_end(end, self.info))
        except Exception:  # observability must never fail a user's chat
            log.exception("could not report run %s (%s)", end.run_id, type(self).__name__)

    def report(self, record: RunRecord) -> None:
        raise NotImplementedError


class MetricsObserver(_RecordObserver):
    """Counts and times one run (``snapagent_workflow_runs_total``, durations per node).
    Debug runs are left out, as the statistics leave them out: the run metrics describe live
    traffic (their tokens are still counted: they were spent)."""

    def __init__(self, metrics: Metrics, info: RunInfo) -> None:
        super().__init__(info)
        self.metrics = metrics

    def report(self, record: RunRecord) -> None:
        if record.trigger == "chat":
            self.metrics.observe_run(record)


class TracingObserver(_RecordObserver):
    """Writes one run as a span with a child span per node."""

    def __init__(self, tracing: Tracing, info: RunInfo) -> None:
        super().__init__(info)
        self.tracing = tracing

    def report(self, record: RunRecord) -> None:
        self.tracing.record_run(record)


class RunTelemetry:
    """The app's metrics and (optional) tracing; `for_run` is an observer factory."""

    def __init__(self, metrics: Metrics, tracing: Tracing | None = None) -> None:
        self.metrics = metrics
        self.tracing = tracing

    def for_run(self, info: RunInfo) -> RunObserver:
        """The observer of one run: metrics, plus a span when tracing is on."""
        metrics = MetricsObserver(self.metrics, info)
        if self.tracing is None:
            return metrics
        return _Together(metrics, TracingObserver(self.tracing, info))


class _Together:
    """Several observers as one (each still reports even if another failed)."""

    def __init__(self, *observers: RunObserver) -> None:
        self.observers = observers

    def on_event(self, event: WorkflowEvent) -> None:
        return None

    async def on_end(self, end: RunEnd) -> None:
        for observer in self.observers:
            await observer.on_end(end)


class ObservedChatModel:
    """A chat model that reports its tokens and provider errors; otherwise the model itself."""

    def __init__(self, inner: ChatModel, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def _tokens(self, model_id: str, usage: Any) -> None:
        if usage is not None:
            self.metrics.observe_tokens(model_id, usage.input_tokens, usage.output_tokens)

    async def complete(self, request: ChatRequest) -> ChatResult:
        try:
            result = await self.inner.complete(request)
        except ProviderError as exc:
            self.metrics.observe_provider_error(exc.provider, type(exc).__name__)
            raise
        self._tokens(result.model or self.model_id, result.usage)
        return result

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        usage = None  # the last chunk's usage is the call's (as the LLM node reads it)
        try:
            async for chunk in self.inner.stream(request):
                usage = chunk.usage or usage
                yield chunk
        except ProviderError as exc:
            self.metrics.observe_provider_error(exc.provider, type(exc).__name__)
            raise
        finally:
            self._tokens(self.model_id, usage)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class ObservedChatModels:
    """Wraps a `ChatModelProvider` so every model it resolves reports to ``metrics``."""

    def __init__(self, inner: ChatModelProvider, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def resolve(self, model_id: str | None) -> ChatModel:
        return ObservedChatModel(self.inner.resolve(model_id), self.metrics)
