"""Reading a template without running any of it: its syntax and the variables it reads.

    variables("Context:\\n{{ context }}\\nQ: {{ query }}")   # ("context", "query")
    variables("{{ broken")                                   # DefinitionError, with the line
    read_template("Q: {{ query }}")   # TemplateFacts(variables=("query",), substitution=...)

Jinja's own `meta.find_undeclared_variables` evaluates constant expressions while it looks, so
``{{ 'x'|center(300000000) }}`` would build 300 MB in the server just to be validated; here
nothing is evaluated. Parsing is linear in the template; a template nested deeper than the parser's
recursion (thousands of brackets) is a `DefinitionError`, never a crash.

Linear is not cheap: Jinja's lexer and parser take tens of microseconds per tag, seconds for a
template of 100,000 characters. `read_template` is what a worker process runs for a long
template (`snapagent.nodes.templating`), so that cost never lands on the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import meta, nodes

from snapagent.errors import DefinitionError
from snapagent.jinja.bounded import BoundedEnvironment
from snapagent.jinja.substitution import Substitution

__all__ = ["TemplateFacts", "parse", "read_template", "variables"]

_PARSER = BoundedEnvironment()


@lru_cache(maxsize=1024)
def parse(source: str) -> nodes.Template:
    """The template's syntax tree (cached); `DefinitionError` on bad syntax."""
    return _parse(source)


def _parse(source: str) -> nodes.Template:
    try:
        return _PARSER.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise DefinitionError(
            f"template syntax error on line {exc.lineno}: {exc.message}",
            details={"line": exc.lineno},
        ) from None
    except RecursionError:
        raise DefinitionError("the template is nested too deeply to read") from None


class _NameTracker(meta.TrackingCodeGenerator):
    """Jinja's name tracker, evaluating nothing. Jinja's code generator computes constant
    output expressions while it works - filters included - so reading the names of
    ``{{ '%999999999s'|format('x') }}`` would build a gigabyte in the server process."""

    def __init__(self) -> None:
        super().__init__(_PARSER)
        self.optimizer = None

    def _output_child_to_const(self, node: nodes.Expr, frame: Any, finalize: Any) -> str:
        raise nodes.Impossible()


@lru_cache(maxsize=1024)
def variables(source: str) -> tuple[str, ...]:
    """The names a template reads from its context (its input ports), sorted."""
    return _variables_of(parse(source))


def _variables_of(tree: nodes.Template) -> tuple[str, ...]:
    tracker = _NameTracker()
    try:
        tracker.visit(tree)
    except RecursionError:
        raise DefinitionError("the template is nested too deeply to read") from None
    return tuple(sorted(tracker.undeclared_identifiers))


@dataclass(frozen=True, slots=True)
class TemplateFacts:
    """What reading a template found: the names it reads (its input ports, sorted) and, when it
    only substitutes values, its `Substitution` plan (None otherwise)."""

    variables: tuple[str, ...]
    substitution: Substitution | None


def read_template(source: str) -> TemplateFacts:
    """Parse ``source`` once for everything the server needs from it; `DefinitionError` on
    bad syntax. Nothing is cached here: the reader's worker reads templates of any length, and
    its callers cache what it found."""
    tree = _parse(source)
    return TemplateFacts(_variables_of(tree), Substitution.of(tree))
