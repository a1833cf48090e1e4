"""WorkflowMigrationService on SQLite and PostgreSQL: per-bot transactions, idempotence,
dry run, limits, crash safety and rollback."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, null, select, update

from snapagent.db.base import new_id, utcnow
from snapagent.db.models.bots import Bot
from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.db.session import Database
from snapagent.errors import ConflictError, NotFoundError
from snapagent.legacy.converter import convert_v1_to_v2_json
from snapagent.legacy.samples import rag_workflow
from snapagent.legacy.seed import SeededBots
from snapagent.services import migration
from snapagent.services.bots import default_graph
from snapagent.services.migration import (
    MIGRATION_SOURCE,
    WorkflowMigrationService,
    default_converter,
)
from snapagent.services.workflow_versions import DEFAULT_DRAFT_SOURCE

from .conftest import dump_database

bots = Bot.__table__
versions = BotWorkflowVersion.__table__


async def bot_row(db: Database, bot_id: str) -> Any:
    async with db.engine.connect() as conn:
        return (await conn.execute(select(bots).where(bots.c.id == bot_id))).one()


async def drafts(db: Database) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    async with db.engine.connect() as conn:
        for row in await conn.execute(select(versions)):
            out.setdefault(row.bot_id, []).append(row)
    return out


async def test_migrates_valid_bots_and_reports_malformed_ones(
    migrated_db: Database, seeded: SeededBots
) -> None:
    report = await WorkflowMigrationService(migrated_db).migrate()
    assert report.summary() | {"elapsed_s": 0} == {
        "dry_run": False,
        "scanned": 20,
        "converted": 10,
        "skipped": 0,
        "failed": 10,
        "elapsed_s": 0,
    }
    assert {o.bot_id for o in report.failures} == set(seeded.malformed_ids)
    assert all(o.reason for o in report.failures)
    made = await drafts(migrated_db)
    assert set(made) == set(seeded.valid_ids)
    for bot_id in seeded.valid_ids:
        (draft,) = made[bot_id]
        bot = await bot_row(migrated_db, bot_id)
        assert (draft.status, draft.source, draft.version_number) == (
            "draft",
            MIGRATION_SOURCE,
            None,
        )
        assert draft.graph == convert_v1_to_v2_json(bot.workflow)
        assert bot.legacy_workflow == bot.workflow
        assert bot.use_workflow_v2 is False  # switching on is a separate, deliberate step
    for bot_id in seeded.malformed_ids:
        bot = await bot_row(migrated_db, bot_id)
        assert bot.legacy_workflow is None


async def test_failure_reasons_name_the_problem(migrated_db: Database, seeded: SeededBots) -> None:
    report = await WorkflowMigrationService(migrated_db).migrate()
    reasons = {seeded.malformed_ids[o.bot_id]: o.reason for o in report.failures}
    assert "web_search" in reasons["unknown_type"]
    assert "cycle" in reasons["cycle"]
    assert "nodes[1].data.top_k" in reasons["bad_data"]
    # Valid V1 that the V2 engine refuses: the engine's own problem is the reason.
    assert "system_prompt" in reasons["prompt_over_v2_limit"]
    assert "knowledge_base_ids" in reasons["knowledge_without_bases"]


async def test_rerun_skips_migrated_bots(migrated_db: Database, seeded: SeededBots) -> None:
    service = WorkflowMigrationService(migrated_db)
    await service.migrate()
    before = await dump_database(migrated_db)
    again = await service.migrate()
    assert (again.converted, again.skipped, again.failed) == (0, 10, 10)
    assert await dump_database(migrated_db) == before


async def test_dry_run_writes_nothing(migrated_db: Database, seeded: SeededBots) -> None:
    before = await dump_database(migrated_db)
    report = await WorkflowMigrationService(migrated_db).migrate(dry_run=True, limit=50)
    assert (report.converted, report.failed) == (10, 10)
    assert {o.status for o in report.outcomes} == {"would_convert", "failed"}
    assert await dump_database(migrated_db) == before


async def test_limit_counts_attempted_bots_not_skipped_ones(
    migrated_db: Database, seeded: SeededBots
) -> None:
    service = WorkflowMigrationService(migrated_db, converter=convert_v1_to_v2_json)
    only_valid = seeded.valid_ids[:5]
    first = await service.migrate(limit=2, bot_ids=only_valid)
    second = await service.migrate(limit=2, bot_ids=only_valid)
    assert first.converted == 2
    assert (second.converted, second.skipped) == (2, 2)
    assert len(await drafts(migrated_db)) == 4


async def test_bot_ids_select_bots_and_unknown_ids_fail(
    migrated_db: Database, seeded: SeededBots
) -> None:
    target = seeded.valid_ids[0]
    report = await WorkflowMigrationService(migrated_db).migrate(bot_ids=[target, "nope"])
    assert [(o.bot_id, o.status) for o in report.outcomes] == [
        (target, "converted"),
        ("nope", "failed"),
    ]
    assert set(await drafts(migrated_db)) == {target}


async def test_bot_with_an_editor_draft_is_skipped_untouched(
    migrated_db: Database, seeded: SeededBots
) -> None:
    target = seeded.valid_ids[0]
    now = utcnow()
    async with migrated_db.transaction() as session:
        await session.execute(
            insert(versions).values(
                id=new_id(),
                bot_id=target,
                status="draft",
                graph={"nodes": [], "edges": []},
                revision=3,
                source="editor",
                note="",
                created_at=now,
                updated_at=now,
            )
        )
    (outcome,) = (await WorkflowMigrationService(migrated_db).migrate(bot_ids=[target])).outcomes
    assert outcome.status == "skipped"
    assert "outside the migration" in outcome.reason
    assert (await bot_row(migrated_db, target)).legacy_workflow is None


async def test_an_untouched_generated_draft_is_replaced_by_the_migration(
    migrated_db: Database, seeded: SeededBots
) -> None:
    """Every bot made through the API gets a generated draft (``source = "default"``): that
    must not keep it from migrating (issue 10, section 6); an edited one still does."""
    generated, edited = seeded.valid_ids[:2]
    now = utcnow()
    async with migrated_db.transaction() as session:
        for bot_id, source in ((generated, DEFAULT_DRAFT_SOURCE), (edited, "editor")):
            await session.execute(
                insert(versions).values(
                    id=new_id(),
                    bot_id=bot_id,
                    status="draft",
                    graph=default_graph([]),
                    revision=1,
                    source=source,
                    note="",
                    created_at=now,
                    updated_at=now,
                )
            )
    service = WorkflowMigrationService(migrated_db)
    dry = await service.migrate(dry_run=True, bot_ids=[generated, edited])
    assert {o.bot_id: o.status for o in dry.outcomes} == {
        generated: "would_convert",
        edited: "skipped",
    }
    report = await service.migrate(bot_ids=[generated, edited])
    assert {o.bot_id: o.status for o in report.outcomes} == {
        generated: "converted",
        edited: "skipped",
    }
    made = await drafts(migrated_db)
    (draft,) = made[generated]  # the generated draft is gone, the migration's replaced it
    assert draft.source == MIGRATION_SOURCE
    assert [d.source for d in made[edited]] == ["editor"]
    rolled_back = await service.rollback(generated)
    assert rolled_back.restored


async def test_one_failing_bot_leaves_the_others_migrated(
    migrated_db: Database, seeded: SeededBots
) -> None:
    victim = seeded.valid_ids[3]
    async with migrated_db.transaction() as session:
        await session.execute(
            update(bots).where(bots.c.id == victim).values(workflow=rag_workflow(kb_ids=["boom"]))
        )

    def flaky(v1: Any) -> dict[str, Any]:
        graph = default_converter(v1)
        if "boom" in str(v1):
            raise TypeError("boom for this bot")  # not one of ours: a bug, still contained
        return graph

    report = await WorkflowMigrationService(migrated_db, converter=flaky).migrate(
        bot_ids=seeded.valid_ids
    )
    assert [(o.bot_id, o.reason) for o in report.failures] == [
        (victim, "could not convert (TypeError: boom for this bot)")
    ]
    assert set(await drafts(migrated_db)) == set(seeded.valid_ids) - {victim}
    assert (await bot_row(migrated_db, victim)).legacy_workflow is None


async def test_killed_mid_run_then_rerun_migrates_each_bot_exactly_once(
    migrated_db: Database, seeded: SeededBots, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migration, "PAGE_SIZE", 3)  # several rounds of writes in 10 bots
    calls = 0

    def dies_after_five(v1: Any) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls > 5:
            raise KeyboardInterrupt  # what a kill looks like to the code that runs
        return convert_v1_to_v2_json(v1)

    with pytest.raises(KeyboardInterrupt):
        await WorkflowMigrationService(migrated_db, converter=dies_after_five).migrate(
            bot_ids=seeded.valid_ids
        )
    partial = await drafts(migrated_db)
    assert 0 < len(partial) < len(seeded.valid_ids)
    report = await WorkflowMigrationService(migrated_db).migrate(bot_ids=seeded.valid_ids)
    assert report.skipped == len(partial)
    made = await drafts(migrated_db)
    assert set(made) == set(seeded.valid_ids)
    assert all(len(rows) == 1 for rows in made.values())


async def test_rollback_restores_v1_and_removes_the_draft(
    migrated_db: Database, seeded: SeededBots
) -> None:
    service = WorkflowMigrationService(migrated_db)
    target = seeded.valid_ids[0]
    original = (await bot_row(migrated_db, target)).workflow
    await service.migrate(bot_ids=[target])
    async with migrated_db.transaction() as session:  # an operator switched it on, then regrets
        await session.execute(
            update(bots).where(bots.c.id == target).values(use_workflow_v2=True, workflow=null())
        )
    result = await service.rollback(target)
    assert (result.drafts_removed, result.restored, result.kept_newer_v1) == (1, True, False)
    bot = await bot_row(migrated_db, target)
    assert (bot.workflow, bot.legacy_workflow, bot.use_workflow_v2) == (original, None, False)
    assert target not in await drafts(migrated_db)
    # Rolled back bots can be migrated again.
    assert (await service.migrate(bot_ids=[target])).converted == 1


async def test_rollback_keeps_a_v1_workflow_edited_after_the_migration(
    migrated_db: Database, seeded: SeededBots
) -> None:
    service = WorkflowMigrationService(migrated_db)
    target = seeded.valid_ids[1]
    await service.migrate(bot_ids=[target])
    edited = rag_workflow(system_prompt="edited after the migration")
    async with migrated_db.transaction() as session:
        await session.execute(update(bots).where(bots.c.id == target).values(workflow=edited))
    result = await service.rollback(target)
    assert (result.restored, result.kept_newer_v1) == (False, True)
    bot = await bot_row(migrated_db, target)
    assert (bot.workflow, bot.legacy_workflow) == (edited, None)


async def test_rollback_of_unknown_or_unmigrated_bots_is_a_clear_error(
    migrated_db: Database, seeded: SeededBots
) -> None:
    service = WorkflowMigrationService(migrated_db)
    with pytest.raises(NotFoundError):
        await service.rollback("missing")
    with pytest.raises(ConflictError, match="was not migrated"):
        await service.rollback(seeded.valid_ids[0])
