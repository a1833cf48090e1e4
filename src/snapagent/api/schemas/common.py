"""Schemas shared by every resource: the problem+json body and the request base class."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FieldProblem", "Problem", "RequestModel", "problem_responses"]


class RequestModel(BaseModel):
    """Base of request bodies: unknown fields are an error, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid")


class FieldProblem(BaseModel):
    field: str
    reason: str


class Problem(BaseModel):
    """An RFC 9457 problem: every error answer of the API has this shape."""

    type: str = Field(examples=["urn:snapagent:problem:not-found"])
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None


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
