"""Reading untrusted nested data without trusting its shape.

mapping(data.get("body"))      # the dict, or {} when it is anything else
mappings(data.get("items"))    # the dicts of a list, or [] when it is not a list
"""

from __future__ import annotations

from typing import Any

__all__ = ["mapping", "mappings"]


def mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def mappings(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
