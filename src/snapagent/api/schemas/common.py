"""Schemas shared by every resource: the problem+json body and the request base class."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from snapagent.errors import InputValidationError
from snapagent.names import readable_name
from snapagent.workflow.validation import format_loc

__all__ = ["FieldProblem", "Name", "Problem", "RequestModel", "problem_responses"]


def _readable(value: str) -> str:
    try:
        return readable_name(value)
    except InputValidationError as exc:  # the reason as it is, without "Value error, "
        raise PydanticCustomError("invisible_name", exc.message) from exc


Name = Annotated[str, AfterValidator(_readable)]
"""A stored name (bot, knowledge base, API key...): :func:`snapagent.names.clean_name` applied,
so bidirectional controls and invisible characters never reach the database."""


def _nul_path(value: Any) -> str | None:
    """Where a NUL character hides in a JSON value (a string or a key), if anywhere.

    Runs on the event loop for every request body, so the usual case is one C call (a NUL
    can only be encoded as ``\\u0000``); the walk that finds the place is iterative (no
    recursion limit to hit on a deeply nested body) and builds a path only for the hit.
    """
    try:
        if "\\u0000" not in json.dumps(value):
            return None
    except (TypeError, ValueError, RecursionError):
        pass  # not plain JSON, or nested too deep for the encoder: walk it
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        item, trail = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return format_loc(_unwind(trail))
        elif isinstance(item, dict):
            for key, child in item.items():
                if "\x00" in str(key):
                    return format_loc(_unwind((key, trail)))
                stack.append((child, (key, trail)))
        elif isinstance(item, list):
            stack.extend((child, (index, trail)) for index, child in enumerate(item))
    return None


def _unwind(trail: tuple[Any, ...]) -> list[Any]:
    parts = []
    while trail:
        part, trail = trail
        parts.append(part)
    return parts[::-1]


class RequestModel(BaseModel):
    """Base of request bodies: unknown fields are an error, so typos never pass silently.

    Text may not contain NUL characters anywhere (graphs included): PostgreSQL cannot store
    them, and refusing them on both databases keeps the API's behaviour the same on each.
    """

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul_characters(cls, data: Any) -> Any:
        where = _nul_path(data)
        if where is not None:
            raise ValueError(f"text must not contain NUL characters (at {where})")
        return data


class FieldProblem(BaseModel):
    """One problem with one field of the request."""

    field: str = Field(
        description="Where, in the request's path syntax: `name`, `files[0].data`, `body`.",
        examples=["nodes[2].config.top_k"],
    )
    reason: str = Field(description="What is wrong with it, and what to send instead.")


class Problem(BaseModel):
    """An RFC 9457 problem: every error answer of the API has this shape (docs/api.md lists
    every ``type`` and every graph validation code). More members may follow the type: an
    invalid graph's ``problems``, the ``checks`` of a failed readiness probe, what a
    conflict is with."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(
        description="`urn:snapagent:problem:<name>`, or `about:blank` for a bare HTTP status.",
        examples=["urn:snapagent:problem:not-found"],
    )
    title: str = Field(description="The HTTP status's phrase.")
    status: int = Field(description="The HTTP status code.", ge=100, le=599)
    detail: str = Field(description="What happened, for a person to read.")
    errors: list[FieldProblem] | None = Field(
        default=None, description="Field problems (validation errors), one per field."
    )
    problems: list[dict[str, Any]] | None = Field(
        default=None,
        description="An invalid graph's problems, each with `code`, `message`, `path`, "
        "`node_id` and `edge_index` (as `POST .../workflow-versions/validate` lists them).",
    )


_DESCRIPTIONS = {
    401: "Missing, invalid or expired credentials",
    404: "Not found (or owned by someone else)",
    409: "Conflicts with the current state",
    413: "Upload too large",
    415: "Unsupported document type",
    422: "Invalid request (field problems in `errors`)",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` entries documenting problem+json answers."""
    return {
        status: {
            "model": Problem,
            "description": _DESCRIPTIONS.get(status, "Error"),
            "content": {"application/problem+json": {}},
        }
        for status in statuses
    }
