"""The rows of many tables inserted in one go, below the ORM: one statement on PostgreSQL,
one thread hop on SQLite.

A group commit of chat turns (`GroupCommit`) inserts sessions, messages, runs and node records:
through SQLAlchemy that was BEGIN, an executemany per table (one Bind and Execute per row) and
COMMIT - six round trips, each waking a PostgreSQL backend, and about seventy executions for
ten turns. On the two cores the workers share with PostgreSQL, that server time is what a
second worker cannot have (`bench/http.py`'s 2-worker row). Here the rows of each table travel
as one array per column, and one statement inserts every table's:

    WITH i0 AS (INSERT INTO chat_sessions (id, ...) SELECT * FROM unnest($1::VARCHAR(36)[], ...)),
         i1 AS (INSERT INTO chat_messages (id, session_id, ...) SELECT * FROM unnest($9::...))
    SELECT 1

Run in autocommit (`GroupCommit`) it is its own transaction: all rows or none. Foreign keys
between the tables hold whatever their order (PostgreSQL checks them when the statement
ends). The text depends only on the tables and columns, never on the number of rows, so each
connection prepares it once (a multi-row VALUES list is a new statement for each count). Values
go through the columns' own bind processing (JSON serialisation, type decorators) as in an
executemany.

On SQLite (`sqlite_inserts`) the rows go as one executemany per table, parents first, with the
transaction's BEGIN IMMEDIATE and COMMIT in the same call on the connection's thread
(`sqlite_driver.insert_committed`). What that saves is the event loop's work per batch: through
an `AsyncSession` a batch cost about 0.5 ms of the loop's CPU whatever its size (the session,
its transaction, an execution context per table, greenlet switches), which `serve --workers 2`
paid twice as often per turn as one worker (each process's batches are half as big).

Not for: tables the lookup caches watch (their engine hook classifies statements, not SQL
text), rows leaving out a column with a Python-side default (only SQLAlchemy computes it) -
`one_statement` returns None and the caller uses the ordinary path.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect

from snapagent.db.lookup_changes import WATCHED_TABLES

__all__ = ["TableRows", "one_statement", "sqlite_inserts"]

TableRows = tuple[Table, list[dict[str, Any]]]
"""A table and its rows (dicts with the same keys)."""
_Shape = tuple[tuple[Table, tuple[str, ...]], ...]


@lru_cache(maxsize=256)
def _table_part(
    table: Table, keys: tuple[str, ...], dialect: Dialect
) -> tuple[str, tuple[str, ...], tuple[Any, ...]] | None:
    """``INSERT INTO t (keys)``, each key's array type (PostgreSQL) and bind processor
    (None: not here)."""
    if table.name in WATCHED_TABLES:
        return None
    if any(column.default is not None for column in table.c if column.key not in keys):
        return None
    columns = [table.c[key] for key in keys]
    quote = dialect.identifier_preparer.quote
    head = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
        f"({', '.join(quote(column.name) for column in columns)})"
    )
    casts: tuple[str, ...] = ()
    if dialect.name == "postgresql":
        casts = tuple(f"{column.type.compile(dialect=dialect)}[]" for column in columns)
    processors = tuple(column.type._cached_bind_processor(dialect) for column in columns)
    return head, casts, processors


@lru_cache(maxsize=256)
def _statement(shape: _Shape, dialect: Dialect) -> tuple[str, tuple[Any, ...]] | None:
    """The statement for tables and keys ``shape`` and every parameter's bind processor."""
    parts: list[str] = []
    processors: list[Any] = []
    for table, keys in shape:
        part = _table_part(table, keys, dialect)
        if part is None:
            return None
        head, casts, table_processors = part
        first = len(processors) + 1
        arrays = ", ".join(f"${first + i}::{cast}" for i, cast in enumerate(casts))
        parts.append(f"i{len(parts)} AS ({head} SELECT * FROM unnest({arrays}))")
        processors += table_processors
    return f"WITH {', '.join(parts)} SELECT 1", tuple(processors)


def _shape(tables: Sequence[TableRows]) -> _Shape | None:
    """Each table with its rows' keys; None if a table's rows do not share them."""
    shape = []
    for table, rows in tables:
        keys = rows[0].keys()
        if not all(row.keys() == keys for row in rows):
            return None  # (the ordinary path says what is wrong)
        shape.append((table, tuple(keys)))
    return tuple(shape)


def one_statement(
    tables: Sequence[TableRows], dialect: Dialect
) -> tuple[str, tuple[list[Any], ...]] | None:
    """The statement and its parameters (one array per column) inserting ``tables``' rows,
    or None when they cannot go this way (see the module docstring)."""
    if dialect.name != "postgresql" or not tables:
        return None
    shape = _shape(tables)
    prepared = None if shape is None else _statement(shape, dialect)
    if shape is None or prepared is None:
        return None
    statement, processors = prepared
    arrays: list[list[Any]] = []
    for (_table, columns), (_same, rows) in zip(shape, tables, strict=True):
        for key in columns:
            arrays.append([row[key] for row in rows])
    for index, process in enumerate(processors):
        if process is not None:
            arrays[index] = [process(value) for value in arrays[index]]
    return statement, tuple(arrays)


@lru_cache(maxsize=256)
def _sqlite_insert(
    table: Table, keys: tuple[str, ...], dialect: Dialect
) -> tuple[str, tuple[Any, ...]] | None:
    part = _table_part(table, keys, dialect)
    if part is None:
        return None
    head, _casts, processors = part
    return f"{head} VALUES ({', '.join('?' * len(keys))})", processors


def sqlite_inserts(
    tables: Sequence[TableRows], dialect: Dialect
) -> list[tuple[str, list[tuple[Any, ...]]]] | None:
    """One ``INSERT ... VALUES (?, ...)`` per table (in ``tables``' order: parents first) with
    its rows as parameter tuples, values through the columns' bind processing - or None when
    the rows cannot go this way (see the module docstring)."""
    if dialect.name != "sqlite" or not tables:
        return None
    shape = _shape(tables)
    if shape is None:
        return None
    inserts: list[tuple[str, list[tuple[Any, ...]]]] = []
    for (table, keys), (_same, rows) in zip(shape, tables, strict=True):
        prepared = _sqlite_insert(table, keys, dialect)
        if prepared is None:
            return None
        operation, processors = prepared
        pairs = tuple(zip(keys, processors, strict=True))
        inserts.append(
            (
                operation,
                [
                    tuple(
                        row[key] if process is None else process(row[key]) for key, process in pairs
                    )
                    for row in rows
                ],
            )
        )
    return inserts
