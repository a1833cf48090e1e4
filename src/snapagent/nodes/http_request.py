"""`HttpRequestNodeV2`: one outbound HTTP request, its URL, headers, params and body rendered
from templates; outputs ``status_code``, ``headers``, ``body`` and ``json``.

    {"id": "api", "type": "http_request",
     "config": {"method": "POST", "url": "https://api.example.com/tickets",
                "headers": {"Authorization": "Bearer {{ token }}"},
                "params": {"lang": "{{ lang }}"},
                "body": {"type": "json", "json": {"title": "{{ title }}", "priority": "{{ p }}"}},
                "timeout_s": 10, "max_response_bytes": 1048576}}

Every variable the templates read is an input port. In a ``json`` body each string is a
template, and a string that is exactly one ``{{ name }}`` becomes that input's value itself
(numbers, lists and objects keep their type). The request goes through the SSRF guard
(`snapagent.netguard`): loopback, private, link-local and metadata addresses are refused,
after DNS resolution and on every redirect, unless ``SNAPAGENT_HTTP_ALLOWED_NETWORKS`` allows
them. The body is streamed and reading stops past the size limit (a node error). A 4xx/5xx
status is an output, not a failure, unless ``fail_on_error_status`` is set.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from snapagent.errors import NodeExecutionError, NodeTimeoutError, SnapAgentError
from snapagent.netguard import check_url, get_http_settings, guarded_client
from snapagent.netguard.transport import load_tls_context
from snapagent.nodes.templating import render, template_variables
from snapagent.workflow.node import BaseNodeV2, RunContext
from snapagent.workflow.schema import NodePortSchema, PortDefinition
from snapagent.workflow.types import PortType

__all__ = ["HEADER_NAME", "HttpBody", "HttpRequestNodeData", "HttpRequestNodeV2"]

_WHOLE_VARIABLE = re.compile(r"^\{\{\s*([^\W\d]\w*)\s*\}\}$")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")


class HttpBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: Literal["none", "json", "form", "raw"] = Field(
        default="none", description="none, json (the json value), form (fields), raw (text)."
    )
    json_value: Any = Field(
        default=None,
        alias="json",
        description="The JSON body; every string in it is a template.",
    )
    form: dict[str, str] = Field(
        default_factory=dict, max_length=256, description="Form fields; values are templates."
    )
    raw: str = Field(default="", max_length=1_000_000, description="Raw body (a template).")
    content_type: str = Field(
        default="text/plain; charset=utf-8", max_length=256, description="Content-Type of raw."
    )


class HttpRequestNodeData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] = Field(
        default="GET", description="HTTP method."
    )
    url: str = Field(min_length=1, max_length=8192, description="URL (a template); http(s).")
    headers: dict[str, str] = Field(
        default_factory=dict, max_length=64, description="Headers; values are templates."
    )
    params: dict[str, str] = Field(
        default_factory=dict, max_length=256, description="Query parameters; values are templates."
    )
    body: HttpBody = Field(default_factory=HttpBody, description="The request body.")
    timeout_s: float | None = Field(
        default=None, gt=0, le=3600, description="Whole-request time limit (SNAPAGENT_HTTP_*)."
    )
    max_response_bytes: int | None = Field(
        default=None, ge=1, description="Largest response body read (SNAPAGENT_HTTP_*)."
    )
    follow_redirects: bool = Field(default=True, description="Follow redirects (each checked).")
    fail_on_error_status: bool = Field(
        default=False, description="Fail the node on a 4xx or 5xx status."
    )

    @field_validator("headers")
    @classmethod
    def _header_names(cls, headers: dict[str, str]) -> dict[str, str]:
        for name in headers:
            if not HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
        return headers

    @field_validator("url")
    @classmethod
    def _static_url(cls, url: str) -> str:
        if "{{" in url.split("//", 1)[0] or url.startswith("{{"):
            return url  # the scheme comes from a template: checked when rendered
        try:
            check_url(url) if "{{" not in url else _check_scheme(url)
        except SnapAgentError as exc:
            raise ValueError(exc.message) from None
        return url


def _check_scheme(url: str) -> None:
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError("only http and https URLs are allowed")


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    """(field path, text) for each string of a JSON body, e.g. ``config.body.json_value.a[1]``."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in _strings(item, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in _strings(item, f"{path}.{key}")]
    return []


