"""One ingestion process of the exactly-once race:
``python ingest_worker.py URL GO [--crash] [--stale-now]``.

Waits for the file GO, then drains the shared queue with a real `IngestionWorker` (the test
suite's hash embeddings, slowed a little so that claims interleave) and prints, as JSON, the
ids of the documents this process finished. With ``--crash`` it stops dead (SIGKILL-like,
``os._exit``) in the middle of embedding its first document, leaving the job claimed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from live import live

from snapagent.db.session import Database
from snapagent.knowledge.ingestion import IngestionWorker
from snapagent.knowledge.records import IndexChange

HashEmbeddingModel = live._conftest().HashEmbeddingModel


class SlowEmbeddings(HashEmbeddingModel):  # type: ignore[misc, valid-type]
    def __init__(self, crash: bool) -> None:
        super().__init__()
        self.crash = crash

    async def embed_documents(self, texts: Any) -> Any:
        if self.crash:
            os._exit(9)  # the process dies with its job claimed, no clean-up of any kind
        await asyncio.sleep(0.03)
        return await super().embed_documents(texts)


async def main(url: str, crash: bool, stale_now: bool) -> list[str]:
    db = Database(url)
    model = SlowEmbeddings(crash)
    worker = IngestionWorker(db, lambda spec: model)
    finished: list[str] = []

    def heard(change: IndexChange) -> None:
        finished.extend({record.document_id for record in change.added})

    worker.add_listener(heard)
    try:
        # Take back jobs whose heartbeat is older than the stale limit (``--stale-now``: any).
        await worker.recover(0.0 if stale_now else None)
        await worker.run_until_idle()
    finally:
        await db.dispose()
    return finished


if __name__ == "__main__":
    url, go = sys.argv[1:3]
    print("ready", flush=True)  # imports done: wait for the other process, then go together
    while not Path(go).exists():
        time.sleep(0.01)
    print(json.dumps(asyncio.run(main(url, "--crash" in sys.argv, "--stale-now" in sys.argv))))
