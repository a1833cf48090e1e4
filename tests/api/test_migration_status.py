"""GET /api/v1/migration/status: each of the caller's bots in one state, V2 success vs 99 %."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import insert, update

from snapagent.db.base import new_id, utcnow
from snapagent.db.models.bots import Bot
from snapagent.db.models.executions import WorkflowExecutionRun
from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.db.session import Database
from snapagent.legacy.converter import convert_v1_to_v2_json
from snapagent.legacy.samples import chat_only_workflow
from snapagent.services.migration import WorkflowMigrationService

from .conftest import ApiUser, assert_problem

URL = "/api/v1/migration/status"


async def legacy_bot(db: Database, owner: ApiUser, name: str) -> str:
    bot_id = new_id()
    now = utcnow()
    async with db.transaction() as session:
        await session.execute(
            insert(Bot).values(
                id=bot_id,
                owner_id=owner.id,
                name=name,
                description="",
                knowledge_base_ids=[],
                workflow=chat_only_workflow(),
                use_workflow_v2=False,
                v2_rollout_percent=0,
                created_at=now,
                updated_at=now,
            )
        )
    return bot_id


async def publish(db: Database, bot_id: str, *, enable: bool, percent: int = 100) -> None:
    now = utcnow()
    async with db.transaction() as session:
        await session.execute(
            insert(BotWorkflowVersion).values(
                id=new_id(),
                bot_id=bot_id,
                version_number=1,
                status="published",
                graph=convert_v1_to_v2_json(chat_only_workflow()),
                revision=1,
                source="editor",
                note="",
                created_at=now,
                updated_at=now,
                published_at=now,
            )
        )
        await session.execute(
            update(Bot)
            .where(Bot.id == bot_id)
            .values(use_workflow_v2=enable, v2_rollout_percent=percent)
        )


async def runs(
    db: Database,
    bot_id: str,
    engine: str,
    statuses: dict[str, int],
    *,
    age: timedelta = timedelta(hours=1),
) -> None:
    started = utcnow() - age
    rows: list[dict[str, Any]] = [
        {
            "id": new_id(),
            "bot_id": bot_id,
            "engine": engine,
            "status": status,
            "inputs": {},
            "outputs": {},
            "elapsed_ms": 100.0 if engine == "v2" else 50.0,
            "started_at": started,
            "finished_at": started,
            "created_at": started,
        }
        for status, count in statuses.items()
        for _ in range(count)
    ]
    async with db.transaction() as session:
        await session.execute(insert(WorkflowExecutionRun), rows)


async def test_status_counts_each_state_and_the_v2_success_rate(
    client: httpx.AsyncClient, migrated_db: Database, alice: ApiUser, bob: ApiUser
) -> None:
    v1_only = await legacy_bot(migrated_db, alice, "v1 only")
    drafted = await legacy_bot(migrated_db, alice, "drafted")
    published = await legacy_bot(migrated_db, alice, "published")
    rolling = await legacy_bot(migrated_db, alice, "rolling")
    await WorkflowMigrationService(migrated_db).migrate(bot_ids=[drafted, published, rolling])
    await publish(migrated_db, published, enable=False)
    await publish(migrated_db, rolling, enable=True, percent=10)
    created = await client.post("/api/v1/bots", json={"name": "born on V2"}, headers=alice.headers)
    assert created.status_code == 201, created.text
    bobs = await legacy_bot(migrated_db, bob, "not alice's")

    await runs(migrated_db, rolling, "v2", {"succeeded": 99, "failed": 1, "cancelled": 2})
    await runs(migrated_db, rolling, "v2", {"failed": 5}, age=timedelta(days=2))  # too old
    await runs(migrated_db, rolling, "v1", {"succeeded": 3})
    await runs(migrated_db, bobs, "v2", {"failed": 9})  # another owner's

    response = await client.get(URL, headers=alice.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {
        k: body[k]
        for k in (
            "total_bots",
            "v1_only",
            "migrated_draft",
            "published",
            "v2_enabled",
            "v2_unpublished",
        )
    } == {
        "total_bots": 5,
        "v1_only": 1,
        "migrated_draft": 1,
        "published": 1,
        "v2_enabled": 1,
        "v2_unpublished": 1,
    }
    assert body["v2_enabled_by_rollout_percent"] == {"10": 1}
    assert body["v2"] == {
        "engine": "v2",
        "runs": 102,
        "succeeded": 99,
        "failed": 1,
        "cancelled": 2,
        "success_rate": 0.99,
        "avg_elapsed_ms": 100.0,
    }
    assert body["v1"]["runs"] == 3
    assert body["v1"]["success_rate"] == 1.0
    assert body["success_goal"] == 0.99
    assert body["v2_meets_goal"] is True
    assert v1_only not in response.text  # counts only, never other bots' details


async def test_without_runs_the_goal_is_unknown(
    client: httpx.AsyncClient, migrated_db: Database, alice: ApiUser
) -> None:
    await legacy_bot(migrated_db, alice, "legacy")
    body = (await client.get(URL, headers=alice.headers)).json()
    assert (body["total_bots"], body["v1_only"]) == (1, 1)
    assert body["v2"]["success_rate"] is None
    assert body["v2_meets_goal"] is None


async def test_status_needs_authentication(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(URL), 401)
