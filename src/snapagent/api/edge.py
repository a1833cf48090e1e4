"""The request edge: the ASGI layers every request passes before and after its route.

`EdgeFastAPI` is FastAPI with its middleware stack built leaner; everything else (routes,
OpenAPI, exception handlers, lifespan) is FastAPI's. Outermost first:

1. Starlette's ``ServerErrorMiddleware``: an unhandled error becomes the 500 handler's answer.
2. FastAPI's ``ExceptionTelemetryMiddleware``: reports exceptions to FastAPI's OpenTelemetry
   integration when one is configured.
3. FastAPI's ``AppBodyLimitMiddleware`` - only when the app sets ``max_body_size`` (ours does
   not: `snapagent.api.body_limit` enforces our limits). FastAPI adds it to every app, where
   it only passes requests on.
4. The app's own middleware (``add_middleware``): request context (ids, access log,
   metrics), CORS and rate limits when configured, the body limits (one layer).
5. Starlette's ``ExceptionMiddleware`` (the exception handlers) and FastAPI's
   ``AsyncExitStackMiddleware`` (closes uploaded files), as in FastAPI.
6. `IndexedRouter` instead of the bare router: the route found without asking every included
   router in turn (see `snapagent.api.route_index`).

    app = EdgeFastAPI(title="SnapAgent API", ...)     # same arguments as FastAPI
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi._body_limit import AppBodyLimitMiddleware
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from fastapi.telemetry._asgi import ExceptionTelemetryMiddleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp

from snapagent.api.route_index import IndexedRouter

__all__ = ["EdgeFastAPI"]


class EdgeFastAPI(FastAPI):
    """FastAPI with the middleware stack of the module docstring."""

    def build_middleware_stack(self) -> ASGIApp:
        error_handler = None
        handlers: dict[Any, Any] = {}
        for key, value in self.exception_handlers.items():
            if key in (500, Exception):
                error_handler = value
            else:
                handlers[key] = value
        app: ASGIApp = IndexedRouter(self.router)
        app = AsyncExitStackMiddleware(app)
        app = ExceptionMiddleware(app, handlers=handlers, debug=self.debug)
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        max_body_size = getattr(self, "max_body_size", None)
        if max_body_size is not None:
            app = AppBodyLimitMiddleware(app, max_body_size=max_body_size)
        app = ExceptionTelemetryMiddleware(app)
        return ServerErrorMiddleware(app, handler=error_handler, debug=self.debug)
