#!/usr/bin/env python3
"""Check the V1 -> V2 migration end to end on a generated database of legacy bots.

    python scripts/test_migration.py                     # temp SQLite, 500 bots, then pytest
    python scripts/test_migration.py --bots 2000 --no-pytest
    python scripts/test_migration.py --database-url postgresql+asyncpg://... --keep

The generated bots include malformed workflows (missing nodes, unknown types, cycles, empty
graphs, bad data, ...), V1 graphs the V2 engine cannot express (a prompt over its limit, a
knowledge node without knowledge bases), huge prompts and Korean/emoji text. Each check prints
PASS or FAIL; then the migration test suite (tests/legacy, tests/migration) runs under pytest.
Exit code 0 only when every check and the test suite passed.

The database given with --database-url must be an empty scratch database: bots are added to it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from snapagent.db.migrate import upgrade
from snapagent.db.models.bots import Bot
from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.db.session import Database
from snapagent.legacy.adapter import prepare_v1_run
from snapagent.legacy.seed import SeededBots, dump_database, seed_legacy_bots
from snapagent.nodes import default_registry
from snapagent.services.migration import WorkflowMigrationService
from snapagent.testing import InMemoryRetriever, ScriptedChatModel, ScriptedChatModels
from snapagent.workflow import ServiceContainer, WorkflowExecutorV2, WorkflowGraph, validate_graph

ROOT = Path(__file__).resolve().parents[1]


class Checks:
    def __init__(self) -> None:
        self.failed = 0

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.failed += not ok
        suffix = f" ({detail})" if detail else ""
        print(f"{'PASS' if ok else 'FAIL'}  {name}{suffix}", flush=True)


async def _rows(db: Database) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    bots = {}
    drafts: dict[str, list[Any]] = {}
    async with db.engine.connect() as conn:
        for row in await conn.execute(select(Bot.__table__)):
            bots[row.id] = row
        for row in await conn.execute(select(BotWorkflowVersion.__table__)):
            drafts.setdefault(row.bot_id, []).append(row)
    return bots, drafts


async def _answers_match(v1: Any, v2_graph: dict[str, Any]) -> bool:
    """The bot answers the same question identically before and after migration."""

    async def run(graph: WorkflowGraph, registry: Any) -> tuple[Any, list[Any]]:
        retriever = InMemoryRetriever()
        retriever.add("kb-1", "Reset the password from Settings.", title="Help")
        model = ScriptedChatModel(default_reply="Open Settings.")
        services = ServiceContainer(chat_models=ScriptedChatModels(model), retriever=retriever)
        result = await WorkflowExecutorV2(registry, services).run(
            graph, {"query": "비밀번호 reset?", "history": []}, {"default_model": "m"}
        )
        return result.outputs, model.requests

    before = await run(*prepare_v1_run(v1))
    after = await run(WorkflowGraph.model_validate(v2_graph), default_registry())
    return before == after


async def scenario(db: Database, seeded: SeededBots, checks: Checks) -> None:
    service = WorkflowMigrationService(db)
    check = checks.check
    total = len(seeded.all_ids)

    before = await dump_database(db)
    dry = await service.migrate(dry_run=True)
    check("dry run writes nothing", await dump_database(db) == before)
    check(
        "dry run converts every valid bot",
        dry.converted == len(seeded.valid_ids),
        f"{dry.converted}/{len(seeded.valid_ids)}",
    )
    failed = {o.bot_id: o.reason for o in dry.failures}
    check(
        "dry run reports exactly the broken bots, each with a reason",
        set(failed) == set(seeded.malformed_ids) and all(failed.values()),
        f"{len(failed)} failed",
    )

    real = await service.migrate()
    bots, drafts = await _rows(db)
    check(
        "summary counts",
        (real.scanned, real.converted, real.skipped, real.failed)
        == (total, len(seeded.valid_ids), 0, len(seeded.malformed_ids)),
        str(real.summary()),
    )
    check(
        "one migration draft per valid bot, none for broken ones",
        set(drafts) == set(seeded.valid_ids) and all(len(v) == 1 for v in drafts.values()),
    )
    registry = default_registry()
    check(
        "every draft passes the V2 engine's validation",
        all(
            not validate_graph(WorkflowGraph.model_validate(d[0].graph), registry)
            for d in drafts.values()
        ),
    )
    check(
        "V1 backed up into legacy_workflow, use_workflow_v2 left off",
        all(
            bots[b].legacy_workflow == bots[b].workflow and not bots[b].use_workflow_v2
            for b in seeded.valid_ids
        ),
    )
    check(
        "broken bots untouched",
        all(bots[b].legacy_workflow is None for b in seeded.malformed_ids),
    )
    sample = random.Random(1).sample(seeded.valid_ids, min(25, len(seeded.valid_ids)))
    matches = [await _answers_match(bots[b].workflow, drafts[b][0].graph) for b in sample]
    check(
        "V1 (NodeAdapter) and migrated V2 answer identically",
        all(matches),
        f"{sum(matches)}/{len(sample)} sampled bots",
    )

    after_first = await dump_database(db)
    again = await service.migrate()
    check(
        "re-run is idempotent",
        again.converted == 0 and await dump_database(db) == after_first,
        f"skipped {again.skipped}",
    )

    target = seeded.valid_ids[0]
    await service.rollback(target)
    bots, drafts = await _rows(db)
    check(
        "rollback restores V1 and removes the draft",
        target not in drafts and bots[target].legacy_workflow is None,
    )


def run_pytest(extra: list[str]) -> int:
    cmd = [sys.executable, "-m", "pytest", "-q", "tests/legacy", "tests/migration", *extra]
    print("$", " ".join(cmd[2:]), flush=True)
    return subprocess.run(cmd, cwd=ROOT, check=False).returncode


async def main_async(args: argparse.Namespace, tmp: Path) -> int:
    url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'legacy.db'}"
    db = Database(url)
    checks = Checks()
    try:
        await upgrade(db)
        seeded = await seed_legacy_bots(
            db, args.bots, malformed_share=args.malformed_share, rng_seed=args.seed
        )
        print(
            f"seeded {len(seeded.valid_ids)} valid and {len(seeded.malformed_ids)} broken legacy "
            f"bots ({', '.join(sorted(set(seeded.malformed_ids.values())))}) in {db.safe_url}",
            flush=True,
        )
        await scenario(db, seeded, checks)
    finally:
        await db.dispose()
    return checks.failed


def main(
    argv: list[str] | None = None, *, pytest_runner: Callable[[list[str]], int] = run_pytest
) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bots", type=int, default=500, help="legacy bots to generate")
    parser.add_argument("--malformed-share", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", help="an EMPTY scratch database (default: temp SQLite)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary database")
    parser.add_argument("--no-pytest", action="store_true", help="skip the pytest suite")
    parser.add_argument(
        "--pytest-args", default="", help="pytest options: --pytest-args=\"-m 'not postgres'\""
    )
    args = parser.parse_args(argv)
    if args.bots < 20:
        parser.error("--bots must be at least 20 (room for every broken kind)")
    tmp = Path(tempfile.mkdtemp(prefix="snapagent-migration-"))
    failed = asyncio.run(main_async(args, tmp))
    if args.keep and not args.database_url:
        print(f"database kept at {tmp / 'legacy.db'}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'FAIL' if failed else 'PASS'}: scenario checks ({failed} failed)", flush=True)
    code = 1 if failed else 0
    if not args.no_pytest:
        code = code or (1 if pytest_runner(shlex.split(args.pytest_args)) else 0)
    return code


if __name__ == "__main__":
    sys.exit(main())
