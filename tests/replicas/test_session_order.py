"""Chat on one session from two processes: every message stored, in order, answers in place.

Two OS processes append turns to the same session at the same moment (SQLite file and
PostgreSQL). Each turn's answer must sit right after its question (``seq + 1``, same run), user
messages must be in each process's own order, and no write may fail.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from pathlib import Path

from sqlalchemy import select

from replicas.live import start_together
from snapagent.db.models.chat import ChatMessageRecord, ChatSession
from snapagent.db.session import Database
from snapagent.testing.seeding import user_and_bot

WORKER = Path(__file__).with_name("session_worker.py")
TURNS = 25


async def test_two_processes_on_one_session_keep_every_turn_whole_and_in_order(
    migrated_db: Database, tmp_path: Path
) -> None:
    user_id, bot_id = await user_and_bot(migrated_db, bot_name="race")
    go = tmp_path / "go"
    url = migrated_db.url.render_as_string(hide_password=False)
    procs = [
        await asyncio.create_subprocess_exec(
            *(sys.executable, str(WORKER), url, user_id, bot_id, "shared", str(TURNS), tag),
            str(go),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for tag in ("a", "b")
    ]
    await start_together(procs, go)
    async with asyncio.timeout(120):
        outputs = [await proc.communicate() for proc in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    turns = [json.loads(line) for out, _ in outputs for line in out.decode().splitlines()]
    assert len(turns) == 2 * TURNS

    async with migrated_db.session() as session:
        rows = (
            await session.execute(
                select(ChatMessageRecord.seq, ChatMessageRecord.role, ChatMessageRecord.content,
                       ChatMessageRecord.run_id)
                .join(ChatSession, ChatSession.id == ChatMessageRecord.session_id)
                .where(ChatSession.bot_id == bot_id, ChatSession.session_key == "shared")
                .order_by(ChatMessageRecord.seq)
            )
        ).all()  # fmt: skip
    assert len(rows) == 4 * TURNS  # every question and every answer, one session
    by_seq = {seq: (role, content, run_id) for seq, role, content, run_id in rows}
    for turn in turns:
        assert by_seq[turn["seq"]][:2] == ("user", turn["message"])
        assert by_seq[turn["seq"] + 1] == (
            "assistant",
            f"answer to {turn['message']}",
            turn["run_id"],
        )
    for tag in ("a", "b"):  # each process's turns keep their own order
        seqs = [t["seq"] for t in turns if t["message"].startswith(f"{tag}-")]
        assert seqs == sorted(seqs)
    # The two processes really interleaved (else this proved nothing about concurrency).
    owners = [content.split("-")[0] for _, role, content, _ in rows if role == "user"]
    assert sum(a != b for a, b in itertools.pairwise(owners)) > 1
