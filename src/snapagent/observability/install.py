"""Wires observability into an app: request context, access log and HTTP metrics, run metrics
and traces, EMF error lines, and the logging configuration.

`create_app` calls :func:`install_observability` once and keeps the returned
:class:`Observability` on its typed state (``/metrics`` renders ``observability.metrics``; the
chat service observes runs through ``observability.telemetry``). CORS, rate limits and body
limits are the app's own concerns and are assembled in ``create_app``, not here. Logging is
configured when the app starts, after the server (uvicorn) configured its own loggers.

    bundle = install_observability(app, ObservabilitySettings(), secrets=[jwt_secret])
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI

from snapagent.observability.emf import EmfEmitter
from snapagent.observability.logging import configured_logging
from snapagent.observability.metrics import Metrics
from snapagent.observability.middleware import RequestContextMiddleware
from snapagent.observability.runs import RunTelemetry
from snapagent.observability.settings import ObservabilitySettings
from snapagent.observability.tracing import Tracing, build_tracing

__all__ = ["Observability", "install_observability", "secret_values"]

_SECRET_NAMES = ("KEY", "SECRET", "PASSWORD", "TOKEN", "DATABASE_URL")


@dataclass(slots=True)
class Observability:
    """What one app reports through."""

    settings: ObservabilitySettings
    telemetry: RunTelemetry
    emf: EmfEmitter | None

    @property
    def metrics(self) -> Metrics:
        return self.telemetry.metrics

    @property
    def tracing(self) -> Tracing | None:
        return self.telemetry.tracing

    @tracing.setter
    def tracing(self, value: Tracing | None) -> None:
        self.telemetry.tracing = value


def secret_values(*known: str | None) -> list[str | None]:
    """Values never to log: ``known`` ones (the JWT secret) and every secret-looking
    environment variable."""
    values: list[str | None] = list(known)
    values += [v for k, v in os.environ.items() if any(n in k.upper() for n in _SECRET_NAMES)]
    return values


def install_observability(
    app: FastAPI,
    settings: ObservabilitySettings | None = None,
    *,
    secrets: Sequence[str | None] = (),
) -> Observability:
    """Add the request context middleware and the logging lifespan; see the module doc.

    Call it last of the middleware so the request context is the outermost layer: every
    answer, a rate limit's or a body limit's too, is counted and logged with its request id.
    """
    settings = settings or ObservabilitySettings()
    metrics = Metrics(max_label_values=settings.metrics_max_label_values)
    emf = None
    if settings.emf_enabled:
        emf = EmfEmitter(namespace=settings.emf_namespace, service=settings.service_name)
    bundle = Observability(
        settings=settings, telemetry=RunTelemetry(metrics, build_tracing(settings)), emf=emf
    )
    app.add_middleware(RequestContextMiddleware, metrics=bundle.metrics, emf=emf)

    inner_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            with configured_logging(settings, secret_values(*secrets)):
                async with inner_lifespan(app):
                    yield
        finally:
            if bundle.tracing is not None:
                bundle.tracing.shutdown()

    app.router.lifespan_context = lifespan
    return bundle
