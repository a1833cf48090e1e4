"""`HttpTool`: an HTTP API the model calls with JSON arguments.

The arguments fill the URL's ``{name}`` placeholders (URL-encoded, so a value can never change
the host or climb the path) and go, the rest of them, in the query string or a body. The
request goes through the SSRF guard (`snapagent.netguard.guarded_client`): refused
destinations, including after DNS and on every redirect, are error results the model reads.
The response is read up to ``SNAPAGENT_HTTP_MAX_RESPONSE_BYTES``; a 4xx/5xx is an error result
with the status and the body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from snapagent.errors import SnapAgentError
from snapagent.netguard import get_http_settings, guarded_client
from snapagent.netguard.transport import load_tls_context
from snapagent.nodes.agent_tools.base import AgentTool, ToolError, ToolOutcome
from snapagent.nodes.agent_tools.config import HttpToolConfig, placeholders
from snapagent.workflow.services import ToolSpec

__all__ = ["HttpTool"]

_QUERY_METHODS = frozenset({"GET", "DELETE", "HEAD"})


def _text(value: Any) -> str:
    """A scalar as it reads in a URL: strings as they are, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _query_values(value: Any) -> str | list[str]:
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return [_text(v) for v in value]
    return _text(value)


class HttpTool(AgentTool):
    """One configured HTTP API (see the module docstring)."""

    kind = "http"

    def __init__(
        self,
        config: HttpToolConfig,
        *,
        headers: Mapping[str, str],
        timeout_s: float,
        max_response_bytes: int | None = None,
    ) -> None:
        super().__init__(ToolSpec(config.name, config.description, config.parameters), timeout_s)
        self.config = config
        self.headers = dict(headers)
        settings = get_http_settings()
        self.max_response_bytes = min(
            max_response_bytes or settings.max_response_bytes, settings.max_response_bytes
        )

    def request(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The httpx request arguments for one call (`ToolError` for an unusable value)."""
        config = self.config
        rest = dict(arguments)
        url = config.url
        for name in placeholders(config.url):
            if name not in rest:
                raise ToolError(f"argument {name!r} is required")
            value = _text(rest.pop(name))
            if value in ("", ".", ".."):
                raise ToolError(f"argument {name!r} cannot be {value!r}")
            url = url.replace(f"{{{name}}}", quote(value, safe=""))
        request: dict[str, Any] = {"method": config.method, "url": url, "headers": self.headers}
        where = config.arguments_in
        if where == "auto":
            where = "query" if config.method in _QUERY_METHODS else "json"
        if where == "query" and rest:  # merged with the URL's own query (params= replaces it)
            merged = httpx.URL(url).copy_merge_params(
                {k: _query_values(v) for k, v in rest.items()}
            )
            request["url"] = str(merged)
        elif where == "json":
            request["json"] = rest
        elif where == "form" and rest:
            request["data"] = {k: _text(v) for k, v in rest.items()}
        return request

    async def call(self, arguments: Mapping[str, Any]) -> ToolOutcome:
        request = self.request(arguments)
        await load_tls_context()
        try:
            async with (
                guarded_client(
                    timeout=self.timeout_s, follow_redirects=self.config.follow_redirects
                ) as client,
                client.stream(**request) as response,
            ):
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_response_bytes:
                        raise ToolError(
                            f"the response is larger than {self.max_response_bytes} bytes"
                        )
                text = bytes(body).decode(response.encoding or "utf-8", errors="replace")
                status = response.status_code
        except SnapAgentError as exc:  # the guard's refusal
            raise ToolError(exc.message) from None
        except httpx.HTTPError as exc:
            raise ToolError(f"{type(exc).__name__}: {exc}"[:500]) from None
        if status >= 400:
            return ToolOutcome(f"HTTP {status}: {text}", is_error=True)
        return ToolOutcome(text or f"HTTP {status} (no body)")
