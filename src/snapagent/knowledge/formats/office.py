"""DOCX (python-docx) into blocks, after the zip passed `check_package`'s bounds.

python-docx raises a wide, undocumented range of exceptions on damaged files (zip, XML and key
errors); every failure while reading becomes a `DocumentParseError` naming the file, so a bad
upload is reported, never a traceback. Its XML parser does not resolve entities, and libxml2
refuses nesting deeper than 256 elements; `check_package` has already refused DTDs.
"""

from __future__ import annotations

import io
import re
from typing import Any

from snapagent.knowledge.formats import Outline, ParseResult, describe
from snapagent.knowledge.formats.limits import ParseLimits
from snapagent.knowledge.formats.zip_package import check_package
from snapagent.knowledge.parsed import DocumentParseError

__all__ = ["parse_docx"]

_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.I)


def parse_docx(data: bytes, filename: str, limits: ParseLimits | None = None) -> ParseResult:
    """Paragraphs and tables in body order; ``Heading N`` styles become headings, ``Title``
    (or the core title property) the title, list styles and numbered paragraphs list items."""
    import docx

    check_package(data, filename, limits or ParseLimits())
    try:
        document = docx.Document(io.BytesIO(data))
        title = (document.core_properties.title or "").strip() or None
        outline = Outline()
        for item in document.iter_inner_content():
            if hasattr(item, "rows"):
                for row in item.rows:
                    cells = _unique(cell.text.strip() for cell in row.cells)
                    outline.block("table_row", " | ".join(c for c in cells if c))
                continue
            text = item.text
            style = (item.style.name if item.style is not None else "") or ""
            heading = _HEADING_STYLE.match(style)
            if style.lower() == "title":
                title = title or " ".join(text.split()) or None
                outline.heading(text, 1)
            elif heading:
                outline.heading(text, int(heading.group(1)))
            elif style.lower().startswith("list") or _is_numbered(item):
                outline.block("list_item", text)
            else:
                outline.block("paragraph", text)
    except MemoryError:
        raise  # the worker's memory limit, not a damaged file: its pool reports it as such
    except Exception as exc:  # zipfile, lxml and python-docx errors on damaged packages
        raise DocumentParseError(filename, f"corrupt DOCX ({describe(exc)})") from None
    return title, outline.blocks


def _is_numbered(paragraph: Any) -> bool:
    properties = paragraph._p.pPr
    return properties is not None and properties.numPr is not None


def _unique(values: Any) -> list[str]:
    """Merged cells repeat their text in every spanned cell; keep it once, in order."""
    seen: set[str] = set()
    result: list[str] = []
    for value in values:
        if value not in seen:
            seen.add(value)
            result.append(value)
    return result
