"""The V1 -> V2 workflow migration: legacy graphs become V2 drafts, one bot per transaction.

    service = WorkflowMigrationService(db)
    report = await service.migrate(dry_run=True)          # reads and converts, writes nothing
    report = await service.migrate(limit=10)              # a few bots
    await service.rollback("<bot id>")                    # back to V1 for one bot

For each bot with a V1 ``workflow`` that was not migrated yet, the graph is converted
(:func:`snapagent.legacy.converter.convert_v1_to_v2_json`) and validated by the V2 engine
outside any transaction; then ONE short transaction copies the original into
``bots.legacy_workflow`` and inserts a draft into ``bot_workflow_versions`` marked
``source = "migration"``. A bot that fails to convert is reported and left untouched.
``use_workflow_v2`` is never changed: switching a bot is a separate, deliberate step.

A bot counts as migrated when it has a ``legacy_workflow`` backup or a draft made by the
migration; re-runs skip it. A bot whose draft someone made or edited is skipped too (the
migration never overwrites work); the untouched draft every new bot is given
(``source = "default"``) is replaced by the migration's, in the same transaction. Re-runs skip
a migrated bot, and because backup and draft are committed together a run killed
half-way leaves every bot either migrated or untouched - running again finishes the job with
each bot migrated exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from typing import cast as typed

from sqlalchemy import (
    Table,
    Text,
    and_,
    cast,
    create_engine,
    delete,
    event,
    func,
    insert,
    null,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import NullPool

from snapagent.db.base import new_id, utcnow
from snapagent.db.models.bots import Bot
from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.db.session import Database
from snapagent.errors import ConflictError, GraphValidationError, NotFoundError
from snapagent.legacy.converter import validated_v2_graph
from snapagent.services.workflow_versions import DEFAULT_DRAFT_SOURCE

__all__ = [
    "MIGRATION_NOTE",
    "MIGRATION_SOURCE",
    "BotOutcome",
    "MigrationReport",
    "RollbackResult",
    "WorkflowMigrationService",
    "default_converter",
]

MIGRATION_SOURCE: Final = "migration"
MIGRATION_NOTE: Final = "converted from the V1 workflow by migrate-workflows"
# Bots read (and written) per round; large enough to amortise round trips, small enough for
# any IN list and for a lively progress bar.
PAGE_SIZE: Final = 200

Status = Literal["converted", "would_convert", "skipped", "failed"]
Converter = Callable[[Any], dict[str, Any]]

_bots = typed(Table, Bot.__table__)
_versions = typed(Table, BotWorkflowVersion.__table__)


@dataclass(frozen=True, slots=True)
class BotOutcome:
    """What happened to one bot: ``reason`` says why it was skipped or failed."""

    bot_id: str
    status: Status
    reason: str = ""
    draft_id: str | None = None


@dataclass(slots=True)
class MigrationReport:
    """The summary of a run (``converted`` counts ``would_convert`` in a dry run)."""

    dry_run: bool
    outcomes: list[BotOutcome] = field(default_factory=list)
    elapsed_s: float = 0.0

    def count(self, *statuses: Status) -> int:
        return sum(1 for o in self.outcomes if o.status in statuses)

    @property
    def scanned(self) -> int:
        return len(self.outcomes)

    @property
    def converted(self) -> int:
        return self.count("converted", "would_convert")

    @property
    def skipped(self) -> int:
        return self.count("skipped")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def failures(self) -> list[BotOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def summary(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "scanned": self.scanned,
            "converted": self.converted,
            "skipped": self.skipped,
            "failed": self.failed,
            "elapsed_s": round(self.elapsed_s, 3),
        }


@dataclass(frozen=True, slots=True)
class RollbackResult:
    """``restored``: V1 came back from the backup; ``kept_newer_v1``: the V1 workflow had been
    edited after the migration and was kept as it is."""

    bot_id: str
    drafts_removed: int
    restored: bool
    kept_newer_v1: bool = False


def default_converter(v1: Any) -> dict[str, Any]:
    """V1 JSON -> V2 graph JSON, validated by the engine with the built-in node types."""
    return validated_v2_graph(v1).to_json()


def _reason(exc: Exception) -> str:
    problems = getattr(exc, "problems", None)
    if problems:
        parts = []
        for p in problems[:3]:
            where = getattr(p, "path", "") or getattr(p, "node_id", "") or ""
            message = getattr(p, "message", str(p))
            parts.append(f"{where}: {message}" if where else message)
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        return "; ".join(parts) + more
    return str(exc) or type(exc).__name__


class WorkflowMigrationService:
    """Migrates legacy bots to V2 drafts and rolls them back. See the module docstring.

    ``converter`` is injectable so tests can make one bot fail on purpose.
    """

    def __init__(self, db: Database, *, converter: Converter = default_converter) -> None:
        self.db = db
        self.converter = converter

    def candidates_query(self, bot_ids: Sequence[str] | None = None) -> Any:
        """SELECT of the bots carrying a V1 workflow (id, workflow, legacy_workflow) by id."""
        # A JSON column may hold SQL NULL or the JSON value null: neither is a workflow.
        query = select(_bots.c.id, _bots.c.workflow, _bots.c.legacy_workflow).where(
            _bots.c.workflow.is_not(None), cast(_bots.c.workflow, Text) != "null"
        )
        if bot_ids:
            query = query.where(_bots.c.id.in_(list(bot_ids)))
        return query.order_by(_bots.c.id)

    def page_query(self, after: str, bot_ids: Sequence[str] | None = None) -> Any:
        """The next page of candidates after bot id ``after`` (keyset pagination)."""
        return self.candidates_query(bot_ids).where(_bots.c.id > after).limit(PAGE_SIZE)

    async def count_candidates(self, bot_ids: Sequence[str] | None = None) -> int:
        """How many bots carry a V1 workflow (what a run will scan)."""
        sub = self.candidates_query(bot_ids).subquery()
        async with self.db.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(sub))).scalar_one())

    async def migrate(
        self,
        *,
        dry_run: bool = False,
        limit: int | None = None,
        bot_ids: Sequence[str] | None = None,
        on_outcome: Callable[[BotOutcome], None] | None = None,
    ) -> MigrationReport:
        """Migrate every not-yet-migrated V1 bot (or only ``bot_ids``).

        ``limit`` caps the bots attempted (converted or failed); skipped bots do not count, so
        ``--limit 10`` run again moves the next ten.
        """
        started = time.perf_counter()
        report = MigrationReport(dry_run=dry_run)
        attempted = 0
        after = ""
        writer = _DraftWriter(self.db)
        try:
            async with self.db.engine.connect() as conn:
                while limit is None or attempted < limit:
                    page = (await conn.execute(self.page_query(after, bot_ids))).all()
                    # Release the read snapshot before writing: SQLite would otherwise hold a
                    # read transaction that blocks the WAL checkpoint for the whole run.
                    await conn.rollback()
                    if not page:
                        break
                    after = page[-1].id
                    drafts = await self._drafts_of(conn, [row.id for row in page])
                    decided: list[BotOutcome | tuple[Any, dict[str, Any]]] = []
                    for row in page:
                        if limit is not None and attempted >= limit:
                            break
                        decision = self._decide(row, drafts.get(row.id), dry_run)
                        if not isinstance(decision, BotOutcome) or decision.status != "skipped":
                            attempted += 1
                        decided.append(decision)
                    written = iter(
                        await writer.write([d for d in decided if not isinstance(d, BotOutcome)])
                    )
                    for decision in decided:
                        outcome = decision if isinstance(decision, BotOutcome) else next(written)
                        report.outcomes.append(outcome)
                        if on_outcome is not None:
                            on_outcome(outcome)
        finally:
            writer.close()
        if bot_ids:
            found = {o.bot_id for o in report.outcomes}
            for missing in dict.fromkeys(bot_ids):
                if missing not in found and (limit is None or attempted < limit):
                    outcome = BotOutcome(missing, "failed", "no bot with this id has a V1 workflow")
                    report.outcomes.append(outcome)
                    if on_outcome is not None:
                        on_outcome(outcome)
        report.elapsed_s = time.perf_counter() - started
        return report

    async def _drafts_of(self, conn: AsyncConnection, ids: list[str]) -> dict[str, str]:
        rows = await conn.execute(
            select(_versions.c.bot_id, _versions.c.source).where(
                and_(_versions.c.bot_id.in_(ids), _versions.c.status == "draft")
            )
        )
        drafts = {r.bot_id: r.source for r in rows}
        await conn.rollback()
        return drafts

    def _decide(
        self, row: Any, draft_source: str | None, dry_run: bool
    ) -> BotOutcome | tuple[Any, dict[str, Any]]:
        """An outcome for a bot that needs no write, else ``(row, converted graph)``."""
        if row.legacy_workflow is not None or draft_source == MIGRATION_SOURCE:
            return BotOutcome(row.id, "skipped", "already migrated")
        if draft_source not in (None, DEFAULT_DRAFT_SOURCE):
            return BotOutcome(row.id, "skipped", "has a V2 draft made outside the migration")
        try:
            graph = self.converter(row.workflow)
        except (GraphValidationError, ValueError) as exc:
            return BotOutcome(row.id, "failed", _reason(exc))
        except Exception as exc:  # a converter bug on odd data must not stop the other bots
            return BotOutcome(row.id, "failed", f"could not convert ({type(exc).__name__}: {exc})")
        if dry_run:
            return BotOutcome(row.id, "would_convert")
        return row, graph

    async def rollback(self, bot_id: str) -> RollbackResult:
        """Back to V1 for one bot: restore ``workflow`` from ``legacy_workflow``, turn V2 off,
        delete the migration's draft (published versions stay as history).

        A V1 workflow edited after the migration (``PUT .../workflow``) is newer than the backup
        and is what the bot's V1 sessions ran: it is kept, never overwritten by the backup.
        Raises :class:`NotFoundError` for an unknown bot and :class:`ConflictError` for a bot
        the migration never touched.
        """
        async with self.db.engine.connect() as conn, conn.begin():
            bot = (
                await conn.execute(
                    select(_bots.c.id, _bots.c.workflow, _bots.c.legacy_workflow).where(
                        _bots.c.id == bot_id
                    )
                )
            ).one_or_none()
            if bot is None:
                raise NotFoundError(f"bot {bot_id} not found")
            removed = await conn.execute(
                delete(_versions).where(
                    and_(
                        _versions.c.bot_id == bot_id,
                        _versions.c.status == "draft",
                        _versions.c.source == MIGRATION_SOURCE,
                    )
                )
            )
            backup = bot.legacy_workflow
            if backup is None and removed.rowcount == 0:
                raise ConflictError(f"bot {bot_id} was not migrated: nothing to roll back")
            kept_newer = backup is not None and bot.workflow not in (None, backup)
            values: dict[str, Any] = {"use_workflow_v2": False, "updated_at": utcnow()}
            if backup is not None:
                values["legacy_workflow"] = null()
                if not kept_newer:
                    values["workflow"] = backup
            await conn.execute(update(_bots).where(_bots.c.id == bot_id).values(**values))
        return RollbackResult(
            bot_id,
            int(removed.rowcount),
            restored=backup is not None and not kept_newer,
            kept_newer_v1=kept_newer,
        )


def _write_draft(conn: Connection, row: Any, graph: dict[str, Any]) -> BotOutcome:
    """The body of ONE bot's transaction: back up V1, replace an untouched generated draft
    with the migration's. (A draft edited meanwhile is not deleted, and the one-draft-per-bot
    index then refuses the insert.)"""
    draft_id = new_id()
    now = utcnow()
    conn.execute(
        delete(_versions).where(
            _versions.c.bot_id == row.id,
            _versions.c.status == "draft",
            _versions.c.source == DEFAULT_DRAFT_SOURCE,
        )
    )
    conn.execute(
        update(_bots)
        .where(_bots.c.id == row.id)
        .values(legacy_workflow=row.workflow, updated_at=now)
    )
    # The one-draft-per-bot unique index turns a concurrent run into an IntegrityError here.
    conn.execute(
        insert(_versions).values(
            id=draft_id,
            bot_id=row.id,
            version_number=None,
            status="draft",
            graph=graph,
            revision=1,
            source=MIGRATION_SOURCE,
            note=MIGRATION_NOTE,
            created_by=None,
            created_at=now,
            updated_at=now,
        )
    )
    return BotOutcome(row.id, "converted", draft_id=draft_id)


_RACED = "a V2 draft was created for this bot while migrating; re-run to see it"


class _DraftWriter:
    """Commits each bot's draft in its own transaction.

    On SQLite the transactions run on the stdlib driver in a worker thread: through aiosqlite
    every statement is several thread hand-offs, which made a 10,000-bot run several times
    slower than the database itself. PostgreSQL uses the async engine directly.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._sync: Engine | None = None
        if db.is_sqlite:
            self._sync = create_engine(
                db.url.set(drivername="sqlite+pysqlite"),
                connect_args={"check_same_thread": False},
                poolclass=NullPool,
            )
            event.listen(self._sync, "connect", _sqlite_pragmas)

    async def write(self, items: list[tuple[Any, dict[str, Any]]]) -> list[BotOutcome]:
        if not items:
            return []
        if self._sync is not None:
            return await asyncio.to_thread(self._write_sync, self._sync, items)
        outcomes = []
        async with self.db.engine.connect() as conn:
            for row, graph in items:
                try:
                    async with conn.begin():
                        outcomes.append(await conn.run_sync(_write_draft, row, graph))
                except IntegrityError:
                    outcomes.append(BotOutcome(row.id, "failed", _RACED))
        return outcomes

    @staticmethod
    def _write_sync(engine: Engine, items: list[tuple[Any, dict[str, Any]]]) -> list[BotOutcome]:
        outcomes = []
        with engine.connect() as conn:
            for row, graph in items:
                try:
                    with conn.begin():
                        outcomes.append(_write_draft(conn, row, graph))
                except IntegrityError:
                    outcomes.append(BotOutcome(row.id, "failed", _RACED))
        return outcomes

    def close(self) -> None:
        if self._sync is not None:
            self._sync.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The same durability settings as the application's own connections (db/session.py).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def outcome_line(outcome: BotOutcome) -> str:
    """One human line per bot for ``--verbose`` output and failure lists."""
    text = f"{outcome.bot_id}  {outcome.status}"
    return f"{text}: {outcome.reason}" if outcome.reason else text
