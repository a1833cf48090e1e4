"""`DocumentConverter`: files -> `ConvertedBot` in an isolated worker process.

    converter = DocumentConverter.create(get_import_settings())
    bot = await converter.convert(data, ImportOptions(model_override="offline"))
    await converter.close()

Parsing a hostile file costs CPU and memory: the worker (`snapagent.isolation.IsolatedPool`,
hardened with seccomp: no sockets, no exec) has a memory limit, a CPU limit and a wall-clock
deadline (``SNAPAGENT_IMPORT_*``); past one it is killed and replaced, and the caller gets an
`ImportFormatError` saying which limit the file hit. The event loop only waits.
"""

from __future__ import annotations

from snapagent.interop.conversion import ImportOptions, convert_document
from snapagent.interop.converted import ConvertedBot, KnowledgeNeed
from snapagent.interop.errors import ImportFormatError
from snapagent.interop.loading import DocumentLimits
from snapagent.interop.report import ImportReport, ReportItem
from snapagent.interop.settings import ImportSettings
from snapagent.isolation import (
    IsolatedPool,
    OutputTooLargeError,
    ProcessLimits,
    WorkerMemoryError,
    WorkerTimeoutError,
)
from snapagent.sandbox.seccomp import harden_worker

__all__ = ["DocumentConverter"]

_RESULT_TYPES = (ConvertedBot, KnowledgeNeed, ImportReport, ReportItem)


class DocumentConverter:
    """See the module docstring. One per app (or CLI run); `close()` stops its workers."""

    def __init__(self, pool: IsolatedPool, settings: ImportSettings) -> None:
        self.pool = pool
        self.settings = settings

    @classmethod
    def create(cls, settings: ImportSettings) -> DocumentConverter:
        limits = ProcessLimits(
            memory_mb=settings.memory_mb,
            cpu_s=settings.timeout_s,
            # A converted bot is a few times the file at most (JSON, the report).
            max_output_bytes=settings.max_bytes * 8 + (1 << 20),
        )
        pool = IsolatedPool(
            name="bot-import",
            size=settings.workers,
            limits=limits,
            result_types=_RESULT_TYPES,
            initializer=harden_worker,
        )
        return cls(pool, settings)

    def limits(self) -> DocumentLimits:
        s = self.settings
        return DocumentLimits(
            max_bytes=s.max_bytes,
            max_aliases=s.max_aliases,
            max_depth=s.max_depth,
            max_values=s.max_values,
        )

    async def convert(self, data: bytes, options: ImportOptions) -> ConvertedBot:
        try:
            bot: ConvertedBot = await self.pool.call(
                convert_document, data, options, timeout_s=self.settings.timeout_s
            )
        except WorkerTimeoutError:
            raise ImportFormatError(
                f"reading the file took longer than {self.settings.timeout_s:g} s: refused"
            ) from None
        except WorkerMemoryError:
            raise ImportFormatError(
                f"reading the file needed more than {self.settings.memory_mb} MiB: refused"
            ) from None
        except OutputTooLargeError:
            raise ImportFormatError("the converted bot is too large: refused") from None
        return bot

    async def close(self) -> None:
        await self.pool.close()
