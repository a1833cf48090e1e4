"""Benchmark: the V1 -> V2 migration of a generated database of legacy bots.

    .venv/bin/python bench/migration.py                       # 10,000 bots, SQLite + PostgreSQL
    .venv/bin/python bench/migration.py --bots 2000 --skip-postgres

For each database: seed the bots (5% broken, 2% with a 60,000-character prompt), then time
- the baseline: one read-only scan of every bot, page by page, as the migration reads them;
- the dry run (read, convert, validate with the engine; write nothing);
- the real run (the same, plus one transaction per bot).
Prints bots/s and the ratio to the baseline scan. Target (issue 6): the real run of 10,000 bots
on SQLite finishes in under 60 s. PostgreSQL is the bundled pgserver, started the way the test
suite starts it (`snapagent.testing.postgres`), or --postgres-url for a server you have (it
needs an empty database).
"""

from __future__ import annotations

import _bootstrap  # noqa: F401  (first: bench/http.py must not shadow the stdlib `http`)

# isort: split

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from snapagent.db.migrate import upgrade
from snapagent.db.session import Database
from snapagent.legacy.seed import seed_legacy_bots
from snapagent.services.migration import WorkflowMigrationService
from snapagent.testing.postgres import PostgresServer

SQLITE_TARGET_S = 60.0


async def scan_all(service: WorkflowMigrationService) -> int:
    """The baseline: read every candidate bot in the migration's own pages, do nothing else."""
    seen, after = 0, ""
    async with service.db.engine.connect() as conn:
        while True:
            rows = (await conn.execute(service.page_query(after))).all()
            await conn.rollback()
            if not rows:
                return seen
            seen += len(rows)
            after = rows[-1].id


async def measure(url: str, bots: int) -> dict[str, Any]:
    db = Database(url)
    try:
        await upgrade(db)
        started = time.perf_counter()
        await seed_legacy_bots(db, bots, malformed_share=0.05, rng_seed=42)
        seed_s = time.perf_counter() - started
        service = WorkflowMigrationService(db)
        started = time.perf_counter()
        scanned = await scan_all(service)
        scan_s = time.perf_counter() - started
        dry = await service.migrate(dry_run=True)
        real = await service.migrate()
    finally:
        await db.dispose()
    if scanned != bots or real.scanned != bots:
        raise RuntimeError(f"expected {bots} bots, scanned {scanned} / {real.scanned}")
    return {
        "dialect": db.dialect,
        "bots": bots,
        "seed_s": round(seed_s, 2),
        "scan_s": round(scan_s, 3),
        "dry_run_s": round(dry.elapsed_s, 2),
        "real_run_s": round(real.elapsed_s, 2),
        "dry_bots_per_s": round(bots / dry.elapsed_s),
        "real_bots_per_s": round(bots / real.elapsed_s),
        "dry_vs_scan": round(dry.elapsed_s / scan_s, 1),
        "real_vs_scan": round(real.elapsed_s / scan_s, 1),
        "converted": real.converted,
        "failed": real.failed,
    }


def report(row: dict[str, Any]) -> None:
    print(
        f"{row['dialect']:<10} {row['bots']:>6} bots | scan {row['scan_s']:>6.2f} s | "
        f"dry run {row['dry_run_s']:>6.2f} s ({row['dry_bots_per_s']:>5} bots/s, "
        f"{row['dry_vs_scan']}x scan) | real run {row['real_run_s']:>6.2f} s "
        f"({row['real_bots_per_s']:>5} bots/s, {row['real_vs_scan']}x scan) | "
        f"converted {row['converted']}, failed {row['failed']} (the seeded broken ones)",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bots", type=int, default=10_000)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--postgres-url", help="an empty database on your own server")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--no-fail", action="store_true", help="report only; exit 0")
    args = parser.parse_args(argv)

    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-migration-"))
    try:
        rows.append(asyncio.run(measure(f"sqlite+aiosqlite:///{tmp / 'bench.db'}", args.bots)))
        report(rows[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not args.skip_postgres:
        try:
            if args.postgres_url:
                rows.append(asyncio.run(measure(args.postgres_url, args.bots)))
            else:
                with PostgresServer() as server:
                    url = server.create_database("bench_migration")
                    rows.append(asyncio.run(measure(url, args.bots)))
            report(rows[-1])
        except (OSError, RuntimeError) as exc:
            print(f"postgresql: not measured ({exc})", file=sys.stderr)

    sqlite = rows[0]
    budget = SQLITE_TARGET_S * sqlite["bots"] / 10_000
    ok = sqlite["real_run_s"] < budget
    print(
        f"{'PASS' if ok else 'FAIL'}: SQLite real run {sqlite['real_run_s']:.1f} s for "
        f"{sqlite['bots']} bots (target < {budget:.0f} s, i.e. < 60 s per 10,000 bots)"
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0 if ok or args.no_fail else 1


if __name__ == "__main__":
    sys.exit(main())