class HttpRequestNodeV2(BaseNodeV2[HttpRequestNodeData]):
    """Sends one guarded HTTP request built from templates over the inputs."""

    type_key = "http_request"
    config_model = HttpRequestNodeData
    title = "HTTP request"
    category = "tools"
    dynamic_ports = True
    default_config: ClassVar[Mapping[str, Any]] = {"method": "GET", "url": "https://example.com"}
    description = "Call an HTTP API (private networks refused); status, headers, body, json."

    def _templates(self) -> list[tuple[str, str]]:
        """(config field, template) for every template of the request."""
        c = self.config
        texts = [("config.url", c.url)]
        texts += [(f"config.headers.{k}", v) for k, v in c.headers.items()]
        texts += [(f"config.params.{k}", v) for k, v in c.params.items()]
        if c.body.type == "json":
            texts += _strings(c.body.json_value, "config.body.json_value")
        elif c.body.type == "form":
            texts += [(f"config.body.form.{k}", v) for k, v in c.body.form.items()]
        elif c.body.type == "raw":
            texts.append(("config.body.raw", c.body.raw))
        return texts

    def port_schema(self) -> NodePortSchema:
        names = sorted(
            {name for field, text in self._templates() for name in template_variables(text, field)}
        )
        return NodePortSchema(
            inputs=tuple(PortDefinition(name=n) for n in names),
            outputs=(
                PortDefinition(name="status_code", type=PortType.INTEGER),
                PortDefinition(name="headers", type=PortType.OBJECT),
                PortDefinition(name="body", type=PortType.STRING),
                PortDefinition(name="json", type=PortType.ANY),
            ),
        )

    async def _render(self, ctx: RunContext, text: str, values: Mapping[str, Any]) -> str:
        return await render(ctx, text, values, node_id=self.node_id)

    async def _render_json(self, ctx: RunContext, value: Any, values: Mapping[str, Any]) -> Any:
        if isinstance(value, str):
            whole = _WHOLE_VARIABLE.match(value)
            if whole and whole.group(1) in values:
                return values[whole.group(1)]
            return await self._render(ctx, value, values)
        if isinstance(value, list):
            return [await self._render_json(ctx, item, values) for item in value]
        if isinstance(value, dict):
            return {k: await self._render_json(ctx, v, values) for k, v in value.items()}
        return value

    async def _rendered(
        self, ctx: RunContext, texts: Mapping[str, str], values: Mapping[str, Any]
    ) -> dict[str, str]:
        return {k: await self._render(ctx, v, values) for k, v in texts.items()}

    async def _request(self, ctx: RunContext, values: Mapping[str, Any]) -> dict[str, Any]:
        c = self.config
        url = (await self._render(ctx, c.url, values)).strip()
        try:
            check_url(url)
        except ValueError as exc:
            raise self._error(f"bad URL {url[:200]!r}: {exc}") from None
        request: dict[str, Any] = {
            "method": c.method,
            "url": url,
            "headers": await self._rendered(ctx, c.headers, values),
        }
        if c.params:  # (an empty params= would drop the URL's own query string)
            request["params"] = await self._rendered(ctx, c.params, values)
        if c.body.type == "json":
            request["json"] = await self._render_json(ctx, c.body.json_value, values)
        elif c.body.type == "form":
            request["data"] = await self._rendered(ctx, c.body.form, values)
        elif c.body.type == "raw":
            request["content"] = (await self._render(ctx, c.body.raw, values)).encode()
            if not any(k.lower() == "content-type" for k in request["headers"]):
                request["headers"]["Content-Type"] = c.body.content_type
        return request

    def _error(self, message: str) -> NodeExecutionError:
        return NodeExecutionError(
            f"http_request node {self.node_id!r}: {message}", node_id=self.node_id
        )

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        settings = get_http_settings()
        timeout = min(self.config.timeout_s or settings.timeout_s, settings.max_timeout_s)
        limit = min(
            self.config.max_response_bytes or settings.max_response_bytes,
            settings.max_response_bytes,
        )
        request = await self._request(ctx, inputs)
        await load_tls_context()
        try:
            async with asyncio.timeout(timeout):
                return await self._send(request, timeout, limit)
        except TimeoutError:
            raise NodeTimeoutError(
                f"http_request node {self.node_id!r}: no complete answer within {timeout:g} s",
                node_id=self.node_id,
            ) from None
        except SnapAgentError as exc:  # the guard's refusal, or ours
            if isinstance(exc, NodeExecutionError):
                raise
            raise self._error(exc.message) from None
        except httpx.HTTPError as exc:
            raise self._error(f"{type(exc).__name__}: {exc}"[:500]) from None

    async def _send(self, request: dict[str, Any], wait_s: float, limit: int) -> dict[str, Any]:
        async with (
            _client(wait_s, self.config.follow_redirects) as client,
            client.stream(**request) as response,
        ):
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise self._error(f"the response is larger than {limit} bytes")
            if self.config.fail_on_error_status and response.status_code >= 400:
                raise self._error(f"the server answered {response.status_code}")
            text = bytes(body).decode(response.encoding or "utf-8", errors="replace")
            return {
                "status_code": response.status_code,
                "headers": {k: ", ".join(response.headers.get_list(k)) for k in response.headers},
                "body": text,
                "json": _json_or_none(response, text),
            }


def _client(wait_s: float, follow_redirects: bool) -> httpx.AsyncClient:
    return guarded_client(timeout=wait_s, follow_redirects=follow_redirects)


def _json_or_none(response: httpx.Response, text: str) -> Any:
    if "json" not in response.headers.get("content-type", "").lower():
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None
