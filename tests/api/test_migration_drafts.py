"""A migrated draft is an ordinary V2 draft to the API: listed, readable, publishable."""

from __future__ import annotations

import httpx
from sqlalchemy import delete

from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.db.session import Database
from snapagent.legacy.converter import convert_v1_to_v2_json
from snapagent.legacy.samples import rag_workflow
from snapagent.services.migration import MIGRATION_SOURCE, WorkflowMigrationService

from .conftest import ApiUser


async def test_migrated_draft_can_be_reviewed_and_published_over_http(
    client: httpx.AsyncClient, migrated_db: Database, alice: ApiUser
) -> None:
    created = await client.post("/api/v1/bots", json={"name": "legacy"}, headers=alice.headers)
    bot_id = created.json()["id"]
    base = f"/api/v1/bots/{bot_id}"
    # A bot imported from the legacy system: a V1 workflow, V2 off, no V2 draft of its own.
    v1 = rag_workflow(kb_ids=[], system_prompt="Answer {{ briefly }}.")
    v1["nodes"] = [n for n in v1["nodes"] if n["type"] != "knowledge"]
    v1["edges"] = [{"source": "n1", "target": "n3"}, {"source": "n3", "target": "n4"}]
    assert (await client.put(f"{base}/workflow", json=v1, headers=alice.headers)).status_code == 200
    listed = (await client.get(f"{base}/workflow-versions", headers=alice.headers)).json()
    for version in listed["data"]:  # the starter draft every new bot gets
        assert version["status"] == "draft"
    await client.patch(base, json={"use_workflow_v2": False}, headers=alice.headers)
    async with migrated_db.transaction() as session:  # legacy bots have no V2 draft
        await session.execute(delete(BotWorkflowVersion).where(BotWorkflowVersion.bot_id == bot_id))

    report = await WorkflowMigrationService(migrated_db).migrate(bot_ids=[bot_id])
    assert report.converted == 1

    listed = (await client.get(f"{base}/workflow-versions", headers=alice.headers)).json()
    (draft,) = listed["data"]
    assert (draft["status"], draft["source"]) == ("draft", MIGRATION_SOURCE)
    got = await client.get(f"{base}/workflow-versions/{draft['id']}", headers=alice.headers)
    assert got.json()["graph"] == convert_v1_to_v2_json(v1)

    published = await client.post(
        f"{base}/workflow-versions/{draft['id']}/publish", headers=alice.headers
    )
    assert published.status_code == 200, published.text
    assert published.json()["version_number"] == 1
    bot = (await client.get(base, headers=alice.headers)).json()
    assert bot["use_workflow_v2"] is False  # publishing never switches the bot
    got = (await client.get(f"{base}/workflow", headers=alice.headers)).json()
    assert got["workflow"] == v1
