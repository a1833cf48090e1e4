"""Dify's variable references in text (``{{#node_id.var.path#}}``) -> our Jinja2 templates.

Dify substitutes ``{{#1711.text#}}`` textually and leaves every other character alone; our
templates are Jinja2, whose delimiters (``{{``, ``{%``, ``{#``) may well appear in a prompt
as plain text (JSON examples, code). So a Dify text becomes: literal pieces with Jinja's
delimiters escaped, and one ``{{ port }}`` per reference, the port reading the referenced value
by selector::

    text = "Summarise {{#1711.text#}} as JSON like {{\\"a\\": 1}}"
    template, refs = to_template(text, resolve, ports)
    # template == "Summarise {{ text }} as JSON like {{ '{{' }}\\"a\\": 1}}"
    # refs == {"text": ["1711", "text"]}   (after `resolve` translated the selector)

``{{#context#}}`` (an LLM node's retrieved context) is a reference too, to the selector
the node's context setting names.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from snapagent.interop.names import PortNames

__all__ = ["REFERENCE", "Resolve", "escape_jinja", "references_in", "to_template"]

REFERENCE = re.compile(
    r"\{\{#([a-zA-Z0-9_]{1,50}(?:\.[a-zA-Z_][a-zA-Z0-9_]{0,29}){1,10}|context)#\}\}"
)
"""A reference in Dify text: a node id (or sys/env/conversation) and 1-10 names after it, or
the LLM node's ``context``. Anything else in braces is literal text in Dify."""
_DELIMITER = re.compile(r"\{[{%#]")

Selector = list[str | int]
Resolve = Callable[[list[str]], Selector | None]
"""Translates a Dify selector (``["1711", "text"]``) into ours; None when it has no equivalent
(the reference then renders as empty text; the resolver reports why)."""


def escape_jinja(text: str) -> str:
    """``text`` as a Jinja2 template that renders exactly ``text``."""
    return _DELIMITER.sub(lambda m: "{{ '" + m.group(0) + "' }}", text)


def references_in(text: str) -> list[list[str]]:
    """The selectors ``text`` references, in order (``context`` as ``["context"]``)."""
    return [match.group(1).split(".") for match in REFERENCE.finditer(text or "")]


def _wish(selector: list[str]) -> str:
    """The port name a reference would like: its last name (``text``), or node+var for the
    generic ones (``sys.query`` -> ``query``)."""
    return selector[-1]


def to_template(
    text: str, resolve: Resolve, ports: PortNames, *, refs: dict[str, Selector] | None = None
) -> tuple[str, dict[str, Selector]]:
    """The Jinja2 template of a Dify text and the selector each of its ports reads."""
    found: dict[str, Selector] = {} if refs is None else refs
    pieces: list[str] = []
    last = 0
    for match in REFERENCE.finditer(text or ""):
        pieces.append(escape_jinja(text[last : match.start()]))
        last = match.end()
        dify_selector = match.group(1).split(".")
        translated = resolve(dify_selector)
        if translated is None:
            continue  # renders as nothing, like a Dify reference to a missing value
        port = ports.name_for(tuple(translated), _wish(dify_selector))
        found[port] = translated
        pieces.append("{{ " + port + " }}")
    pieces.append(escape_jinja((text or "")[last:]))
    return "".join(pieces), found
