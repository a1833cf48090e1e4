"""The OpenAPI document made exact, in one place, after FastAPI has built it from the routes.

Routes declare what is particular to them (their models, the 404/409 they answer); this module
adds what holds for every route of a kind, so no route can forget it:

- Every error answer is ``application/problem+json`` with the `Problem` schema (FastAPI's own
  422 body and ``application/json`` error content are replaced).
- Statuses any route can answer: 500 (a bug, with a reference), 503 (the database is down);
  413 and 422 for a route with a body (the JSON body limit, a body that is not valid); 401 for
  one behind credentials; 429 for the rate-limited routes (chat, upload); 503 on the probes.
- Workflow graphs are typed: ``WorkflowGraph`` (what a client sends) has nodes as a union
  discriminated by ``type``, one member per node type of the app's registry with its config
  schema from the catalogue; ``StoredWorkflowGraph`` (what a version holds, possibly a
  half-finished draft) is the graph's shape with configs as objects.

Only the SnapAgent API (``/api``, ``/health``) is completed: ``/v1`` speaks OpenAI's error shape.

    install_openapi(app, registry)
    app.openapi()["components"]["schemas"]["WorkflowGraph"]["properties"]["nodes"]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Final

from fastapi import FastAPI

from snapagent.api.schemas.common import Problem
from snapagent.workflow.catalogue import describe_registry
from snapagent.workflow.node import NodeRegistryV2
from snapagent.workflow.schema import WorkflowGraph

__all__ = ["GRAPH_SCHEMA", "STORED_GRAPH_SCHEMA", "install_openapi"]

GRAPH_SCHEMA: Final = "WorkflowGraph"
STORED_GRAPH_SCHEMA: Final = "StoredWorkflowGraph"
_REFS: Final = "#/components/schemas/"
_COMPLETED_PREFIXES: Final = ("/api/", "/health")
_PROBES: Final = frozenset({"/health", "/health/ready"})
_PUBLIC: Final = frozenset({"/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/auth/config"})
RATE_LIMITED: Final = frozenset(
    {("post", "/api/v1/chat"), ("post", "/api/v1/knowledge-bases/{kb_id}/documents")}
)
"""Operations the rate limiter counts (`snapagent.ratelimit.middleware`)."""
CONFLICTS: Final = frozenset(
    {
        ("post", "/api/v1/knowledge-bases"),  # the name is taken
        ("post", "/api/v1/api-keys"),  # no unique prefix could be drawn (rare)
    }
)
"""Operations whose 409 comes from a store's unique index rather than from the route."""

_DESCRIPTIONS: Final = {
    401: "Missing, invalid, expired or revoked credentials (`unauthenticated`).",
    403: "Not allowed (`forbidden`).",
    404: "Not found, or owned by another account (`not-found`).",
    409: "Conflicts with the current state (`conflict`).",
    413: "The body (or an upload or attached file) is over its size limit (`payload-too-large`).",
    415: "An upload of a type SnapAgent cannot parse (`unsupported-media-type`).",
    422: "The request is not valid: field problems in `errors` (`validation-error`), or an "
    "invalid graph with its `problems` (`invalid-workflow`).",
    429: "Over a rate limit; retry after `Retry-After` seconds (`rate-limited`).",
    500: "A workflow failed in a node (`workflow-failed`) or a bug (`internal-error`, with a "
    "reference that is also in the server log).",
    502: "The model provider failed (`provider-error`).",
    503: "The database is unavailable or busy; retry later (`unavailable`).",
    504: "The model provider, a node or the run took too long (`provider-timeout`, `timeout`, "
    "`run-limit-exceeded`).",
}


def install_openapi(app: FastAPI, registry: NodeRegistryV2) -> None:
    """Make ``app.openapi()`` return the completed document (built once, then cached)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            complete(build(), registry)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


def complete(document: dict[str, Any], registry: NodeRegistryV2) -> None:
    """Complete ``document`` in place (see the module docstring)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(_problem_schemas())
    schemas.update(_graph_schemas(registry))
    for path, item in document.get("paths", {}).items():
        if not path.startswith(_COMPLETED_PREFIXES):
            continue
        for method, operation in item.items():
            _complete_operation(path, method, operation)
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in schemas and f'"{_REFS}{unused}"' not in repr(document).replace("'", '"'):
            del schemas[unused]


def _problem_schemas() -> dict[str, Any]:
    schema = Problem.model_json_schema(ref_template=_REFS + "{model}")
    return {**schema.pop("$defs", {}), "Problem": schema}


