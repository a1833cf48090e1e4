"""The one sandboxed Jinja2 environment the template and LLM nodes render with.

    template_variables("Context:\n{{ context }}\nQ: {{ query }}")  # ["context", "query"]
    text = render("Q: {{ query }}", {"query": "what is {{ 7*7 }}?"}, node_id="llm")
    # -> "Q: what is {{ 7*7 }}?"   (values are substituted, never rendered again)

Retrieved documents rendered with ``{{ context }}`` become numbered, titled text; in a loop
(``{% for d in context %}{{ d.text }}{% endfor %}``) they stay objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from snapagent.errors import DefinitionError, NodeExecutionError

__all__ = [
    "DocumentList",
    "MessageList",
    "looks_like_documents",
    "looks_like_messages",
    "render",
    "template_variables",
]

MAX_REPEAT_CHARS = 1_000_000
"""Largest string/list a template may build with ``*`` (``{{ "x" * 10**9 }}`` is refused)."""


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus refusing ``*`` / ``**`` that would build huge values (the
    sandbox already caps ``range``)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise SecurityError(f"exponent {right} is too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if sized and len(seq) * times > MAX_REPEAT_CHARS:
                    raise SecurityError("the template would build a value that is too large")
        return super().call_binop(context, operator, left, right)


_ENV = _BoundedSandbox(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
)


def looks_like_documents(value: Any) -> bool:
    """A non-empty list of retrieved-document dicts (the pool form of port type `documents`)."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(d, Mapping) and "text" in d and "document_id" in d for d in value)
    )


def looks_like_messages(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, Mapping) and "role" in m and "content" in m for m in value)
    )


class DocumentList(list[Any]):
    """Documents that print as numbered, titled passages inside a template."""

    def __str__(self) -> str:
        parts = []
        for number, doc in enumerate(self, start=1):
            title = doc.get("document_title") or doc.get("document_id") or "untitled"
            heading = f" - {doc['heading']}" if doc.get("heading") else ""
            parts.append(f"[{number}] {title}{heading}\n{doc.get('text', '')}")
        return "\n\n".join(parts)


class MessageList(list[Any]):
    """Chat messages that print as ``role: content`` lines inside a template."""

    def __str__(self) -> str:
        return "\n".join(f"{m['role']}: {m['content']}" for m in self)


@lru_cache(maxsize=512)
def _parse(source: str) -> tuple[jinja2.Template, tuple[str, ...]]:
    try:
        ast = _ENV.parse(source)
        template = _ENV.from_string(ast)
    except jinja2.TemplateSyntaxError as exc:
        raise DefinitionError(
            f"template syntax error on line {exc.lineno}: {exc.message}",
            details={"line": exc.lineno},
        ) from None
    return template, tuple(sorted(meta.find_undeclared_variables(ast)))


def template_variables(source: str, field: str = "") -> list[str]:
    """The variables a template reads (its input ports); `DefinitionError` on bad syntax,
    pointing at ``field`` (the template's place under the node: ``config.prompt``)."""
    try:
        return list(_parse(source)[1])
    except DefinitionError as exc:
        if not field:
            raise
        raise DefinitionError(exc.message, details={**exc.details, "path": field}) from None


def _presentable(value: Any) -> Any:
    if looks_like_documents(value):
        return DocumentList(value)
    if looks_like_messages(value):
        return MessageList(value)
    return value


def render(source: str, values: Mapping[str, Any], *, node_id: str) -> str:
    """Render ``source`` with ``values``; failures become `NodeExecutionError` (no traceback
    text, the variable or the forbidden operation named)."""
    template, _variables = _parse(source)
    try:
        return template.render({k: _presentable(v) for k, v in values.items()})
    except jinja2.UndefinedError as exc:
        raise NodeExecutionError(
            f"template of node {node_id!r}: {exc.message}", node_id=node_id
        ) from None
    except SecurityError as exc:
        raise NodeExecutionError(
            f"template of node {node_id!r} tried an unsafe operation: {exc}", node_id=node_id
        ) from None
    except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError) as exc:
        raise NodeExecutionError(
            f"template of node {node_id!r} failed: {exc}", node_id=node_id
        ) from None
