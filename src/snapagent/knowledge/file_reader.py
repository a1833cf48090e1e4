"""`IsolatedDocumentReader`: the text of a user's file, parsed by the knowledge parsers in an
`IsolatedPool` worker (memory, CPU and wall-clock limits, seccomp: no sockets, no exec; never on
the event loop, never in the server's memory). It is the `DocumentReader` behind the
``document_extractor`` node.

    reader = IsolatedDocumentReader.create(max_chars=200_000, timeout_s=30)
    found = await reader.read(pdf_bytes, "report.pdf")     # FileText(name, title, text)
    await reader.close()

Types and errors are those of `snapagent.knowledge.parsing`: an unsupported type is an
`UnsupportedMediaError`, a corrupt or empty file a `DocumentParseError`; a parser that runs
past the limits ends in the `IsolationError` family (the worker is killed and replaced).
"""

from __future__ import annotations

from snapagent.isolation import IsolatedPool, ProcessLimits
from snapagent.knowledge.parsing import parse_document
from snapagent.sandbox.seccomp import harden_worker
from snapagent.workflow.services import FileText

__all__ = ["IsolatedDocumentReader", "parse_to_text"]

_TRUNCATED = "\n[... truncated]"


def parse_to_text(
    data: bytes, name: str, content_type: str | None, max_chars: int
) -> tuple[str, str]:
    """(title, text) of a file, the text cut at ``max_chars``. Runs in the worker."""
    parsed = parse_document(data, name, content_type)
    text = parsed.text
    if len(text) > max_chars:
        text = text[:max_chars] + _TRUNCATED
    return parsed.title, text


class IsolatedDocumentReader:
    """See the module docstring. One per app (or CLI run); `close()` stops its workers."""

    def __init__(self, pool: IsolatedPool, *, max_chars: int, timeout_s: float) -> None:
        self.pool = pool
        self.max_chars = max_chars
        self.timeout_s = timeout_s

    @classmethod
    def create(
        cls,
        *,
        max_chars: int = 200_000,
        timeout_s: float = 30.0,
        workers: int = 1,
        memory_mb: int = 512,
    ) -> IsolatedDocumentReader:
        """A reader with its own pool (workers start on first use)."""
        limits = ProcessLimits(
            memory_mb=memory_mb,
            cpu_s=timeout_s,
            max_output_bytes=max_chars * 4 + 64 * 1024,  # UTF-8 text plus the title
        )
        # seccomp in the worker: a parser bug a hostile file exploits cannot open a socket or
        # start a program.
        pool = IsolatedPool(
            name="document-reader", size=workers, limits=limits, initializer=harden_worker
        )
        return cls(pool, max_chars=max_chars, timeout_s=timeout_s)

    async def read(self, data: bytes, name: str, content_type: str | None = None) -> FileText:
        title, text = await self.pool.call(
            parse_to_text, data, name, content_type, self.max_chars, timeout_s=self.timeout_s
        )
        return FileText(name=name, title=title, text=text)

    async def close(self) -> None:
        await self.pool.close()
