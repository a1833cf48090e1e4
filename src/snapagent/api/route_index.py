"""Which route a request goes to, found without asking every router in turn.

FastAPI (0.165) keeps each ``include_router`` as a nested router. To route a request, the app's
router asks each included router whether one of its routes matches - each asking walks that
router's routes, saving and restoring scope keys around every candidate - and then asks the
matching router again to handle it. A chat request (the eleventh router) paid this on every
call: about 7% of the event loop's time in py-spy profiles.

`IndexedRouter` takes the place of the app's router at the bottom of the middleware stack. It
keeps the app's routes flat, in FastAPI's order, each with the literal start of its path,
grouped by the first three path segments (``/api/v1/chat``), and compares a request only with
the routes of its group whose literal start it has. The first route that fully
matches (path and method, decided by FastAPI's own ``matches``) gets the request, with the scope
FastAPI sets up on that path. Everything else goes to FastAPI's router unchanged: no full match
(404, 405, redirect slashes, low-priority routes), a plain Starlette route or mount (the MCP
endpoint, the docs, the console) matching first, a router nested in an included router,
websockets and lifespan - so those behave exactly as before. Routes added later (tests do) are
seen: the index is rebuilt when a router's route count changes.

    app = IndexedRouter(fastapi_app.router)     # an ASGI app, in place of the router

A route whose endpoint is marked with `served_by` is answered by the plain ASGI app it names,
with the same scope, instead of FastAPI's request handler (a `Request`, dependency solving,
the endpoint, serializing): for a route that takes nothing from the request and is asked very
often (``GET /health``). Everything around it - selection, 404/405, the middleware, the
exception handlers, the OpenAPI document (built from the route as declared) - is unchanged.

`tests/api/test_route_index.py` checks that every route of the app is selected the same way
both ways. The index reads FastAPI's routing internals (pinned version): that test is what
fails first if an upgrade changes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import routing as fastapi_routing
from fastapi.routing import APIRoute, APIRouter
from fastapi.telemetry._api import _route_selected
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from snapagent.observability.routing import KeyedRoutes, template_key

__all__ = ["IndexedRouter", "served_by"]

# FastAPI's private names for what its routing keeps in the scope (see the module docstring).
_included_router_class: Any = fastapi_routing._IncludedRouter
_fastapi_scope = fastapi_routing._get_fastapi_scope
_apply_form_limits = fastapi_routing._apply_router_form_limits
_update_scope = fastapi_routing._update_scope
_INCLUDED_ROUTER_KEY = fastapi_routing._FASTAPI_INCLUDED_ROUTER_KEY
_EFFECTIVE_CONTEXT_KEY = fastapi_routing._FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY

_SERVED_BY = "__snapagent_served_by__"
_Endpoint = TypeVar("_Endpoint", bound=Callable[..., Any])


def served_by(app: ASGIApp) -> Callable[[_Endpoint], _Endpoint]:
    """Mark an endpoint (below its route decorator) as answered by ``app`` when
    `IndexedRouter` selects its route; see the module docstring. ``app`` must answer exactly as
    the endpoint would: the endpoint stays for the OpenAPI document and FastAPI's own router."""

    def mark(endpoint: _Endpoint) -> _Endpoint:
        setattr(endpoint, _SERVED_BY, app)
        return endpoint

    return mark


@dataclass(frozen=True, slots=True)
class _ApiEntry:
    """A FastAPI route of a router included in the app, with its effective (prefixed) context."""

    literal: str  # the template up to its first parameter; the whole path if it has none
    static: bool
    context: Any  # fastapi.routing._EffectiveRouteContext
    included: Any  # fastapi.routing._IncludedRouter
    route: APIRoute
    served_by: ASGIApp | None  # in place of the route's handler (see `served_by`)


@dataclass(frozen=True, slots=True)
class _OtherEntry:
    """Any other route of the app: when it matches first, FastAPI's router takes the request."""

    route: BaseRoute | None  # None: a nested router, taken as a match (fall back)


_Entry = _ApiEntry | _OtherEntry


