"""Jinja2 templates over user values, with bounded time and size.

- `parsing`: syntax and variables, evaluating nothing (validation uses it).
- `substitution`: the fast path - a template that only substitutes values renders in linear,
  bounded time in the caller's process.
- `bounded`: the sandbox every other template renders in, each value it builds checked
  against `TemplateLimits`; it runs in a killable worker with a deadline
  (`snapagent.nodes.templating` dispatches between the two).
- `values`: how documents and messages print inside a template.

This package imports nothing but Jinja2 and `snapagent.errors`, so the worker processes that
render templates start light.
"""

from __future__ import annotations

from snapagent.jinja.bounded import (
    BoundedEnvironment,
    TemplateLimitError,
    TemplateLimits,
    render_bounded,
)
from snapagent.jinja.parsing import TemplateFacts, parse, read_template, variables
from snapagent.jinja.substitution import Substitution
from snapagent.jinja.values import (
    DocumentList,
    MessageList,
    looks_like_documents,
    looks_like_messages,
    present,
)

__all__ = [
    "BoundedEnvironment",
    "DocumentList",
    "MessageList",
    "Substitution",
    "TemplateFacts",
    "TemplateLimitError",
    "TemplateLimits",
    "looks_like_documents",
    "looks_like_messages",
    "parse",
    "present",
    "read_template",
    "render_bounded",
    "variables",
]
