"""The route template a request matches (``/api/v1/bots/{bot_id}``), found before routing.

Metrics label requests by template, never by raw path (ids would make every path a new series),
and the rate limiter decides by template which requests count. Templates come from the app's
routes (walking included routers, whose prefixes are added), compiled once per app.

    template = route_template(scope)     # None when no route matches (a 404)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from weakref import WeakKeyDictionary

from starlette.routing import compile_path
from starlette.types import Scope

__all__ = ["UNMATCHED", "route_table", "route_template"]

UNMATCHED = "unmatched"

_Entry = tuple[re.Pattern[str], frozenset[str] | None, str]
_tables: WeakKeyDictionary[Any, list[_Entry]] = WeakKeyDictionary()


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


def route_table(app: Any) -> list[_Entry]:
    """(path regex, methods, template) of every route of ``app``; cached per app."""
    table = _tables.get(app)
    if table is None:
        table = list(_walk(app.router.routes, ""))
        _tables[app] = table
    return table


def route_template(scope: Scope) -> str | None:
    """The template of the route ``scope`` matches (path and method), else ``None``."""
    app = scope.get("app")
    if app is None or not hasattr(app, "router"):
        return None
    path, method = scope.get("path", ""), scope.get("method", "")
    path_only = None
    for regex, methods, template in route_table(app):
        if regex.match(path):
            if methods is None or method in methods or (method == "HEAD" and "GET" in methods):
                return template
            path_only = path_only or template
    # Right path, wrong method (405): still that route's template, not an unknown path.
    return path_only
