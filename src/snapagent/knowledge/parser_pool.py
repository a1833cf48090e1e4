"""`DocumentParser`: every document is parsed in a worker process with a deadline and a memory
limit, never in the server process.

Parsing is library code (pypdf, python-docx, lxml, BeautifulSoup, markdown-it) run on bytes an
untrusted user sent. `ParseLimits` bound the work a well-behaved parser does; the worker
process bounds everything else: an `IsolatedPool` (`snapagent.isolation`) whose workers have
an address-space limit (``SNAPAGENT_KNOWLEDGE_PARSE_MEMORY_BYTES``), and whose calls are killed
at their deadline (``SNAPAGENT_KNOWLEDGE_PARSE_TIMEOUT_S``). A file that goes past either fails
with a reason the uploader can act on ("parsing took longer than 120 s", "parsing needed more
than 1024 MB of memory"), never with a stalled or swollen server.

The pool has a slot per ingestion slot (``SNAPAGENT_KNOWLEDGE_INGESTION_CONCURRENCY``), so
background ingestion never queues for a worker, plus ``SNAPAGENT_KNOWLEDGE_UPLOAD_CHECK_WORKERS``
slots for the checks made while an upload is answered (`check`).

    parser = DocumentParser(KnowledgeSettings())
    parsed = await parser.parse(data, "report.pdf", "application/pdf")
    await parser.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from collections.abc import Iterator

from snapagent.errors import SnapAgentError
from snapagent.isolation import (
    IsolatedPool,
    OutputTooLargeError,
    ProcessLimits,
    RemoteError,
    WorkerCrashedError,
    WorkerMemoryError,
    WorkerTimeoutError,
)
from snapagent.knowledge.formats.limits import MIB, ParseLimits, megabytes
from snapagent.knowledge.parsed import (
    Block,
    DocumentFormat,
    DocumentLimitError,
    DocumentParseError,
    ParsedDocument,
)
from snapagent.knowledge.settings import KnowledgeSettings

__all__ = [
    "PARSE_NICENESS",
    "DocumentParser",
    "ParseTimeoutError",
    "parse_in_worker",
    "warm_worker",
]

PARSE_NICENESS = 10
"""How much lower than the server's the parser workers' CPU priority is."""

RawDocument = tuple[str, str, list[tuple[str, str, tuple[str, ...], int, int | None]]]
"""What crosses the process boundary: plain data only (the pool's decoder trusts nothing else)."""


class ParseTimeoutError(DocumentLimitError):
    """Parsing a document ran past its deadline (its worker was killed)."""


def parse_in_worker(
    data: bytes, filename: str, content_type: str | None, limits: ParseLimits
) -> RawDocument:
    """Runs in the worker: `parse_document`, returned as plain data."""
    from snapagent.knowledge.parsing import parse_document

    doc = parse_document(data, filename, content_type, limits)
    blocks: list[tuple[str, str, tuple[str, ...], int, int | None]] = [
        (b.kind, b.text, b.heading_path, b.level, b.page) for b in doc.blocks
    ]
    return doc.title, str(doc.format), blocks


def warm_worker() -> None:
    """The worker's initializer: yield the CPU to the server, and import the parsing libraries
    once, before any deadline runs."""
    # A parse that burns its whole deadline must not slow the server's event loop down: the
    # kernel runs the server first whenever both want a core.
    with contextlib.suppress(OSError):
        os.nice(PARSE_NICENESS)
    import bs4  # noqa: F401
    import docx  # noqa: F401
    import markdown_it  # noqa: F401
    import pypdf  # noqa: F401

    import snapagent.knowledge.parsing  # noqa: F401


class DocumentParser:
    """Parses documents in isolated worker processes (see the module docstring).

    The pool starts on first use and may be closed and used again (a closed parser starts a
    new pool), as a `KnowledgeService` is stopped and started.
    """

    def __init__(self, settings: KnowledgeSettings) -> None:
        self.settings = settings
        self.limits = settings.parse_limits()
        self._pool: IsolatedPool | None = None
        self._checks: asyncio.Semaphore | None = None
        self._checking: set[str] = set()  # accounts with an upload check running here

    @property
    def pool(self) -> IsolatedPool:
        if self._pool is None:
            settings = self.settings
            self._pool = IsolatedPool(
                name="documents",
                size=settings.ingestion_concurrency + settings.upload_check_workers,
                limits=ProcessLimits(
                    memory_mb=settings.parse_memory_bytes // MIB,
                    cpu_s=settings.parse_timeout_s,
                    # Text as UTF-8 (up to 4 bytes a character) plus the blocks' framing.
                    max_output_bytes=settings.max_text_chars * 4 + 16 * MIB,
                ),
                initializer=warm_worker,
            )
            # A parser dropped without close() (a script, a test) or alive at exit must not
            # leave worker processes behind.
            weakref.finalize(self, self._pool.close_blocking)
        return self._pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def parse(
        self,
        data: bytes,
        filename: str,
        content_type: str | None = None,
        *,
        timeout_s: float | None = None,
    ) -> ParsedDocument:
        """Parse in a worker; the errors are `parse_document`'s, plus `DocumentLimitError` for
        the deadline (`ParseTimeoutError`), the memory limit and the size of the result."""
        deadline = self.settings.parse_timeout_s if timeout_s is None else timeout_s
        with self._translated(filename, deadline):
            title, fmt, blocks = await self.pool.call(
                parse_in_worker, data, filename, content_type, self.limits, timeout_s=deadline
            )
        return ParsedDocument(
            title=title,
            format=_format(fmt),
            blocks=tuple(Block(*block) for block in blocks),  # type: ignore[arg-type]
        )

    async def check(
        self, owner_id: str, data: bytes, filename: str, content_type: str | None = None
    ) -> bool:
        """Parse an upload before answering it, so that a file that cannot be ingested is
        refused now, with its reason, instead of failing in the background later.

        Returns True if the file parsed; False if it was not checked: checks are off
        (``upload_check_timeout_s`` = 0), the account already has a check running here (a
        flood of uploads cannot hold every check worker), or the file took longer than the
        check may (including the wait for a free worker) - the background parse, with the
        full deadline, decides then. Raises what `parse` raises otherwise.
        """
        budget = min(self.settings.upload_check_timeout_s, self.settings.parse_timeout_s)
        if budget <= 0 or owner_id in self._checking:
            return False
        if self._checks is None:
            self._checks = asyncio.Semaphore(self.settings.upload_check_workers)
        self._checking.add(owner_id)
        try:
            async with asyncio.timeout(budget):
                async with self._checks:
                    await self.parse(data, filename, content_type, timeout_s=budget)
        except (TimeoutError, ParseTimeoutError):
            if budget >= self.settings.parse_timeout_s:
                raise _timeout(filename, self.settings.parse_timeout_s) from None
            return False
        finally:
            self._checking.discard(owner_id)
        return True

    @contextlib.contextmanager
    def _translated(self, filename: str, deadline: float) -> Iterator[None]:
        """The pool's failures, as what they mean for this document."""
        settings = self.settings
        try:
            yield
        except WorkerTimeoutError:
            raise _timeout(filename, deadline) from None
        except WorkerMemoryError:
            raise DocumentLimitError(
                filename,
                f"parsing needed more than {megabytes(settings.parse_memory_bytes)} of memory",
                limit=settings.parse_memory_bytes,
                setting="SNAPAGENT_KNOWLEDGE_PARSE_MEMORY_BYTES",
            ) from None
        except OutputTooLargeError:
            raise self.limits.exceeded(
                filename,
                "max_text_chars",
                f"the document holds more than {settings.max_text_chars:,} characters of text",
            ) from None
        except WorkerCrashedError as exc:
            raise DocumentParseError(
                filename, f"the parser process died reading this file ({exc.message})"
            ) from None
        except RemoteError as exc:  # a parser bug rather than a damaged file, but it is this file
            raise DocumentParseError(
                filename, f"the file could not be parsed ({exc.message})"
            ) from None


def _timeout(filename: str, deadline: float) -> ParseTimeoutError:
    return ParseTimeoutError(
        filename,
        f"parsing took longer than {deadline:g} s",
        limit=deadline,
        setting="SNAPAGENT_KNOWLEDGE_PARSE_TIMEOUT_S",
    )


def _format(value: str) -> DocumentFormat:
    if value not in ("text", "markdown", "html", "pdf", "docx"):
        raise SnapAgentError(f"the parser worker answered an unknown format {value!r:.40}")
    return value  # type: ignore[return-value]
