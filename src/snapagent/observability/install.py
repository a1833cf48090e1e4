"""Wires observability, CORS, the JSON body limit and rate limits into an app.

`create_app` calls :func:`install_observability` once; the pieces are kept on
``state.extras[OBSERVABILITY]`` (:class:`Observability`) so routes (``/metrics``) and tests reach
them. Middleware order, outermost first: request context (ids, access log, metrics, EMF) ->
CORS -> rate limits -> JSON body limit -> the app-wide body limit -> routes. Logging is
configured when the app starts, after the server (uvicorn) configured its own loggers.

    install_observability(app, state, ObservabilitySettings(), RateLimitSettings())
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from snapagent.api.state import AppState
from snapagent.observability.body_limit import JsonBodyLimitMiddleware
from snapagent.observability.emf import EmfEmitter
from snapagent.observability.logging import configured_logging, env_secret_values
from snapagent.observability.metrics import Metrics
from snapagent.observability.middleware import REQUEST_ID_HEADER, RequestContextMiddleware
from snapagent.observability.runs import RunObserver
from snapagent.observability.settings import ObservabilitySettings
from snapagent.observability.tracing import Tracing, build_tracing
from snapagent.ratelimit.limiter import DatabaseRateLimiter
from snapagent.ratelimit.middleware import RateLimitMiddleware
from snapagent.ratelimit.settings import RateLimitSettings

__all__ = ["OBSERVABILITY", "Observability", "install_observability", "secret_values"]

OBSERVABILITY = "observability"


@dataclass(slots=True)
class Observability:
    """What one app reports through."""

    settings: ObservabilitySettings
    metrics: Metrics
    observer: RunObserver
    emf: EmfEmitter | None
    rate_limiter: DatabaseRateLimiter | None

    @property
    def tracing(self) -> Tracing | None:
        return self.observer.tracing

    @tracing.setter
    def tracing(self, value: Tracing | None) -> None:
        self.observer.tracing = value


def secret_values(state: AppState) -> list[str | None]:
    """Values never to log: the JWT secret and every secret-looking environment variable."""
    values: list[str | None] = [state.settings.jwt_secret]
    values += env_secret_values()
    return values


def install_observability(
    app: FastAPI,
    state: AppState,
    settings: ObservabilitySettings | None = None,
    rate_limits: RateLimitSettings | None = None,
) -> Observability:
    """Add the middleware and keep the pieces on ``state``; see the module docstring."""
    settings = settings or ObservabilitySettings()
    rate_limits = rate_limits or RateLimitSettings()
    metrics = Metrics(max_label_values=settings.metrics_max_label_values)
    emf = None
    if settings.emf_enabled:
        emf = EmfEmitter(namespace=settings.emf_namespace, service=settings.service_name)
    limiter = None
    if rate_limits.enabled:
        limiter = DatabaseRateLimiter(state.database, window_seconds=rate_limits.window_seconds)
    bundle = Observability(
        settings=settings,
        metrics=metrics,
        observer=RunObserver(metrics, build_tracing(settings)),
        emf=emf,
        rate_limiter=limiter,
    )
    state.extras[OBSERVABILITY] = bundle

    # add_middleware wraps what is there: the last added runs first.
    app.add_middleware(JsonBodyLimitMiddleware, max_bytes=settings.json_body_max_bytes)
    if limiter is not None:
        app.add_middleware(
            RateLimitMiddleware,
            limiter=limiter,
            settings=rate_limits,
            credentials=state.credentials,
        )
    if state.settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=state.settings.cors_origins,
            allow_methods=settings.cors_methods,
            allow_headers=settings.cors_headers,
            expose_headers=[REQUEST_ID_HEADER, "Retry-After"],
            max_age=settings.cors_max_age,
        )
    app.add_middleware(RequestContextMiddleware, metrics=metrics, observer=bundle.observer, emf=emf)

    inner_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            with configured_logging(settings, secret_values(state)):
                async with inner_lifespan(app):
                    yield
        finally:
            if bundle.tracing is not None:
                bundle.tracing.shutdown()

    app.router.lifespan_context = lifespan
    return bundle