def _statuses(path: str, method: str, operation: dict[str, Any]) -> Iterable[int]:
    yield 500
    yield 503
    if path in _PROBES:
        return
    if "requestBody" in operation:
        yield from (413, 422)
    if operation.get("parameters"):
        yield 422
    if path not in _PUBLIC:
        yield 401
    if (method, path) in RATE_LIMITED:
        yield 429
    if (method, path) in CONFLICTS:
        yield 409
    if path == "/api/v1/chat" or path.endswith(("/run", "/rerun")):
        # A run: its model provider failed or a bound was reached, or the session is busy.
        yield from (409, 502, 504)


def _complete_operation(path: str, method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in _statuses(path, method, operation):
        responses.setdefault(str(status), {})
    problem = {"schema": {"$ref": f"{_REFS}Problem"}}
    for code, response in responses.items():
        status = int(code)
        if status < 400:
            continue
        if path == "/health" and status == 503:
            # Liveness answers its own body, "degraded", while the database is down.
            response["content"] = dict(responses.get("200", {}).get("content", {}))
            response["description"] = "The process is alive but the database is not reachable."
            continue
        response["content"] = {"application/problem+json": problem}
        if not response.get("description") or response["description"] in {"Error", ""}:
            response["description"] = _DESCRIPTIONS.get(status, "Error")
        if status == 422 and response["description"] == "Validation Error":
            response["description"] = _DESCRIPTIONS[422]
    if path == "/health/ready":
        responses["503"]["description"] = (
            "Not ready (`not-ready`): the database does not answer or its schema is behind; "
            "`checks` says which."
        )


def _pascal(type_key: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", type_key) if part)


def _graph_schemas(registry: NodeRegistryV2) -> dict[str, Any]:
    """``StoredWorkflowGraph`` and its parts, and the typed ``WorkflowGraph``."""
    shape = WorkflowGraph.model_json_schema(ref_template=_REFS + "{model}")
    out: dict[str, Any] = dict(shape.pop("$defs", {}))
    shape["title"] = STORED_GRAPH_SCHEMA
    shape["description"] = (
        "A graph as a version holds it: a draft may be half-finished (any node type, any "
        "config); a published version passed validation. Send `WorkflowGraph`."
    )
    out[STORED_GRAPH_SCHEMA] = shape
    generic_node = out["WorkflowNode"]
    members: dict[str, str] = {}
    for entry in describe_registry(registry):
        name = f"{_pascal(entry.type)}Node"
        config_name = f"{name}Config"
        config = _config_schema(entry.config_schema, config_name, out)
        node = {
            **generic_node,
            "title": name,
            "description": f"{entry.title}: {entry.description}".strip(": "),
            "properties": {
                **generic_node["properties"],
                "type": {"type": "string", "const": entry.type, "description": "The node type."},
                "config": {
                    "$ref": f"{_REFS}{config_name}",
                    "description": f"The node's settings ({config_name}; `default_config` "
                    "of its node type is a valid one).",
                },
            },
            "required": sorted({*generic_node.get("required", []), "id", "type"}),
        }
        out[config_name] = config
        out[name] = node
        members[entry.type] = f"{_REFS}{name}"
    typed = {
        **shape,
        "title": GRAPH_SCHEMA,
        "description": "A V2 workflow graph (docs/workflow.md): typed nodes, one schema per "
        "node type of `GET /api/v1/node-types`, wired port to port by edges and selectors.",
        "properties": {
            **shape["properties"],
            "nodes": {
                **shape["properties"]["nodes"],
                "items": {
                    "oneOf": [{"$ref": ref} for ref in members.values()],
                    "discriminator": {"propertyName": "type", "mapping": members},
                },
            },
        },
    }
    out[GRAPH_SCHEMA] = typed
    return out


def _config_schema(config: dict[str, Any], name: str, out: dict[str, Any]) -> dict[str, Any]:
    """A catalogue config schema as a component: its ``$defs`` hoisted into ``out`` under
    ``name``'s prefix (two node types may both define a ``Case``), references rewritten."""
    defs = config.get("$defs", {})

    def rewrite(value: Any) -> Any:
        # Every reference: "$ref" values and a discriminator's "mapping" values alike.
        if isinstance(value, str) and value.startswith("#/$defs/"):
            return f"{_REFS}{name}_{value.removeprefix('#/$defs/')}"
        if isinstance(value, dict):
            return {key: rewrite(item) for key, item in value.items() if key != "$defs"}
        if isinstance(value, list):
            return [rewrite(item) for item in value]
        return value

    for def_name, definition in defs.items():
        out[f"{name}_{def_name}"] = rewrite(definition)
    schema: dict[str, Any] = rewrite(config)
    schema["title"] = name
    return schema
