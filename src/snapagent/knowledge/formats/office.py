"""PDF (pypdf) and DOCX (python-docx) into blocks.

Both libraries raise a wide, undocumented range of exceptions on damaged files (zip, XML,
stream and key errors); every failure while reading becomes a `DocumentParseError` naming the
file, so a bad upload is reported, never a traceback.
"""

from __future__ import annotations

import io
import logging
import re
from typing import Any

from snapagent.knowledge.formats import Outline, ParseResult
from snapagent.knowledge.parsing import DocumentParseError

__all__ = ["parse_docx", "parse_pdf"]

_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.I)


def parse_pdf(data: bytes, filename: str) -> ParseResult:
    """One paragraph block per blank-line-separated run of text, tagged with its page."""
    from pypdf import PdfReader

    # pypdf logs recoverable damage as warnings; the outcome (text or an error) is what counts.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentParseError(filename, "the PDF is password-protected")
        title = _pdf_title(reader)
        outline = Outline()
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            for paragraph in _BLANK_LINE.split(text):
                # Lines inside a paragraph are layout, not structure.
                joined = " ".join(line.strip() for line in paragraph.splitlines())
                if joined.strip():
                    outline.block("paragraph", joined, page=number)
    except DocumentParseError:
        raise
    except Exception as exc:  # pypdf's own errors plus zlib/struct/key errors from bad streams
        raise DocumentParseError(filename, f"corrupt PDF ({_reason(exc)})") from None
    if not outline.blocks:
        raise DocumentParseError(filename, "the PDF has no extractable text (scanned images?)")
    return title, outline.blocks


def _pdf_title(reader: Any) -> str | None:
    metadata = reader.metadata
    title = getattr(metadata, "title", None) if metadata is not None else None
    return str(title).strip() or None if title else None


def parse_docx(data: bytes, filename: str) -> ParseResult:
    """Paragraphs and tables in body order; ``Heading N`` styles become headings, ``Title``
    (or the core title property) the title, list styles and numbered paragraphs list items."""
    import docx

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
    except Exception as exc:  # zipfile, lxml and python-docx errors on damaged packages
        raise DocumentParseError(filename, f"corrupt DOCX ({_reason(exc)})") from None
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


def _reason(exc: Exception) -> str:
    detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
