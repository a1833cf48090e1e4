"""The route template a request matches (``/api/v1/bots/{bot_id}``), found before routing.

Metrics label requests by template, never by raw path (ids would make every path a new series),
and the rate limiter decides by template which requests count. Templates come from the app's
routes (walking included routers, whose prefixes are added), compiled once per app, and grouped
by their first three path segments (`template_key`): a request is matched only against the
templates of its group (every request pays for this lookup, some twice).

    template = route_template(scope)     # None when no route matches (a 404)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar
from weakref import WeakKeyDictionary

from starlette.routing import compile_path
from starlette.types import Scope

__all__ = [
    "UNMATCHED",
    "KeyedRoutes",
    "path_key",
    "route_table",
    "route_template",
    "template_key",
]

UNMATCHED = "unmatched"

_Entry = tuple[re.Pattern[str], frozenset[str] | None, str]
_Key = tuple[str, ...]
T = TypeVar("T")


class KeyedRoutes(Generic[T]):
    """Routes in order, grouped by the key of the paths each can match (`template_key`): for a
    path, the routes that can match it, still in order. ``key`` None: a route that can match
    any path (it is in every group)."""

    def __init__(self, routes: list[T], key: Callable[[T], _Key | None]) -> None:
        self.routes = routes
        by_key: dict[_Key, list[int]] = {}
        anywhere: list[int] = []
        for at, route in enumerate(routes):
            route_key = key(route)
            if route_key is None:
                anywhere.append(at)
            else:
                by_key.setdefault(route_key, []).append(at)
        self.anywhere = [routes[at] for at in anywhere]
        self.by_key = {
            group: [routes[at] for at in sorted(ats + anywhere)] for group, ats in by_key.items()
        }

    def candidates(self, path: str) -> list[T]:
        return self.by_key.get(path_key(path), self.anywhere)


_tables: WeakKeyDictionary[Any, KeyedRoutes[_Entry]] = WeakKeyDictionary()


def path_key(path: str) -> _Key:
    """A request path's first three segments: ``/api/v1/bots/x`` -> ``("api", "v1", "bots")``."""
    return tuple(path.split("/", 4)[1:4])


def template_key(template: str) -> _Key | None:
    """The `path_key` of every path ``template`` (Starlette syntax) can match, or None when
    its first three segments are not all literal."""
    cut = template.find("{")
    if cut < 0:
        return path_key(template)
    literal = template[:cut]
    segments = literal[: literal.rfind("/")].split("/")[1:]  # the complete segments only
    return tuple(segments[:3]) if len(segments) >= 3 else None


def _walk(routes: Iterable[Any], prefix: str) -> Iterable[_Entry]:
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:  # FastAPI's record of an include_router(...)
            context = getattr(route, "include_context", None)
            yield from _walk(included.routes, prefix + str(getattr(context, "prefix", "")))
            continue
        path = getattr(route, "path", None)
        if isinstance(path, str):
            template = prefix + path
            methods = getattr(route, "methods", None)
            regex, _, _ = compile_path(template)
            yield regex, frozenset(methods) if methods else None, template


def _table(app: Any) -> KeyedRoutes[_Entry]:
    table = _tables.get(app)
    if table is None:
        table = KeyedRoutes(
            list(_walk(app.router.routes, "")), lambda entry: template_key(entry[2])
        )
        _tables[app] = table
    return table


def route_table(app: Any) -> list[_Entry]:
    """(path regex, methods, template) of every route of ``app``; cached per app."""
    return _table(app).routes


def route_template(scope: Scope) -> str | None:
    """The template of the route ``scope`` matches (path and method), else ``None``."""
    app = scope.get("app")
    if app is None or not hasattr(app, "router"):
        return None
    path, method = scope.get("path", ""), scope.get("method", "")
    path_only = None
    for regex, methods, template in _table(app).candidates(path):
        if regex.match(path):
            if methods is None or method in methods or (method == "HEAD" and "GET" in methods):
                return template
            path_only = path_only or template
    # Right path, wrong method (405): still that route's template, not an unknown path.
    return path_only
