"""`ChatService.close()`, what the server's shutdown calls after uvicorn's grace period:
every open turn (JSON or streamed) is stopped, recorded ``cancelled`` and answered 503, its
question kept; a turn that starts while closing is stopped at once.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from replicas.live import live
from snapagent.db.models.accounts import User
from snapagent.db.models.chat import ChatMessageRecord
from snapagent.db.models.executions import WorkflowExecutionRun
from snapagent.db.session import Database
from snapagent.errors import UnavailableError
from snapagent.nodes import default_registry
from snapagent.services.bots import BotService
from snapagent.services.chat import ChatError, ChatEvent, ChatService, ChatTurn
from snapagent.services.run_recorder import RunRecorder
from snapagent.services.runtime import BotRuntime
from snapagent.services.workflow_versions import WorkflowVersionService
from snapagent.testing import InMemoryRetriever, ScriptedChatModel, ScriptedChatModels

REGISTRY = default_registry()


async def _service_and_turns(
    db: Database, model: ScriptedChatModel
) -> tuple[ChatService, User, str]:
    runtime = BotRuntime(
        chat_models=ScriptedChatModels(model), retriever=InMemoryRetriever(), registry=REGISTRY
    )
    service = ChatService(db, runtime, RunRecorder(db.sessionmaker))
    async with db.transaction() as session:
        user = User(email="closing@example.com")
        session.add(user)
    async with db.session() as session:
        bot = await BotService(session, REGISTRY).create(user, name="closing")
        versions = WorkflowVersionService(session, REGISTRY)
        draft = await versions.current_draft(user, bot.id)
        assert draft is not None
        graph = live.model_graph(model.model_id)  # start -> llm -> end
        await versions.update_draft(user, bot.id, draft.id, graph, revision=draft.revision)
        await versions.publish(user, bot.id, draft.id)
    return service, user, bot.id


async def _turn(db: Database, service: ChatService, user: User, bot_id: str, key: str) -> ChatTurn:
    async with db.session() as session:
        return await service.prepare(session, user, bot_id, f"question {key}", key)


async def test_close_cancels_open_turns_records_them_and_answers_503(migrated_db: Database) -> None:
    model = ScriptedChatModel()
    never = asyncio.Event()  # the model would answer only after this: it never does
    model.enqueue("too late", wait_for=never).enqueue("too late", wait_for=never)
    service, user, bot_id = await _service_and_turns(migrated_db, model)

    blocking = asyncio.create_task(
        service.answer(await _turn(migrated_db, service, user, bot_id, "b"))
    )
    events: list[ChatEvent | ChatError] = []

    async def consume() -> None:
        async for event in service.stream(await _turn(migrated_db, service, user, bot_id, "s")):
            events.append(event)

    streaming = asyncio.create_task(consume())
    async with asyncio.timeout(30):
        while len(model.requests) < 2:  # noqa: ASYNC110  (the scripted model has no event)
            await asyncio.sleep(0.01)
        assert await service.close(timeout_s=10) == 2
        with pytest.raises(UnavailableError, match="shutting down"):
            await blocking
        await streaming
    last = events[-1]
    assert isinstance(last, ChatError)
    assert isinstance(last.error, UnavailableError)  # answered as 503 by the HTTP layer

    with pytest.raises(UnavailableError):  # arriving while closing: stopped at once
        await service.answer(await _turn(migrated_db, service, user, bot_id, "late"))

    async with migrated_db.session() as session:
        statuses = list(await session.scalars(select(WorkflowExecutionRun.status)))
        roles = list(await session.scalars(select(ChatMessageRecord.role)))
    assert statuses == ["cancelled"] * 3
    assert roles == ["user"] * 3  # every question kept, no answer
