"""``GET /health/ready``: ready only with the database reachable and the schema at head.

An unreachable or silent database: tests/deploy/test_database_outage.py.
"""

from __future__ import annotations

import httpx

from snapagent.db.migrate import downgrade, head_revisions, history, upgrade
from snapagent.db.session import Database

from .conftest import assert_problem


async def test_ready_when_migrated(client: httpx.AsyncClient, migrated_db: Database) -> None:
    response = await client.get("/health/ready")  # no credentials needed, like /health
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["database"]["status"] == "ok"
    assert body["database"]["dialect"] == migrated_db.dialect
    assert body["database"]["revision"] == head_revisions()[0]


async def test_behind_schema_is_not_ready_until_upgraded(
    client: httpx.AsyncClient, migrated_db: Database
) -> None:
    previous = next(info.down_revision for info in history() if info.is_head)
    assert previous is not None
    await downgrade(migrated_db, previous)
    body = assert_problem(await client.get("/health/ready"), 503)
    assert body["type"] == "urn:snapagent:problem:not-ready"
    assert body["checks"]["database"]["status"] == "behind"
    assert body["checks"]["database"]["revision"] == previous
    assert "snapagent db upgrade" in body["detail"]
    assert (await client.get("/health")).status_code == 200  # alive, just not ready

    await upgrade(migrated_db)  # recovers without a restart
    assert (await client.get("/health/ready")).status_code == 200
