"""ChatService on real databases with the scripted chat model and the in-memory retriever."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select, update

from snapagent.db.models.accounts import User
from snapagent.db.models.bots import Bot
from snapagent.db.models.chat import ChatMessageRecord
from snapagent.db.models.knowledge import KnowledgeBase
from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.db.session import Database
from snapagent.errors import (
    ConflictError,
    InputValidationError,
    NotFoundError,
    ProviderError,
    UnavailableError,
)
from snapagent.llm.errors import ProviderTimeoutError
from snapagent.nodes import default_registry
from snapagent.services.bots import BotService
from snapagent.services.chat import ChatError, ChatService, ChatSettings, ChatTurn
from snapagent.services.executions import ExecutionService, RunDetail
from snapagent.services.run_recorder import RunRecorder
from snapagent.services.runtime import BotRuntime
from snapagent.services.workflow_versions import WorkflowVersionService
from snapagent.testing import InMemoryRetriever, ScriptedChatModel, ScriptedChatModels, rag_graph

REGISTRY = default_registry()


class Harness:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.model = ScriptedChatModel()
        self.retriever = InMemoryRetriever()
        runtime = BotRuntime(
            chat_models=ScriptedChatModels(self.model),
            retriever=self.retriever,
            registry=REGISTRY,
        )
        settings = ChatSettings(history_messages=4, max_message_chars=50)
        self.service = ChatService(db, runtime, RunRecorder(db.sessionmaker), settings)

    async def user(self, email: str) -> User:
        async with self.db.transaction() as session:
            user = User(email=email)
            session.add(user)
        return user

    async def knowledge_base(self, owner: User) -> str:
        async with self.db.transaction() as session:
            kb = KnowledgeBase(
                owner_id=owner.id,
                name=f"kb-{owner.email}",
                embedding_model="x",
                chunk_max_tokens=200,
                chunk_overlap_tokens=20,
            )
            session.add(kb)
        return kb.id

    async def bot(self, owner: User, kb_ids: list[str], *, publish: bool = True) -> Bot:
        async with self.db.session() as session:
            bot = await BotService(session, REGISTRY).create(owner, name="helper")
            versions = WorkflowVersionService(session, REGISTRY)
            draft = await versions.current_draft(owner, bot.id)
            assert draft is not None
            graph = rag_graph(kb_ids).to_json()
            await versions.update_draft(owner, bot.id, draft.id, graph, revision=draft.revision)
            if publish:
                await versions.publish(owner, bot.id, draft.id)
            return bot

    async def turn(self, user: User, bot_id: str, message: str, key: str | None) -> ChatTurn:
        async with self.db.session() as session:
            return await self.service.prepare(session, user, bot_id, message, key)

    async def run(self, bot_id: str, run_id: str) -> RunDetail:
        async with self.db.session() as session:
            return await ExecutionService(session).get_run(bot_id, run_id)

    async def messages(self) -> list[tuple[int, str, str]]:
        async with self.db.session() as session:
            rows = await session.scalars(select(ChatMessageRecord).order_by(ChatMessageRecord.seq))
            return [(m.seq, m.role, m.content) for m in rows]


@pytest.fixture
async def h(migrated_db: Database) -> Harness:
    return Harness(migrated_db)


async def _setup(h: Harness) -> tuple[User, Bot]:
    alice = await h.user("alice@example.com")
    kb = await h.knowledge_base(alice)
    h.retriever.add(
        kb, "Refunds are possible within 30 days.", title="Refund policy", owner_id=alice.id
    )
    h.retriever.add(
        kb,
        "Refunds need a receipt.",
        title="Refund policy",
        document_id="doc-0",
        owner_id=alice.id,
    )
    h.retriever.add("someone-elses-kb", "Refunds secret.", title="Secret", owner_id="mallory")
    bot = await h.bot(alice, [kb])
    # A version stored before validation knew accounts names another account's knowledge
    # base: the run's retrieval must still never read it.
    async with h.db.transaction() as session:
        await session.execute(
            update(BotWorkflowVersion)
            .where(BotWorkflowVersion.bot_id == bot.id)
            .values(graph=rag_graph([kb, "someone-elses-kb"]).to_json())
        )
    return alice, bot


async def test_answer_records_the_run_and_carries_history(h: Harness) -> None:
    alice, bot = await _setup(h)
    h.model.enqueue("Within 30 days.").enqueue("Yes, keep the receipt.")

    first = await h.service.answer(await h.turn(alice, bot.id, "refunds how long?", "s-1"))
    assert first.answer == "Within 30 days."
    assert first.session_id == "s-1"
    assert first.version == 1
    assert [s["document_title"] for s in first.sources] == ["Refund policy", "Refund policy"]
    assert "Secret" not in str(first.sources)  # another owner's knowledge base is never read
    assert first.usage["total_tokens"] > 0

    second = await h.service.answer(await h.turn(alice, bot.id, "receipt for refunds?", "s-1"))
    sent = h.model.requests[1].messages
    assert [(m.role, m.content) for m in sent[:2]] == [
        ("user", "refunds how long?"),
        ("assistant", "Within 30 days."),
    ]
    assert [role for _, role, _ in await h.messages()] == ["user", "assistant"] * 2

    run = await h.run(bot.id, second.run_id)
    assert (run.status, run.mode, run.session_id, run.version_number) == (
        "succeeded",
        "blocking",
        "s-1",
        1,
    )
    assert [n.node_id for n in run.nodes] == ["start", "kb", "llm", "end"]
    assert run.inputs == {"query": "receipt for refunds?", "session_id": "s-1", "history": 2}
    assert run.outputs == {"answer": "Yes, keep the receipt."}


async def _collect(events: Any) -> list[Any]:
    return [event async for event in events]


async def test_stream_emits_ordered_events_and_records_streaming_mode(h: Harness) -> None:
    alice, bot = await _setup(h)
    h.model.enqueue("Refunds take thirty days.", chunk_size=4)
    events = await _collect(h.service.stream(await h.turn(alice, bot.id, "refunds?", None)))
    names = [e.event for e in events]
    assert names[0] == "session"
    assert names[-2:] == ["sources", "message"]
    started = [e.data["node_id"] for e in events if e.event == "node_started"]
    assert started == ["start", "kb", "llm", "end"]
    text = "".join(e.data["text"] for e in events if e.event == "text")
    final = events[-1].data
    assert text == final["answer"] == "Refunds take thirty days."
    assert final["run_id"] == events[0].data["run_id"]
    assert (await h.run(bot.id, final["run_id"])).mode == "streaming"


async def test_provider_failure_is_recorded_and_keeps_the_user_message(h: Harness) -> None:
    alice, bot = await _setup(h)
    h.model.enqueue_error(ProviderTimeoutError("model timed out", provider="scripted"))
    turn = await h.turn(alice, bot.id, "refunds?", "s-err")
    with pytest.raises(ProviderError) as failure:
        await h.service.answer(turn)
    assert isinstance(failure.value, TimeoutError)  # -> 504 upstream
    assert [(role, text) for _, role, text in await h.messages()] == [("user", "refunds?")]
    async with h.db.session() as session:
        page = await ExecutionService(session).list_runs(bot.id)
    (run,) = page.data
    assert (run.status, run.error_type) == ("failed", "ProviderTimeoutError")
    assert "model timed out" in (run.error or "")

    h.model.enqueue_error(ProviderError("upstream 500", provider="scripted"))
    events = await _collect(h.service.stream(await h.turn(alice, bot.id, "again?", "s-err")))
    last = events[-1]
    assert isinstance(last, ChatError)
    assert isinstance(last.error, ProviderError)  # the HTTP layer's table makes it a 502
    assert last.run_id == events[0].data["run_id"]


async def test_closing_the_stream_cancels_and_records_the_run(h: Harness) -> None:
    alice, bot = await _setup(h)
    gate = asyncio.Event()  # never set: the model hangs until the run is cancelled
    h.model.enqueue("never", wait_for=gate)
    stream = h.service.stream(await h.turn(alice, bot.id, "refunds?", "s-cancel"))
    run_id = ""
    async for event in stream:
        if event.event == "session":
            run_id = event.data["run_id"]
        if event.event == "node_started" and event.data["node_id"] == "llm":
            break
    await stream.aclose()  # what the SSE response does when the client disconnects

    run = await h.run(bot.id, run_id)
    assert run.status == "cancelled"
    statuses = {n.node_id: n.status for n in run.nodes}
    assert statuses["kb"] == "succeeded"
    assert statuses["llm"] == "cancelled"
    assert [role for _, role, _ in await h.messages()] == ["user"]


async def test_concurrent_turns_on_one_session_stay_whole_and_ordered(h: Harness) -> None:
    alice, bot = await _setup(h)
    gate = asyncio.Event()
    h.model.enqueue("first answer", wait_for=gate).enqueue("second answer")
    one = asyncio.create_task(h.service.answer(await h.turn(alice, bot.id, "one?", "same")))
    await asyncio.sleep(0.05)  # the first turn now waits inside the model, holding the session
    two = asyncio.create_task(h.service.answer(await h.turn(alice, bot.id, "two?", "same")))
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.gather(one, two)
    assert await h.messages() == [
        (1, "user", "one?"),
        (2, "assistant", "first answer"),
        (3, "user", "two?"),
        (4, "assistant", "second answer"),
    ]
    assert [m.content for m in h.model.requests[1].messages[:2]] == ["one?", "first answer"]


async def test_prepare_rejects_bad_requests(h: Harness) -> None:
    alice, bot = await _setup(h)
    bob = await h.user("bob@example.com")
    unpublished = await h.bot(alice, [], publish=False)

    with pytest.raises(InputValidationError) as blank:
        await h.turn(alice, bot.id, "   ", None)
    assert blank.value.field == "message"
    with pytest.raises(InputValidationError, match="longer than 50"):
        await h.turn(alice, bot.id, "x" * 51, None)
    with pytest.raises(InputValidationError) as bad_key:
        await h.turn(alice, bot.id, "hi", "no spaces allowed")
    assert bad_key.value.field == "session_id"
    with pytest.raises(NotFoundError):
        await h.turn(bob, bot.id, "hi", None)
    with pytest.raises(ConflictError, match="no published V2"):
        await h.turn(alice, unpublished.id, "hi", None)
    async with h.db.transaction() as session:
        legacy = await session.get(Bot, bot.id)
        assert legacy is not None
        legacy.use_workflow_v2 = False
    with pytest.raises(ConflictError, match="legacy"):
        await h.turn(alice, bot.id, "hi", None)


async def test_a_failing_recorder_never_fails_the_chat(
    h: Harness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bot = await _setup(h)

    def unrecordable(record: Any) -> Any:
        raise RuntimeError("cannot serialise this run")

    monkeypatch.setattr(h.service.recorder, "rows", unrecordable)
    h.model.enqueue("still answered")
    answer = await h.service.answer(await h.turn(alice, bot.id, "refunds?", None))
    assert answer.answer == "still answered"
    assert "could not record workflow run" in caplog.text
    assert [role for _, role, _ in await h.messages()] == ["user", "assistant"]


async def test_history_is_bounded_to_the_latest_messages(h: Harness) -> None:
    alice, bot = await _setup(h)
    for reply in ("a1", "a2", "a3", "a4"):
        h.model.enqueue(reply)
    for question in ("q1", "q2", "q3", "q4"):
        await h.service.answer(await h.turn(alice, bot.id, question, "long"))
    # history_messages=4: the fourth turn gets the 4 latest earlier messages, oldest first
    history = [m.content for m in h.model.requests[3].messages[:-1]]
    assert history == ["q2", "a2", "q3", "a3"]


async def test_a_legacy_v1_bot_answers_through_the_v1_engine(h: Harness) -> None:
    from snapagent.legacy.samples import rag_workflow

    alice, bot = await _setup(h)
    async with h.db.transaction() as session:
        legacy = await session.get(Bot, bot.id)
        assert legacy is not None
        kb_id = (await session.scalars(select(KnowledgeBase.id))).one()
        legacy.workflow = rag_workflow(kb_ids=[kb_id])
        legacy.use_workflow_v2 = False
    h.model.enqueue("V1 says 30 days.")
    answer = await h.service.answer(await h.turn(alice, bot.id, "refunds how long?", None))
    assert answer.answer == "V1 says 30 days."
    assert answer.version is None
    assert [s["document_title"] for s in answer.sources] == ["Refund policy", "Refund policy"]
    run = await h.run(bot.id, answer.run_id)
    assert (run.engine, run.version_number, run.status) == ("v1", None, "succeeded")


async def test_shutdown_stops_an_open_turn_and_records_it(h: Harness) -> None:
    """`close()` sets each open turn's cancel signal: the run stops at once (no watcher
    task in between) and is recorded cancelled before close() returns."""
    alice, bot = await _setup(h)
    gate = asyncio.Event()  # never set: the model hangs until the run is cancelled
    h.model.enqueue("never", wait_for=gate)
    turn = asyncio.create_task(h.service.answer(await h.turn(alice, bot.id, "refunds?", "s-down")))
    await asyncio.sleep(0.05)  # the turn now waits inside the model
    assert h.model.requests
    assert await h.service.close(timeout_s=5) == 1
    with pytest.raises(UnavailableError):
        await turn
    async with h.db.session() as session:
        (run,) = (await ExecutionService(session).list_runs(bot.id)).data
    assert run.status == "cancelled"


async def test_a_caller_cancelled_while_its_record_commits_still_gets_it_stored(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bot = await _setup(h)
    h.model.enqueue("Refunds take thirty days.")
    stores: list[object] = []
    entered, release = asyncio.Event(), asyncio.Event()
    store = h.service.group._store

    async def slow_store(writes: Any) -> None:
        stores.append(writes)
        if len(stores) == 2:  # the first is the new session's rows, the second the record
            entered.set()
            await release.wait()
        await store(writes)

    monkeypatch.setattr(h.service.group, "_store", slow_store)
    turn = asyncio.create_task(h.service.answer(await h.turn(alice, bot.id, "refunds?", None)))
    await asyncio.wait_for(entered.wait(), 5)
    turn.cancel()  # the client went away while the record commits
    await asyncio.sleep(0.02)
    assert not turn.done()  # the record is still being written: the caller waits for it
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await turn
    async with h.db.session() as session:
        (run,) = (await ExecutionService(session).list_runs(bot.id)).data
    assert run.status == "succeeded"
    assert [role for _, role, _ in await h.messages()] == ["user", "assistant"]
