"""Feeds workflow runs and model calls into the app's metrics and traces.

The chat service knows nothing about metrics: every run ends in exactly one `RunRecord`, which
the recorder module hands to :func:`notify_run`; model calls pass through
:class:`ObservedChatModels`. Both find the app's :class:`RunObserver` in a context variable the
request middleware sets, so several apps in one process never mix their figures, and code run
outside a request (CLI, unit tests) reports nothing.

    token = current_observer.set(RunObserver(metrics, tracing))
    notify_run(record)                 # counted, timed, traced
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from snapagent.errors import ProviderError
from snapagent.workflow.services import (
    ChatChunk,
    ChatModel,
    ChatModelProvider,
    ChatRequest,
    ChatResult,
)

if TYPE_CHECKING:  # kept out of the import path of services (prometheus, OpenTelemetry SDK)
    from snapagent.observability.metrics import Metrics
    from snapagent.observability.tracing import Tracing
    from snapagent.services.run_recorder import RunRecord

__all__ = [
    "ObservedChatModel",
    "ObservedChatModels",
    "RunObserver",
    "current_observer",
    "notify_run",
    "observe_chat_models",
]

log = logging.getLogger(__name__)


class RunObserver:
    """The app's sinks for runs and model calls: metrics always, spans when configured."""

    def __init__(self, metrics: Metrics, tracing: Tracing | None = None) -> None:
        self.metrics = metrics
        self.tracing = tracing

    def run_finished(self, record: RunRecord) -> None:
        self.metrics.observe_run(record)
        if self.tracing is not None:
            self.tracing.record_run(record)


current_observer: ContextVar[RunObserver | None] = ContextVar(
    "snapagent_run_observer", default=None
)


def notify_run(record: RunRecord) -> None:
    """Report a finished run to the current app's observer; never raises."""
    observer = current_observer.get()
    if observer is None:
        return
    try:
        observer.run_finished(record)
    except Exception:  # observability must never fail a user's chat
        log.exception("could not report run %s to metrics/traces", record.run_id)


def _tokens(model_id: str, result_usage: Any) -> None:
    observer = current_observer.get()
    if observer is not None and result_usage is not None:
        observer.metrics.observe_tokens(
            model_id, result_usage.input_tokens, result_usage.output_tokens
        )


def _provider_error(exc: ProviderError) -> None:
    observer = current_observer.get()
    if observer is not None:
        observer.metrics.observe_provider_error(exc.provider, type(exc).__name__)


class ObservedChatModel:
    """A chat model that reports its tokens and provider errors; otherwise the model itself."""

    def __init__(self, inner: ChatModel) -> None:
        self.inner = inner

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    async def complete(self, request: ChatRequest) -> ChatResult:
        try:
            result = await self.inner.complete(request)
        except ProviderError as exc:
            _provider_error(exc)
            raise
        _tokens(result.model or self.model_id, result.usage)
        return result

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        usage = None  # the last chunk's usage is the call's (as the LLM node reads it)
        try:
            async for chunk in self.inner.stream(request):
                usage = chunk.usage or usage
                yield chunk
        except ProviderError as exc:
            _provider_error(exc)
            raise
        finally:
            _tokens(self.model_id, usage)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class ObservedChatModels:
    """Wraps a `ChatModelProvider` so every model it resolves is observed."""

    def __init__(self, inner: ChatModelProvider) -> None:
        self.inner = inner

    def resolve(self, model_id: str | None) -> ChatModel:
        return ObservedChatModel(self.inner.resolve(model_id))


def observe_chat_models(provider: ChatModelProvider) -> ChatModelProvider:
    """``provider`` with observed models (idempotent)."""
    return provider if isinstance(provider, ObservedChatModels) else ObservedChatModels(provider)
