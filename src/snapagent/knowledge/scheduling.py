"""Fair ingestion across accounts: whose document this process ingests next.

The queue is shared (the ``documents`` table, see `snapagent.knowledge.jobs`), but turns are
not handed out oldest-first: an account that queued ten thousand documents, or a few slow ones,
would then hold every worker while another account's one document waited behind them.
Instead, each time a slot is free:

1. accounts already holding ``per_account`` of this process's slots are passed over - so with
   ``per_account`` below the process's concurrency, a slot is always left for someone else;
2. among the others, the one with the fewest documents in flight here goes first, then the one
   served least recently (an account this process has not served since its queue last ran dry
   counts as never served), then the one whose oldest queued document is oldest;
3. that account's oldest queued document is claimed atomically; if another worker (process or
   replica) took it in between, the next account in that order is tried.

The bookkeeping is per process and exact (its own slots); across replicas each process
applies it to its own slots, and the claim itself stays exactly-once.

    scheduler = FairScheduler(per_account=2)
    job = await scheduler.claim(db)     # None: nothing this process may take now
    ...
    scheduler.release(job)
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping
from datetime import datetime

from snapagent.db.session import Database
from snapagent.knowledge.jobs import ClaimedJob, claim_next_job, queued_owners

__all__ = ["FairScheduler"]


class FairScheduler:
    """Chooses, claims and accounts for this process's ingestion jobs (see the module doc).

    >>> scheduler = FairScheduler(per_account=1)
    >>> scheduler.order({"b": datetime(2026, 1, 2), "a": datetime(2026, 1, 1)})
    ['a', 'b']
    """

    def __init__(self, per_account: int) -> None:
        if per_account < 1:
            raise ValueError("per_account must be at least 1")
        self.per_account = per_account
        self._in_flight: Counter[str] = Counter()
        self._served: dict[str, int] = {}  # owner -> turn number of its last claim here
        self._turns = itertools.count()

    def in_flight(self, owner_id: str) -> int:
        return self._in_flight[owner_id]

    def order(self, waiting: Mapping[str, datetime]) -> list[str]:
        """The accounts of ``waiting`` (owner -> oldest queued time) allowed a slot, best first."""
        # Forget accounts whose queue ran dry: memory stays bounded by the active accounts.
        self._served = {o: t for o, t in self._served.items() if o in waiting}
        allowed = [o for o in waiting if self._in_flight[o] < self.per_account]
        return sorted(
            allowed,
            key=lambda o: (self._in_flight[o], self._served.get(o, -1), waiting[o]),
        )

    async def claim(self, db: Database) -> ClaimedJob | None:
        """Claim the next job this process should run, or None if there is none it may take."""
        for owner in self.order(await queued_owners(db)):
            job = await claim_next_job(db, owner)
            if job is not None:
                self._in_flight[owner] += 1
                self._served[owner] = next(self._turns)
                return job
        return None

    def release(self, job: ClaimedJob) -> None:
        """The job's slot is free again (its document is indexed, failed or handed back)."""
        if self._in_flight[job.owner_id] > 0:
            self._in_flight[job.owner_id] -= 1
        if not self._in_flight[job.owner_id]:
            del self._in_flight[job.owner_id]
