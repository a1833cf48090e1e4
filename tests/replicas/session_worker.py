"""One process of the session-order race:
``python session_worker.py URL USER BOT KEY TURNS TAG GO``.

Waits for the file GO (so both processes start together), then appends TURNS turns to the chat
session KEY of bot BOT through `ConversationStore`, as `ChatService` does: the user message at
arrival, a short pause standing in for the model call (no lock is held), then the answer in its
reserved slot. Prints one JSON line per turn: the message, its ``seq`` and the run id.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from pathlib import Path

from snapagent.db.session import Database
from snapagent.services.conversations import ConversationStore


async def main(url: str, user_id: str, bot_id: str, key: str, turns: int, tag: str) -> None:
    db = Database(url)
    store = ConversationStore(db)
    try:
        for n in range(turns):
            message = f"{tag}-{n}"
            turn = await store.begin_turn(bot_id, key, user_id, message, 20)
            await asyncio.sleep(0.002 * (n % 3))  # the "model call": other turns interleave
            run_id = uuid.uuid4().hex
            async with db.transaction() as session:
                await store.stage_answer(session, turn, f"answer to {message}", run_id=run_id)
            print(json.dumps({"message": message, "seq": turn.user_seq, "run_id": run_id}))
    finally:
        await db.dispose()


if __name__ == "__main__":
    url, user_id, bot_id, key, turns, tag, go = sys.argv[1:8]
    print("ready", flush=True)  # imports done: wait for the other process, then go together
    while not Path(go).exists():
        time.sleep(0.01)
    asyncio.run(main(url, user_id, bot_id, key, int(turns), tag))
