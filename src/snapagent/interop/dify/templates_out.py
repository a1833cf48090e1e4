"""Our Jinja2 templates -> Dify text (``{{ name }}`` -> ``{{#node.var#}}``) when they are only
substitutions, else Dify's jinja2 mode.

    to_dify_text("Hi {{ name }}!", {"name": ["start", "name"]})
    # ("Hi {{#start.name#}}!", True)
"""

from __future__ import annotations

import re

__all__ = ["selector_text", "to_dify_text"]

_PIECE = re.compile(r"\{\{\s*'(\{[{%#])'\s*\}\}|\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_JINJA = re.compile(r"\{[{%#]")

Selector = list[str | int]


def selector_text(selector: Selector) -> str:
    return "{{#" + ".".join(str(part) for part in selector) + "#}}"


def to_dify_text(template: str, selectors: dict[str, Selector]) -> tuple[str, bool]:
    """Dify basic text for ``template`` and True, or the template unchanged and False when it
    uses more of Jinja2 than substitutions (or a variable with no selector)."""
    pieces: list[str] = []
    last = 0
    for match in _PIECE.finditer(template):
        literal = template[last : match.start()]
        if _JINJA.search(literal):
            return template, False
        pieces.append(literal)
        last = match.end()
        if match.group(1):
            pieces.append(match.group(1))
            continue
        selector = selectors.get(match.group(2))
        if selector is None:
            return template, False
        pieces.append(selector_text(selector))
    rest = template[last:]
    if _JINJA.search(rest):
        return template, False
    pieces.append(rest)
    return "".join(pieces), True
