"""PDF (pypdf) into blocks, within the page and stream limits.

pypdf raises a wide, undocumented range of exceptions on damaged files (stream, key and zlib
errors); every failure while reading becomes a `DocumentParseError` naming the file, so a bad
upload is reported, never a traceback. pypdf's own resource limits (decoded stream sizes, work
per stream) are set from `ParseLimits` for the duration of the call; going past one is a
`DocumentLimitError`.
"""

from __future__ import annotations

import io
import logging
import re
from typing import Any

from snapagent.knowledge.formats import Outline, ParseResult, describe
from snapagent.knowledge.formats.limits import ParseLimits, megabytes
from snapagent.knowledge.parsed import DocumentParseError

__all__ = ["parse_pdf"]

_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_EOF_MARKER = b"%%EOF"
_EOF_SEARCH = 16 * 1024


def parse_pdf(data: bytes, filename: str, limits: ParseLimits | None = None) -> ParseResult:
    """One paragraph block per blank-line-separated run of text, tagged with its page."""
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import LimitReachedError

    limits = limits or ParseLimits()
    if _EOF_MARKER not in data[-_EOF_SEARCH:]:
        # pypdf would recover what it can from the start of a cut-off file and index half a
        # document without a word; a PDF ends with %%EOF (some writers add a little padding).
        raise DocumentParseError(
            filename,
            "the PDF is incomplete: it does not end with the end-of-file marker - "
            "was the upload or download cut short?",
        )
    # pypdf logs recoverable damage as warnings; the outcome (text or an error) is what counts.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    most = limits.pdf_max_stream_bytes
    try:
        bounds: dict[str, Any] = dict.fromkeys(_STREAM_LIMITS, most)
        bounds["stream_parsing_work_maximum_count"] = limits.pdf_max_stream_operations
        with apply_configuration(None, **bounds):
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise DocumentParseError(filename, "the PDF is password-protected")
            pages = len(reader.pages)
            if pages > limits.pdf_max_pages:
                raise limits.exceeded(
                    filename,
                    "pdf_max_pages",
                    f"the PDF has {pages} pages; the limit is {limits.pdf_max_pages}",
                )
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
    except LimitReachedError as exc:
        if "tokens" in str(exc):
            raise limits.exceeded(
                filename,
                "pdf_max_stream_operations",
                "a page of the PDF has more than "
                f"{limits.pdf_max_stream_operations:,} drawing operations",
            ) from None
        raise limits.exceeded(
            filename,
            "pdf_max_stream_bytes",
            f"the PDF goes past a reading limit (streams decode to at most {megabytes(most)}): "
            f"{describe(exc)}",
        ) from None
    except MemoryError:
        raise  # the worker's memory limit, not a damaged file: its pool reports it as such
    except Exception as exc:  # pypdf's own errors plus zlib/struct/key errors from bad streams
        raise DocumentParseError(filename, f"corrupt PDF ({describe(exc)})") from None
    if not outline.blocks:
        raise DocumentParseError(filename, "the PDF has no extractable text (scanned images?)")
    return title, outline.blocks


# pypdf.Configuration fields that bound how large one decoded stream may get.
_STREAM_LIMITS = (
    "maximum_declared_stream_length",
    "array_based_stream_maximum_output_length",
    "jbig2_maximum_output_length",
    "lzw_maximum_output_length",
    "run_length_maximum_output_length",
    "zlib_maximum_output_length",
    "brotli_maximum_output_length",
    "image_maximum_buffer_size",
)


def _pdf_title(reader: Any) -> str | None:
    metadata = reader.metadata
    title = getattr(metadata, "title", None) if metadata is not None else None
    return str(title).strip() or None if title else None
