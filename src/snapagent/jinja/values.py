"""How run values look inside a template: retrieved documents and chat messages print as
readable text, everything else as itself.

    present([{"text": "Hi.", "document_id": "d1", "document_title": "Guide"}])
    # DocumentList: str() -> "[1] Guide\nHi."; in a loop its items stay dicts
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["DocumentList", "MessageList", "looks_like_documents", "looks_like_messages", "present"]


def looks_like_documents(value: Any) -> bool:
    """A non-empty list of retrieved-document dicts (the pool form of port type `documents`)."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(d, Mapping) and "text" in d and "document_id" in d for d in value)
    )


def looks_like_messages(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, Mapping) and "role" in m and "content" in m for m in value)
    )


class DocumentList(list[Any]):
    """Documents that print as numbered, titled passages inside a template."""

    def __str__(self) -> str:
        parts = []
        for number, doc in enumerate(self, start=1):
            title = doc.get("document_title") or doc.get("document_id") or "untitled"
            heading = f" - {doc['heading']}" if doc.get("heading") else ""
            parts.append(f"[{number}] {title}{heading}\n{doc.get('text', '')}")
        return "\n\n".join(parts)


class MessageList(list[Any]):
    """Chat messages that print as ``role: content`` lines inside a template."""

    def __str__(self) -> str:
        return "\n".join(f"{m['role']}: {m['content']}" for m in self)


def present(value: Any) -> Any:
    """``value`` as a template sees it."""
    if looks_like_documents(value):
        return DocumentList(value)
    if looks_like_messages(value):
        return MessageList(value)
    return value
