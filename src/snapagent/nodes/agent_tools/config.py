"""The four kinds of agent tool as they appear in an agent node's ``tools`` list.

    {"type": "http", "name": "create_ticket", "description": "Open a support ticket",
     "parameters": {"type": "object", "properties": {"subject": {"type": "string"}}},
     "method": "POST", "url": "https://helpdesk.example.com/api/tickets",
     "headers": {"Authorization": "Bearer {{ helpdesk_token }}"}}
    {"type": "mcp", "url": "https://mcp.example.com/mcp", "tools": ["lookup_order"]}
    {"type": "knowledge", "knowledge_base_ids": ["kb-1"], "top_k": 4}
    {"type": "workflow", "bot_id": "<bot id>", "name": "ask_billing",
     "description": "Ask the billing bot"}

Header values are Jinja2 templates over the agent node's inputs (a token can come from a start
input or a conversation variable); every variable they read is an input port of the node.
Nothing the model sends is ever rendered as a template.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from snapagent.errors import SnapAgentError
from snapagent.netguard import check_url
from snapagent.nodes.agent_tools.schemas import check_parameters, check_tool_name
from snapagent.nodes.http_request import HEADER_NAME
from snapagent.workflow.services import RetrievalMode

__all__ = [
    "HttpToolConfig",
    "KnowledgeToolConfig",
    "McpToolConfig",
    "ToolConfig",
    "WorkflowToolConfig",
    "placeholders",
]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]{0,63})\}")

ToolName = Annotated[
    str, Field(min_length=1, max_length=64, description="The name the model sees.")
]
Headers = Annotated[
    dict[str, str],
    Field(
        default_factory=dict,
        max_length=64,
        description="Request headers; values are templates over the node's inputs.",
    ),
]
ToolTimeout = Annotated[
    float | None,
    Field(
        default=None,
        gt=0,
        le=3600,
        description="Time limit of one call (default and ceiling: SNAPAGENT_AGENT_TOOL_TIMEOUT_S).",
    ),
]


def placeholders(url: str) -> list[str]:
    """The ``{argument}`` placeholders of an HTTP tool's URL, in order."""
    return _PLACEHOLDER.findall(url)


def _check_headers(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        if not HEADER_NAME.match(name):
            raise ValueError(f"{name[:80]!r} is not a valid header name")
        if len(value) > 8192:
            raise ValueError(f"header {name!r} is longer than 8192 characters")
    return headers


def _check_static_url(url: str, *, what: str) -> str:
    """Refuse a URL that is not http(s), has no host, or names a refused address literally
    (a host name is checked again when it is resolved)."""
    try:
        check_url(url)
    except SnapAgentError as exc:
        raise ValueError(exc.message) from None
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None
    return url


class HttpToolConfig(BaseModel):
    """An HTTP API the model may call. Its arguments (``parameters``) fill the URL's
    ``{name}`` placeholders (URL-encoded); the rest go in the query string (GET, DELETE, HEAD)
    or a JSON body (POST, PUT, PATCH), or where ``arguments_in`` says."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["http"] = Field(description="An HTTP API.")
    name: ToolName
    description: str = Field(min_length=1, max_length=4_000, description="What the tool does.")
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON Schema (an object) of the arguments.",
    )
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = Field(
        default="GET", description="HTTP method."
    )
    url: str = Field(
        min_length=1,
        max_length=8192,
        description="http(s) URL; {name} placeholders take arguments (URL-encoded).",
    )
    headers: Headers
    arguments_in: Literal["auto", "query", "json", "form"] = Field(
        default="auto",
        description="Where arguments not in the URL go: auto (query for GET/DELETE/HEAD, "
        "JSON body otherwise), query, json or form.",
    )
    timeout_s: ToolTimeout
    follow_redirects: bool = Field(default=True, description="Follow redirects (each checked).")

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return check_tool_name(name)

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        return _check_headers(headers)

    @field_validator("parameters")
    @classmethod
    def _parameters(cls, schema: dict[str, Any]) -> dict[str, Any]:
        return check_parameters(schema)

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        if "{{" in url:
            raise ValueError("the URL is not a template: use {name} placeholders for arguments")
        parts = urlsplit(_PLACEHOLDER.sub("x", url))
        if "{" in url.split("//", 1)[-1].split("/", 1)[0]:
            raise ValueError("placeholders may fill the path and query, never the host")
        _check_static_url(_PLACEHOLDER.sub("x", url), what="bad URL")
        if parts.fragment:
            raise ValueError("the URL may not have a #fragment")
        return url

    @model_validator(mode="after")
    def _placeholders_are_arguments(self) -> HttpToolConfig:
        properties = self.parameters.get("properties") or {}
        required = set(self.parameters.get("required") or ())
        for name in placeholders(self.url):
            if name not in properties:
                raise ValueError(f"URL placeholder {{{name}}} is not among the parameters")
            if name not in required:
                raise ValueError(f"URL placeholder {{{name}}} must be a required parameter")
        return self


class McpToolConfig(BaseModel):
    """Every tool of an MCP server (Streamable HTTP), or the ones named in ``tools``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["mcp"] = Field(description="The tools of an MCP server.")
    url: str = Field(min_length=1, max_length=8192, description="The server's endpoint URL.")
    tools: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(
        default=None,
        max_length=128,
        description="The server's tools to offer (by their names there); empty: all.",
    )
    prefix: str = Field(
        default="",
        max_length=32,
        pattern=r"^([A-Za-z][A-Za-z0-9_-]*)?$",
        description="Put before each tool's name (two servers with a 'search' tool).",
    )
    headers: Headers
    timeout_s: ToolTimeout

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        return _check_headers(headers)

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        if "{{" in url:
            raise ValueError("the URL is not a template")
        return _check_static_url(url, what="bad MCP URL")

    @field_validator("tools")
    @classmethod
    def _unique(cls, names: list[str] | None) -> list[str] | None:
        if names is not None and len(set(names)) != len(names):
            raise ValueError("tools lists a name twice")
        return names


class KnowledgeToolConfig(BaseModel):
    """Retrieval as a tool: the model searches the owner's knowledge bases with a query it
    writes (the bot owner's only, like the knowledge node)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["knowledge"] = Field(description="Search knowledge bases.")
    knowledge_base_ids: list[str] = Field(
        min_length=1, max_length=32, description="The knowledge bases to search (ids)."
    )
    name: ToolName = "search_knowledge"
    description: str = Field(
        default="Search the knowledge base for passages relevant to a query.",
        min_length=1,
        max_length=4_000,
        description="What the model is told the tool does.",
    )
    top_k: int = Field(default=4, ge=1, le=20, description="Passages per search.")
    score_threshold: float | None = Field(
        default=None, ge=0.0, description="Leave out passages scoring below this."
    )
    mode: RetrievalMode = Field(
        default="hybrid", description="hybrid, vector (meaning only) or keyword (BM25 only)."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return check_tool_name(name)


class WorkflowToolConfig(BaseModel):
    """Another published bot of the same owner, asked a question as a nested turn."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["workflow"] = Field(description="Ask another bot.")
    bot_id: str = Field(min_length=1, max_length=64, description="The bot to ask.")
    name: ToolName
    description: str = Field(min_length=1, max_length=4_000, description="What the bot knows.")
    timeout_s: ToolTimeout

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return check_tool_name(name)


ToolConfig = Annotated[
    HttpToolConfig | McpToolConfig | KnowledgeToolConfig | WorkflowToolConfig,
    Field(discriminator="type"),
]