def _entry_key(entry: _Entry) -> tuple[str, ...] | None:
    """The key every path this route matches has, or None (a mount, a nested router, a
    template whose first three segments are not all literal)."""
    if isinstance(entry, _ApiEntry):
        return template_key(str(entry.context.path_format))
    template = getattr(entry.route, "path_format", None)
    if entry.route is None or not isinstance(template, str) or _is_mount(entry.route):
        return None
    return template_key(template)


def _is_mount(route: BaseRoute) -> bool:
    return not isinstance(route, (Route, APIRoute))


class IndexedRouter:
    """An ASGI app routing like ``router`` (the app's `APIRouter`), faster; see the module doc."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self._index: KeyedRoutes[_Entry] = KeyedRoutes([], _entry_key)
        self._route_lists: list[list[BaseRoute]] = []
        self._counts: list[int] = [-1]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            selected = self.select(scope)
            if selected is not None:
                entry, child_scope = selected
                await self._handle(entry, child_scope, scope, receive, send)
                return
        await self.router(scope, receive, send)

    def select(self, scope: Scope) -> tuple[_ApiEntry, Scope] | None:
        """The FastAPI route ``scope`` fully matches first, with its child scope; None when
        FastAPI's router must decide (see the module docstring)."""
        path = get_route_path(scope)
        for entry in self._current_index().candidates(path):
            if isinstance(entry, _ApiEntry):
                if entry.static:
                    if path != entry.literal:
                        continue
                elif not path.startswith(entry.literal):
                    continue
                match, child_scope = entry.context.matches(scope)
                if match == Match.FULL:
                    child_scope["route"] = entry.route
                    return entry, child_scope
            elif entry.route is None or entry.route.matches(scope)[0] == Match.FULL:
                return None
        return None

    async def _handle(
        self, entry: _ApiEntry, child_scope: Scope, scope: Scope, receive: Receive, send: Send
    ) -> None:
        # What Router.__call__, APIRouter.app, _IncludedRouter.handle and _handle_selected
        # leave in the scope on the way to this route, in their order.
        if "router" not in scope:
            scope["router"] = self.router
        _apply_form_limits(scope, self.router.form_limits)
        _apply_form_limits(scope, entry.included.include_context.form_limits)
        fastapi_scope = _fastapi_scope(scope)
        fastapi_scope[_INCLUDED_ROUTER_KEY] = entry.included
        _update_scope(scope, child_scope)
        _route_selected(scope=scope, path=entry.context.path_format, mount=False)
        fastapi_scope[_EFFECTIVE_CONTEXT_KEY] = entry.context
        scope["route"] = entry.route
        if entry.served_by is not None:
            await entry.served_by(scope, receive, send)
        else:
            await entry.route.handle(scope, receive, send)

    def _current_index(self) -> KeyedRoutes[_Entry]:
        # Rebuilt when a route was added to (or removed from) the app or an included router.
        routes = self.router.routes
        if len(routes) != self._counts[0] or list(map(len, self._route_lists)) != self._counts[1:]:
            self._route_lists = [
                route.original_router.routes
                for route in routes
                if isinstance(route, _included_router_class)
            ]
            self._counts = [len(routes), *map(len, self._route_lists)]
            self._index = KeyedRoutes(_flatten(self.router), _entry_key)
        return self._index


def _flatten(router: APIRouter) -> list[_Entry]:
    entries: list[_Entry] = []
    for route in router.routes:
        if not isinstance(route, _included_router_class):
            entries.append(_OtherEntry(route))
            continue
        for candidate in route.effective_candidates():
            original = getattr(candidate, "original_route", None)
            if isinstance(candidate, _included_router_class) or not isinstance(original, APIRoute):
                # A nested router, or a non-FastAPI route inside an included one: FastAPI's
                # router decides from here on.
                entries.append(_OtherEntry(None))
                continue
            template = str(candidate.path_format)
            cut = template.find("{")
            entries.append(
                _ApiEntry(
                    literal=template if cut < 0 else template[:cut],
                    static=cut < 0,
                    context=candidate,
                    included=route,
                    route=original,
                    served_by=getattr(original.endpoint, _SERVED_BY, None),
                )
            )
    return entries
