"""Dify tools that are plain HTTP APIs, so an ``http_request`` node does the same.

http_equivalent({"provider_name": "jina", "tool_name": "jina_reader"})
# ("https://r.jina.ai/{{ url }}", "url")
"""

from __future__ import annotations

from typing import Any

__all__ = ["http_equivalent"]

_HTTP_TOOLS = {
    ("jina", "jina_reader"): ("https://r.jina.ai/{{ url }}", "url"),
    ("jina", "jina_search"): ("https://s.jina.ai/{{ query }}", "query"),
    ("webscraper", "webscraper"): ("{{ url }}", "url"),
}


def http_equivalent(data: dict[str, Any]) -> tuple[str, str] | None:
    """(URL template, the tool parameter it reads) when the tool is a plain HTTP GET."""
    provider = str(data.get("provider_name") or data.get("provider_id") or "")
    key = (provider.rsplit("/", 1)[-1].lower(), str(data.get("tool_name") or ""))
    return _HTTP_TOOLS.get(key)
