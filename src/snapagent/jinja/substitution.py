"""The fast path: a template that only substitutes values, rendered in linear time.

Most prompts are text with ``{{ name }}`` (or ``{{ doc.title }}``, ``{{ row['id'] }}``) in
it. Such a template cannot loop, call or compute, so it needs neither a worker process nor a
deadline: it is rendered here, in time linear in its output, with the output bounded before
it is joined. Anything else - a tag, a filter, an operator, a call - is not a substitution
and goes to the bounded sandbox in a worker.

    plan = Substitution.of(parse("Q: {{ query }}"))       # None for "{{ x|upper }}"
    plan.render({"query": "hi"}, max_chars=1_000_000)     # "Q: hi"

The result is exactly what Jinja renders (`tests/jinja/test_substitution.py` compares them),
lookups included: attributes and items go through the sandbox's own ``getattr`` and
``getitem``, and an undefined name is the same `UndefinedError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes

from snapagent.jinja.bounded import BoundedEnvironment, TemplateLimitError
from snapagent.jinja.values import present

__all__ = ["Lookup", "Printer", "Substitution"]

Printer = Callable[[Any, int], "str | None"]
"""``printer(value, room)``: the value as output text, or None to give up on this path."""


def _print(value: Any, room: int) -> str:
    return str(value)


_SANDBOX = BoundedEnvironment()


@dataclass(frozen=True, slots=True)
class Lookup:
    """``name`` then attribute (``("attr", "title")``) and item (``("item", 0)``) steps."""

    name: str
    steps: tuple[tuple[str, Any], ...] = ()

    def value(self, values: Mapping[str, Any]) -> Any:
        if self.name not in values:
            return _SANDBOX.undefined(name=self.name)
        found = present(values[self.name])
        for kind, key in self.steps:
            found = _SANDBOX.getattr(found, key) if kind == "attr" else _SANDBOX.getitem(found, key)
        return found


def _lookup(expr: nodes.Node) -> Lookup | None:
    if isinstance(expr, nodes.Name) and expr.ctx == "load":
        return Lookup(expr.name)
    if isinstance(expr, nodes.Getattr):
        inner = _lookup(expr.node)
        return Lookup(inner.name, (*inner.steps, ("attr", expr.attr))) if inner else None
    if isinstance(expr, nodes.Getitem) and isinstance(expr.arg, nodes.Const):
        inner = _lookup(expr.node)
        return Lookup(inner.name, (*inner.steps, ("item", expr.arg.value))) if inner else None
    return None


@dataclass(frozen=True, slots=True)
class Substitution:
    """Literal text and `Lookup`s, in order."""

    parts: tuple[str | Lookup, ...]

    @classmethod
    def of(cls, template: nodes.Template) -> Substitution | None:
        """The plan of a substitution-only template; None when it does anything else."""
        parts: list[str | Lookup] = []
        for statement in template.body:
            if not isinstance(statement, nodes.Output):
                return None
            for child in statement.nodes:
                if isinstance(child, nodes.TemplateData):
                    parts.append(child.data)
                elif isinstance(child, nodes.Const) and isinstance(child.value, str | int | float):
                    parts.append(str(child.value))
                elif (lookup := _lookup(child)) is not None:
                    parts.append(lookup)
                else:
                    return None
        return cls(tuple(parts))

    def render(
        self, values: Mapping[str, Any], *, max_chars: int, printer: Printer = _print
    ) -> str | None:
        """The text, or `jinja2.UndefinedError` / `SecurityError` as Jinja raises them, or
        `TemplateLimitError` once the output passes ``max_chars`` (before it is joined).

        ``printer(value, room)`` turns each value into text; when it returns None (a value it
        cannot print within ``room`` characters cheaply) so does `render`."""
        pieces: list[str] = []
        total = 0
        for part in self.parts:
            piece = (
                part if isinstance(part, str) else printer(part.value(values), max_chars - total)
            )
            if piece is None:
                return None
            total += len(piece)
            if total > max_chars:
                raise TemplateLimitError(
                    f"the template would build a string of over {max_chars} characters"
                )
            pieces.append(piece)
        return "".join(pieces)
