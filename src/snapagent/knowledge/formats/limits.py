"""The bounds every parser honours, as one picklable value handed to the worker process.

The values come from `snapagent.knowledge.settings.KnowledgeSettings` (``SNAPAGENT_KNOWLEDGE_*``);
each is named after its setting so that a refusal can name the setting an operator may raise.

    >>> ParseLimits(office_max_members=10).office_max_members
    10
"""

from __future__ import annotations

from dataclasses import dataclass

from snapagent.knowledge.parsed import DocumentLimitError

__all__ = ["MIB", "ParseLimits", "megabytes"]

MIB = 1024 * 1024


def megabytes(value: int) -> str:
    """``104857600`` -> ``"100 MB"``: how a limit reads in a message to a user."""
    return f"{value / MIB:g} MB" if value >= MIB else f"{value} bytes"


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Bounds on what parsing one document may expand to.

    Time and memory are bounded by the worker process that runs the parser (see
    `snapagent.knowledge.parser_pool`); these bound the work inside it, so that a bomb is
    refused with a precise reason instead of being killed at the deadline.
    """

    office_max_uncompressed_bytes: int = 128 * MIB
    """Total declared (and actual) size of an office file's members once inflated."""
    office_max_members: int = 2000
    """Number of members (parts) in an office file's zip."""
    office_max_compression_ratio: float = 200.0
    """Inflated size / compressed size of any member over 1 MB (deflate tops out near 1030)."""
    pdf_max_pages: int = 5000
    """Pages of a PDF."""
    pdf_max_stream_bytes: int = 64 * MIB
    """Decoded size of any one PDF stream (page content, fonts, images)."""
    pdf_max_stream_operations: int = 1_000_000
    """Tokens (operators and operands) in one PDF content stream; a dense text page has
    tens of thousands, and pypdf reads roughly 50,000 a second."""
    max_nesting_depth: int = 200
    """Element nesting of HTML (and HTML inside Markdown) walked as structure; deeper
    elements are read as plain text."""
    max_text_chars: int = 20_000_000
    """Characters of text one document may yield (bounds chunking and embedding work)."""

    @staticmethod
    def setting(name: str) -> str:
        """The environment variable behind field ``name`` (they share the name).

        >>> ParseLimits.setting("pdf_max_pages")
        'SNAPAGENT_KNOWLEDGE_PDF_MAX_PAGES'
        """
        return f"SNAPAGENT_KNOWLEDGE_{name.upper()}"

    def exceeded(self, filename: str, name: str, reason: str) -> DocumentLimitError:
        """The error for ``filename`` going past limit ``name``; ``reason`` is for the user."""
        return DocumentLimitError(
            filename, reason, limit=getattr(self, name), setting=self.setting(name)
        )
