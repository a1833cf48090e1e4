"""Plain text, Markdown (markdown-it-py) and HTML (BeautifulSoup + lxml) into blocks.

Hostile markup: the HTML parser never expands entities declared in a document (HTML has no
DTDs), and elements nested deeper than ``ParseLimits.max_nesting_depth`` are read as plain
text instead of being walked as structure, so depth costs neither recursion nor stack.
"""

from __future__ import annotations

import re
import warnings

from snapagent.knowledge.formats import Outline, ParseResult
from snapagent.knowledge.formats.limits import ParseLimits

__all__ = ["parse_html", "parse_markdown", "parse_plain"]

_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def parse_plain(text: str) -> ParseResult:
    """Paragraphs are separated by blank lines; there are no headings and no title."""
    outline = Outline()
    for paragraph in _BLANK_LINE.split(text.replace("\r\n", "\n").replace("\r", "\n")):
        if paragraph.strip():
            outline.block("paragraph", paragraph)
    return None, outline.blocks


# -- Markdown ----------------------------------------------------------------------------


def parse_markdown(text: str, limits: ParseLimits | None = None) -> ParseResult:
    """CommonMark plus tables; the title is the first level-1 heading."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    outline = Outline()
    title: str | None = None
    list_depth = 0
    row: list[str] | None = None
    pending_heading: int | None = None
    for token in tokens:
        kind = token.type
        if kind == "heading_open":
            pending_heading = int(token.tag[1])
        elif kind == "heading_close":
            pending_heading = None
        elif kind == "list_item_open":
            list_depth += 1
        elif kind == "list_item_close":
            list_depth -= 1
        elif kind == "tr_open":
            row = []
        elif kind == "tr_close" and row is not None:
            outline.block("table_row", " | ".join(row))
            row = None
        elif kind in ("fence", "code_block"):
            outline.block("code", token.content)
        elif kind == "html_block":
            _, blocks = parse_html(token.content, limits)
            outline.blocks.extend(blocks)
        elif kind == "inline":
            content = _inline_text(token)
            if row is not None:
                row.append(content)
            elif pending_heading is not None:
                outline.heading(content, pending_heading)
                if title is None and pending_heading == 1:
                    title = " ".join(content.split())
            else:
                outline.block("list_item" if list_depth else "paragraph", content)
    return title, outline.blocks


def _inline_text(token: object) -> str:
    """The visible text of an inline token: markup removed, image alt text kept."""
    from markdown_it.token import Token

    assert isinstance(token, Token)
    parts: list[str] = []
    for child in token.children or ():
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type == "softbreak":
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "image":
            parts.append(_inline_text(child))
    return "".join(parts)


# -- HTML --------------------------------------------------------------------------------

_DROPPED = ("script", "style", "nav", "noscript", "template", "svg", "iframe", "canvas", "head")
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_CONTAINERS = frozenset(
    {
        "html", "body", "main", "article", "section", "div", "header", "footer", "aside",
        "blockquote", "ul", "ol", "dl", "dt", "dd", "table", "thead", "tbody", "tfoot", "figure",
        "figcaption", "form", "fieldset", "address", "details", "summary", "center", "p", "caption",
        "hgroup", "search", "menu",
    }
)  # fmt: skip
_WHITESPACE = re.compile(r"\s+")


def parse_html(text: str, limits: ParseLimits | None = None) -> ParseResult:
    """Visible text in reading order; scripts, styles and navigation are dropped.

    The title is ``<title>``, else the first ``<h1>``.
    """
    from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

    with warnings.catch_warnings():
        # A short fragment that looks like a URL or file name is still markup to parse.
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(text, "lxml")
    title_tag = soup.find("title")
    title = " ".join(title_tag.get_text(" ").split()) if title_tag else ""
    for tag in soup.find_all(_DROPPED):
        tag.decompose()
    walker = _HtmlWalker((limits or ParseLimits()).max_nesting_depth)
    walker.walk(soup, "paragraph", 0)
    if not title:
        title = next((b.text for b in walker.outline.blocks if b.kind == "heading"), "")
    return title or None, walker.outline.blocks


class _HtmlWalker:
    """Emits a block for each heading, list item, table row and pre; inline runs between
    block-level elements become paragraphs (or list items inside ``<li>``). Below
    ``max_depth`` a block-level element is one block of its text."""

    def __init__(self, max_depth: int) -> None:
        self.outline = Outline()
        self.max_depth = max_depth

    def walk(self, element: object, kind: str, depth: int) -> None:
        from bs4.element import NavigableString, PreformattedString, Tag

        assert isinstance(element, Tag)
        lines: list[list[str]] = [[]]
        for child in element.children:
            if isinstance(child, PreformattedString):  # comments, CDATA, doctype
                continue
            if isinstance(child, NavigableString):
                lines[-1].append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name
            if name == "br":
                lines.append([])
            elif name in _HEADINGS:
                self._flush(lines, kind)
                self.outline.heading(child.get_text(" "), _HEADINGS[name])
            elif name == "tr":
                self._flush(lines, kind)
                cells = [_collapse(c.get_text(" ")) for c in child.find_all(["td", "th"])]
                self._emit("table_row", " | ".join(c for c in cells if c))
            elif name == "pre":
                self._flush(lines, kind)
                self._emit("code", child.get_text())
            elif depth >= self.max_depth and (name == "li" or name in _CONTAINERS):
                self._flush(lines, kind)
                self._emit(kind, _collapse(child.get_text(" ")))
            elif name == "li":
                self._flush(lines, kind)
                self.walk(child, "list_item", depth + 1)
            elif name in _CONTAINERS:
                self._flush(lines, kind)
                self.walk(child, kind, depth + 1)
            else:  # inline element: its text joins the current run
                lines[-1].append(child.get_text(" "))
        self._flush(lines, kind)

    def _flush(self, lines: list[list[str]], kind: str) -> None:
        text = "\n".join(_collapse("".join(parts)) for parts in lines)
        lines[:] = [[]]
        self._emit(kind, text)

    def _emit(self, kind: str, text: str) -> None:
        text = text.strip()
        if text:
            self.outline.block(kind, text)  # type: ignore[arg-type]


def _collapse(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()
