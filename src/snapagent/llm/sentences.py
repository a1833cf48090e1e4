"""The quotable sentences of retrieved text, in one linear pass (the extractive answerer's input).

What is not an answer is dropped here, before any scoring: headings (Markdown ``#`` lines, the
section titles the document parser leaves as lines of their own - the chunk's heading path names
them - and short title-like lines standing alone above a paragraph), labels ("Context:"), table
rows (``a | b``), fenced code and horizontal rules. Hard-wrapped lines are joined back into their
paragraph; list items keep their own line; inline Markdown and HTML markup is stripped from what
remains.

Every step is linear in the length of the text: lines are classified by prefix checks, the
regular expressions below have no nested or overlapping quantifiers and cannot start again in
the middle of a run they already rejected (issue 10: the previous splitter was quadratic on some
long messages; `tests/llm/test_extractive_linear.py` times it against a linear baseline).

    >>> split_sentences("Setup\\n\\nInstall it with pip. Then run it.\\n\\n| a | b |")
    ['Install it with pip.', 'Then run it.']
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator

__all__ = ["clean_markup", "split_sentences"]

# A sentence ends after a run of . ! ? (or CJK forms), optional closing quotes/brackets, then
# whitespace. The lookbehind lets a match start only at the beginning of such a run, so a long
# run of dots is scanned once, never once per starting position.
_SENTENCE_END = re.compile(r"(?<![.!?。！？])[.!?。！？]++[\"'”’)\]]*+(?=\s)")
_BULLET = re.compile(r"(?<![ \t])[ \t]*+(?:[-*+•·▪]|\d{1,3}[.)])[ \t]++")
# Inline markup, each a bounded single scan: [text](url), <tag ...>, emphasis and code marks.
_LINK = re.compile(r"!?\[([^\[\]\n]{0,300})\]\([^()\s]{0,500}\)")
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]{0,20}(?:\s[^<>\n]{0,300})?/?>")
_MARKS = re.compile(r"\*\*|`+|~~")
_TERMINAL = tuple(".!?。！？:：;)\"'”’")
_KOREAN_SENTENCE_ENDINGS = ("다", "요", "죠", "까")
_MAX_TITLE_WORDS = 8


def clean_markup(text: str) -> str:
    """``text`` without inline Markdown/HTML markup: link text kept, tags and marks removed."""
    text = _LINK.sub(r"\1", text)
    text = _TAG.sub("", text)
    return _MARKS.sub("", text)


def _is_table_row(line: str) -> bool:
    # Markdown tables ("| a | b |"), and the "a | b" rows the document parser makes of tables.
    return line.startswith("|") or " | " in line


def _is_rule(line: str) -> bool:
    return len(line) >= 3 and len(set(line.replace(" ", ""))) == 1 and line[0] in "-*_=~"


def _is_label(line: str) -> bool:
    return line.endswith((":", "：")) and len(line.split()) <= 4


def _looks_like_title(line: str) -> bool:
    """A short line without sentence punctuation: a title, when it stands above a paragraph."""
    words = line.split()
    if not words or len(words) > _MAX_TITLE_WORDS:
        return False
    return not line.endswith(_TERMINAL) and not words[-1].endswith(_KOREAN_SENTENCE_ENDINGS)


def _blocks(text: str, skip: Collection[str]) -> Iterator[tuple[str, bool]]:
    """(paragraph or list item, whether it is a lone title-like line) in reading order."""
    current: list[str] = []
    in_code = False

    def flush() -> Iterator[tuple[str, bool]]:
        if current:
            block = " ".join(current)
            yield block, len(current) == 1 and _looks_like_title(block)
            current.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(("```", "~~~")):
            in_code = not in_code
            yield from flush()
            continue
        if in_code:
            continue
        if (
            not line
            or line.startswith("#")
            or _is_table_row(line)
            or _is_rule(line)
            or _is_label(line)
            or line in skip
        ):
            yield from flush()
            continue
        bullet = _BULLET.match(raw)
        if bullet is not None:
            yield from flush()
            current.append(raw[bullet.end() :].strip())
            yield from flush()
            continue
        if line.startswith(">"):
            line = line.lstrip("> ").strip()
        current.append(line)
    yield from flush()


def split_sentences(text: str, *, skip: Collection[str] = ()) -> list[str]:
    """The sentences and list items of ``text`` worth quoting, in reading order.

    ``skip``: lines known to be headings (e.g. the parts of the chunk's heading path and the
    document title), dropped wherever they stand.
    """
    blocks = list(_blocks(text, frozenset(s.strip() for s in skip if s.strip())))
    sentences: list[str] = []
    for position, (block, title_like) in enumerate(blocks):
        followed = position + 1 < len(blocks) and not blocks[position + 1][1]
        if title_like and followed:
            continue  # a section title above its paragraph
        cleaned = " ".join(clean_markup(block).split())
        start = 0
        for end in _SENTENCE_END.finditer(cleaned):
            _add(cleaned[start : end.end()], sentences)
            start = end.end()
        _add(cleaned[start:], sentences)
    return sentences


def _add(piece: str, sentences: list[str]) -> None:
    piece = piece.strip()
    if len(piece) > 1 and any(ch.isalnum() for ch in piece):
        sentences.append(piece)
