"""Fair ingestion: one account's long queue or slow documents never hold up another's, several
documents are in flight at once, and the turn order is what the scheduler promises."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import select

from conftest import HashEmbeddingModel
from snapagent.db.models.knowledge import Document
from snapagent.db.session import Database
from snapagent.knowledge.jobs import ClaimedJob
from snapagent.knowledge.records import IndexChange
from snapagent.knowledge.scheduling import FairScheduler
from snapagent.knowledge.settings import KnowledgeSettings
from snapagent.services.knowledge import KnowledgeService

T0 = datetime(2026, 1, 1)


def _job(owner: str) -> ClaimedJob:
    return ClaimedJob("d", "kb", owner, 1, "f.txt", None, "f", "m", None, 64, 8)


# -- the order, without a database ----------------------------------------------------------------


def test_nobody_in_flight_and_never_served_goes_oldest_first() -> None:
    scheduler = FairScheduler(per_account=2)
    assert scheduler.order({"late": T0 + timedelta(1), "early": T0}) == ["early", "late"]


def test_an_account_at_its_share_is_passed_over() -> None:
    scheduler = FairScheduler(per_account=1)
    scheduler._in_flight["busy"] = 1
    assert scheduler.order({"busy": T0, "other": T0 + timedelta(1)}) == ["other"]


def test_fewest_in_flight_then_least_recently_served() -> None:
    scheduler = FairScheduler(per_account=3)
    scheduler._in_flight.update({"a": 2, "b": 1})
    assert scheduler.order({"a": T0, "b": T0, "c": T0 + timedelta(1)}) == ["c", "b", "a"]
    scheduler._in_flight.clear()
    scheduler._served.update({"a": 5, "b": 3})  # b had its turn before a; c never did
    assert scheduler.order({"a": T0, "b": T0, "c": T0 + timedelta(9)}) == ["c", "b", "a"]


def test_an_account_whose_queue_ran_dry_is_forgotten() -> None:
    scheduler = FairScheduler(per_account=1)
    scheduler._served.update({"gone": 1, "here": 2})
    scheduler.order({"here": T0})
    assert scheduler._served == {"here": 2}


def test_release_frees_the_slot_and_tolerates_jobs_it_did_not_count() -> None:
    scheduler = FairScheduler(per_account=1)
    scheduler._in_flight["a"] = 1
    scheduler.release(_job("a"))
    scheduler.release(_job("stranger"))
    assert scheduler.in_flight("a") == scheduler.in_flight("stranger") == 0
    with pytest.raises(ValueError, match="at least 1"):
        FairScheduler(per_account=0)


# -- against the database, with a real worker ----------------------------------------------------


class GatedEmbeddings(HashEmbeddingModel):
    """Embeds texts containing ``SLOW`` only once ``gate`` is set; counts who is embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.embedding_now = 0
        self.most_at_once = 0
        self._changed = asyncio.Condition()

    async def until_embedding(self, count: int) -> None:
        async with asyncio.timeout(30), self._changed:
            await self._changed.wait_for(lambda: self.embedding_now >= count)

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.embedding_now += 1
        self.most_at_once = max(self.most_at_once, self.embedding_now)
        async with self._changed:
            self._changed.notify_all()
        try:
            if any("SLOW" in text for text in texts):
                await self.gate.wait()
            else:
                await asyncio.sleep(0.01)
            return await super().embed_documents(texts)
        finally:
            self.embedding_now -= 1


@pytest.fixture
def gated() -> GatedEmbeddings:
    return GatedEmbeddings()


@pytest.fixture
async def service(migrated_db: Database, gated: GatedEmbeddings) -> AsyncIterator[KnowledgeService]:
    settings = KnowledgeSettings(ingestion_concurrency=3, ingestion_per_account=2)
    knowledge = KnowledgeService(migrated_db, embeddings=lambda spec: gated, settings=settings)
    try:
        yield knowledge
    finally:
        gated.gate.set()
        await knowledge.close()


