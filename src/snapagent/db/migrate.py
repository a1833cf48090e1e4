"""Apply the packaged Alembic migrations from code (CLI, server start-up, tests).

    db = Database.from_settings(get_core_settings())
    await ensure_database_ready(db)      # embedded default: upgrade to head
    await upgrade(db)                    # what `snapagent db upgrade` runs

On SQLite, foreign keys are switched off while migrating: batch mode rebuilds a table by
copy-and-drop, and dropping a parent table with foreign keys ON would cascade-delete its
children. Integrity is checked with ``PRAGMA foreign_key_check`` afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from snapagent.db.session import Database
from snapagent.db.vector_indexes import HNSW_INDEX_PREFIX
from snapagent.errors import ConflictError

if TYPE_CHECKING:  # alembic is imported by the functions that use it: not for `snapagent --help`
    from alembic.config import Config

__all__ = [
    "MigrationInfo",
    "alembic_config",
    "current_revision",
    "downgrade",
    "ensure_database_ready",
    "head_revisions",
    "history",
    "include_object",
    "upgrade",
]

SCRIPT_LOCATION = "snapagent.db:migrations"


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Autogenerate filter: per-dimension HNSW indexes live outside the models."""
    return not (type_ == "index" and name is not None and name.startswith(HNSW_INDEX_PREFIX))


@dataclass(frozen=True, slots=True)
class MigrationInfo:
    revision: str
    down_revision: str | None
    message: str
    is_head: bool


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migrations (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    return cfg


def head_revisions() -> list[str]:
    from alembic.script import ScriptDirectory

    return list(ScriptDirectory.from_config(alembic_config()).get_heads())


def history() -> list[MigrationInfo]:
    """Every revision, newest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    heads = set(script.get_heads())
    out = []
    for rev in script.walk_revisions():
        down = rev.down_revision
        out.append(
            MigrationInfo(
                revision=rev.revision,
                down_revision=down if isinstance(down, str) or down is None else ",".join(down),
                message=rev.doc or "",
                is_head=rev.revision in heads,
            )
        )
    return out


async def _run(db: Database, fn: Callable[[Connection], Any]) -> Any:
    try:
        async with db.engine.connect() as conn:
            if db.is_sqlite:
                await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            try:
                result = await conn.run_sync(fn)
                await conn.commit()
                if db.is_sqlite:
                    broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                    if broken:
                        raise ConflictError(
                            f"migration left {len(broken)} rows violating foreign keys",
                            details={"first": [str(v) for v in broken[0]]},
                        )
            finally:
                if db.is_sqlite:
                    await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            return result
    except OSError as exc:
        raise db.unavailable(exc) from exc
    except DBAPIError as exc:
        # A SQL error inside a migration is a bug and must show; a lost connection is an outage.
        if exc.connection_invalidated or _is_connect_failure(exc):
            raise db.unavailable(exc) from exc
        raise


def _is_connect_failure(exc: DBAPIError) -> bool:
    cause = exc.orig
    return isinstance(cause, OSError) or "unable to open database" in str(cause)


def _command(fn: Callable[..., None], *args: Any) -> Callable[[Connection], None]:
    def run(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        fn(cfg, *args)

    return run


async def upgrade(db: Database, revision: str = "head") -> None:
    from alembic import command

    await _run(db, _command(command.upgrade, revision))


async def downgrade(db: Database, revision: str) -> None:
    from alembic import command

    await _run(db, _command(command.downgrade, revision))


async def current_revision(db: Database) -> str | None:
    """The revision the database is at (None for a blank database)."""

    def read(conn: Connection) -> str | None:
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(conn).get_current_revision()

    result: str | None = await _run(db, read)
    return result


async def ensure_database_ready(db: Database, *, auto_upgrade: bool | None = None) -> None:
    """Make sure the schema is at head before serving.

    The embedded default (SQLite) is upgraded automatically. PostgreSQL is only checked by
    default: an operator runs `snapagent db upgrade` as a deploy step, so several replicas
    never race to migrate. Raises :class:`UnavailableError` if the database is unreachable and
    :class:`ConflictError` if a PostgreSQL schema is behind.
    """
    await db.check()
    if auto_upgrade is None:
        auto_upgrade = db.is_sqlite
    if auto_upgrade:
        await upgrade(db)
        return
    current = await current_revision(db)
    heads = head_revisions()
    if current not in heads:
        raise ConflictError(
            f"database schema is at {current or 'nothing'}, the code needs {', '.join(heads)}: "
            "run `snapagent db upgrade`",
            details={"current": current, "heads": heads},
        )
