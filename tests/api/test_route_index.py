"""The indexed router (`snapagent.api.route_index`) selects, for every route of the app and
each of its methods, the very route FastAPI's own nested matching selects - and leaves to
FastAPI whatever it does not select itself (404, 405, plain Starlette routes)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI
from starlette.routing import Match

from snapagent.api.route_index import IndexedRouter, _ApiEntry, _flatten
from snapagent.observability.routing import route_table, route_template

_SAMPLES = {
    "StringConvertor": "s1",
    "IntegerConvertor": "7",
    "FloatConvertor": "1.5",
    "PathConvertor": "a/b",
    "UUIDConvertor": str(uuid.UUID(int=7)),
}


def _scope(method: str, path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "headers": [],
        "query_string": b"",
    }


def _sample_path(context: Any) -> str:
    path = str(context.path_format)
    for name, convertor in context.param_convertors.items():
        path = path.replace("{" + name + "}", _SAMPLES[type(convertor).__name__])
    return path


def _fastapi_selects(app: FastAPI, scope: dict[str, Any]) -> Any:
    """What FastAPI's APIRouter.app picks: the first top-level route matching fully, and inside
    an included router the first of its routes matching fully."""
    for route in app.router.routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            if hasattr(route, "_match"):  # an included router
                return route._match(scope)[3]
            return route
    return None


def test_every_route_is_selected_as_fastapi_selects_it(app: FastAPI) -> None:
    index = IndexedRouter(app.router)
    entries = [e for e in _flatten(app.router) if isinstance(e, _ApiEntry)]
    selected = 0
    for entry in entries:
        for method in sorted(entry.context.methods):
            path = _sample_path(entry.context)
            expected = _fastapi_selects(app, _scope(method, path))
            got = index.select(_scope(method, path))
            if got is None:
                # Left to FastAPI: only when what it picks is not one of the indexed routes.
                assert not any(e.context is expected for e in entries), (method, path)
            else:
                assert got[0].context is expected, (method, path)
                assert got[1]["route"] is got[0].route
                selected += 1
    assert selected > 50  # the index, not the fallback, serves the API


def test_odd_paths_are_selected_as_fastapi_selects_them(app: FastAPI) -> None:
    index = IndexedRouter(app.router)
    indexed = [e.context for e in _flatten(app.router) if isinstance(e, _ApiEntry)]
    paths = [
        *("/", "/api", "/api/v1", "/api/v1/", "/api/v1/bots", "/api/v1/bots/", "/v1/models"),
        *("/api/v1/chat/", "/api/v1/bots/s1/", "/docs", "/docs/assets/x.js", "/mcp", "/x/y/z"),
        *("/api/v1/bots//versions", "/api/v1/bots/s1/s2/s3/s4", "/metrics", "/health/"),
    ]
    for path in paths:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
            expected = _fastapi_selects(app, _scope(method, path))
            got = index.select(_scope(method, path))
            if got is None:
                assert not any(context is expected for context in indexed), (method, path)
            else:
                assert got[0].context is expected, (method, path)


def test_what_fastapi_must_answer_is_left_to_it(app: FastAPI) -> None:
    index = IndexedRouter(app.router)
    assert index.select(_scope("GET", "/health")) is not None
    assert index.select(_scope("DELETE", "/health")) is None  # 405, FastAPI's answer
    assert index.select(_scope("GET", "/no/such/path")) is None  # 404 or the console
    assert index.select(_scope("GET", "/openapi.json")) is None  # a plain Starlette route
    assert index.select(_scope("POST", "/mcp")) is None


def test_routes_added_later_are_indexed(app: FastAPI) -> None:
    index = IndexedRouter(app.router)
    assert index.select(_scope("GET", "/health")) is not None
    health_router = next(r for r in app.router.routes if hasattr(r, "original_router"))

    async def late() -> dict[str, str]:
        return {}

    # The included router object is module-level state shared by every app the tests build:
    # a path of this run's own, taken away again, so no other test (or parametrisation) sees it.
    routes = health_router.original_router.routes
    before = list(routes)
    path = f"/late-route-{uuid.uuid4().hex}"
    health_router.original_router.add_api_route(path, late, methods=["GET"])
    try:
        got = index.select(_scope("GET", path))
        assert got is not None
        assert got[0].route.endpoint is late
    finally:
        routes[:] = before


def _linear_template(app: FastAPI, path: str, method: str) -> str | None:
    """`route_template` as it was: every template of the app tried in order."""
    path_only = None
    for regex, methods, template in route_table(app):
        if regex.match(path):
            if methods is None or method in methods or (method == "HEAD" and "GET" in methods):
                return template
            path_only = path_only or template
    return path_only


def test_route_templates_are_found_as_by_trying_every_route(app: FastAPI) -> None:
    paths = [
        template.replace("{", "").replace("}", "").replace(":path", "/a")
        for _, _, template in route_table(app)
    ]
    paths += ["/", "/nope", "/api/v1/bots/", "/api/v1/bots/x/y/z/w", "/docs/assets/app.js"]
    for path in paths:
        for method in ("GET", "POST", "DELETE", "HEAD"):
            scope = {"app": app, "path": path, "method": method}
            assert route_template(scope) == _linear_template(app, path, method), (method, path)
