"""What every converted node shares: the result of a node converter, the per-node settings
(``error_strategy``, ``retry_config``, ``default_value``), layout, and Dify's value types.

A converter returns a `Built`: our node type, config and inputs, plus how Dify's edge handles
map to our branch ports. `finish_node` turns it into the graph JSON of the node, adding what
all nodes share.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from snapagent.interop.dify.context import DifyContext, DifyNode
from snapagent.interop.dify.references import Selector

__all__ = [
    "FAIL_PORT",
    "Built",
    "finish_node",
    "port_type",
    "position_of",
]

FAIL_PORT = "fail"

_TYPES = {
    "string": "string",
    "text": "string",
    "secret": "string",
    "paragraph": "string",
    "text-input": "string",
    "select": "string",
    "number": "number",
    "integer": "integer",
    "boolean": "boolean",
    "bool": "boolean",
    "checkbox": "boolean",
    "object": "object",
    "json_object": "object",
    "array[string]": "array[string]",
    "array[number]": "array[number]",
    "array[object]": "array[object]",
    "array_string": "array[string]",
    "array_number": "array[number]",
    "array_object": "array[object]",
}


def port_type(dify_type: Any) -> str:
    """Our port type for a Dify value type (``any`` for files, booleans lists and the unknown)."""
    return _TYPES.get(str(dify_type or "").strip().lower(), "any")


@dataclass(slots=True)
class Built:
    """One converted node before the shared settings are added."""

    type: str
    config: dict[str, Any]
    inputs: dict[str, Selector] = field(default_factory=dict)
    handles: dict[str, str | None] = field(default_factory=dict)
    """Dify source handle -> our branch port (None: a plain control edge)."""
    outputs: dict[str, str] = field(default_factory=dict)
    """Dify output name -> our output port, for default values."""
    extra: list[dict[str, Any]] = field(default_factory=list)
    """More nodes this one became (they follow it in the graph)."""
    edges: list[dict[str, Any]] = field(default_factory=list)
    """Edges between the node and its ``extra`` nodes (Dify's edges come on top)."""
    keep_settings: bool = True
    """False: the node's error strategy and retries are not applied."""
    id: str | None = None
    """The node's id when it is not the Dify node's own (it became several nodes)."""


def position_of(raw: dict[str, Any]) -> dict[str, int] | None:
    """A Dify node's position (relative to its container for body nodes), rounded."""
    position = raw.get("position")
    if not isinstance(position, dict):
        return None
    try:
        x, y = float(position.get("x", 0)), float(position.get("y", 0))
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    return {"x": round(x), "y": round(y)}


def _typed_default(kind: str, value: Any) -> Any:
    """A Dify default value (often JSON text) as the value itself."""
    if isinstance(value, str) and kind not in ("string", ""):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _settings(node: DifyNode, built: Built, ctx: DifyContext, out: dict[str, Any]) -> None:
    data = node.data
    strategy = data.get("error_strategy")
    if strategy == "fail-branch":
        out["error_strategy"] = "fail_branch"
        built.handles.setdefault("fail-branch", FAIL_PORT)
        built.handles.setdefault("success-branch", None)
    elif strategy == "default-value":
        out["error_strategy"] = "default_value"
        defaults: dict[str, Any] = {}
        for item in data.get("default_value") or []:
            if not isinstance(item, dict) or not isinstance(item.get("key"), str):
                continue
            key = str(item["key"])
            port = built.outputs.get(key, key)
            defaults[port] = _typed_default(str(item.get("type", "")), item.get("value"))
        if defaults:
            out["default_outputs"] = defaults
    elif strategy not in (None, "", "none"):
        ctx.note(
            "warning",
            f"error strategy {strategy!r} is unknown",
            "the node fails the run on an error (fail_run)",
            node_id=node.id,
            field="error_strategy",
        )
    retry = data.get("retry_config")
    if isinstance(retry, dict) and retry.get("retry_enabled"):
        try:
            retries = max(0, min(20, int(retry.get("max_retries", 0))))
            interval_s = max(0.0, min(600.0, float(retry.get("retry_interval", 0)) / 1000))
        except (TypeError, ValueError):
            retries, interval_s = 0, 0.0
        if retries:
            out["retry"] = {
                "max_retries": retries,
                "backoff_s": interval_s,
                "backoff_multiplier": 1.0,
            }


def finish_node(node: DifyNode, built: Built, ctx: DifyContext) -> list[dict[str, Any]]:
    """The graph JSON of a converted node (and the extra nodes it became)."""
    out: dict[str, Any] = {"id": built.id or node.id, "type": built.type, "title": node.title}
    out["config"] = built.config
    if built.inputs:
        out["inputs"] = {port: {"selector": sel} for port, sel in built.inputs.items()}
    if built.keep_settings:
        _settings(node, built, ctx, out)
    description = node.data.get("desc")
    if isinstance(description, str) and description.strip():
        out["description"] = description
    position = position_of(node.raw)
    if position is not None:
        out["position"] = position
    ctx.report.node_types[node.source_id] = built.type
    return [out, *built.extra]