async def _account(service: KnowledgeService, email: str) -> tuple[str, str]:
    owner = await service.ensure_user(email)
    kb = await service.create_knowledge_base(owner, "kb", embedding_model="gated")
    return owner, kb.id


async def test_a_long_queue_does_not_starve_another_account(
    service: KnowledgeService, migrated_db: Database
) -> None:
    flood_owner, flood_kb = await _account(service, "flood@example.com")
    flood = [
        (await service.add_document(flood_owner, flood_kb, f"{i}.txt", f"flood {i}".encode())).id
        for i in range(15)
    ]
    quiet_owner, quiet_kb = await _account(service, "quiet@example.com")
    quiet = await service.add_document(quiet_owner, quiet_kb, "one.txt", b"the quiet one")

    service.start()
    async with asyncio.timeout(60):
        await service.wait_for_documents([*flood, quiet.id])
    async with migrated_db.session() as session:
        claimed = list(
            await session.scalars(select(Document.id).order_by(Document.claimed_at, Document.id))
        )
    # Oldest-first would claim it 16th; with turns shared it is among the first three.
    assert claimed.index(quiet.id) < 3, claimed


async def test_slow_documents_hold_at_most_their_accounts_share(
    service: KnowledgeService, gated: GatedEmbeddings
) -> None:
    slow_owner, slow_kb = await _account(service, "slow@example.com")
    slow = [
        (await service.add_document(slow_owner, slow_kb, f"s{i}.txt", f"SLOW {i}".encode())).id
        for i in range(4)
    ]
    service.start()
    await gated.until_embedding(2)  # two slow documents in flight at once

    other_owner, other_kb = await _account(service, "other@example.com")
    other = await service.add_document(other_owner, other_kb, "fast.txt", b"quick to embed")
    async with asyncio.timeout(30):
        (done,) = await service.wait_for_documents([other.id])
    assert done.status == "indexed"
    states = [(await service.get_document(slow_owner, slow_kb, i)).status for i in slow]
    assert sorted(states) == ["embedding", "embedding", "queued", "queued"]  # its share: 2

    gated.gate.set()
    async with asyncio.timeout(30):
        finished = await service.wait_for_documents(slow)
    assert {d.status for d in finished} == {"indexed"}
    assert gated.most_at_once == 3  # several documents in flight, within the concurrency


async def test_stopping_hands_back_every_document_in_flight(
    service: KnowledgeService, gated: GatedEmbeddings
) -> None:
    owner, kb_id = await _account(service, "stop@example.com")
    ids = [
        (await service.add_document(owner, kb_id, f"s{i}.txt", f"SLOW {i}".encode())).id
        for i in range(3)
    ]
    service.start()
    await gated.until_embedding(2)
    await service.close()
    states = {(await service.get_document(owner, kb_id, i)).status for i in ids}
    attempts = {(await service.get_document(owner, kb_id, i)).attempts for i in ids}
    assert (states, attempts) == ({"queued"}, {0})


async def test_claims_follow_the_turns_across_two_accounts(migrated_db: Database) -> None:
    # One slot, three documents each: turns alternate instead of draining the older queue.
    model = HashEmbeddingModel()
    settings = KnowledgeSettings(ingestion_concurrency=1, ingestion_per_account=1)
    service = KnowledgeService(migrated_db, embeddings=lambda spec: model, settings=settings)
    order: list[str] = []

    def heard(change: IndexChange) -> None:
        order.extend(record.document_title[0] for record in change.added[:1])

    service.worker.add_listener(heard)
    for letter in "ab":
        owner, kb_id = await _account(service, f"{letter}@example.com")
        for i in range(3):
            await service.add_document(
                owner, kb_id, f"{letter}{i}.txt", f"{letter} {i}".encode(), title=f"{letter}{i}"
            )
    try:
        assert await service.worker.run_until_idle() == 6
    finally:
        await service.close()
    assert "".join(order) == "ababab"
