"""The per-request V1/V2 choice: stable per session, proportional to the share, and the same
in every process."""

from __future__ import annotations

import subprocess
import sys

import pytest

from snapagent.errors import ConflictError
from snapagent.legacy.converter import convert_v1_to_v2_json
from snapagent.legacy.samples import rag_workflow
from snapagent.services.rollout import (
    choose_engine,
    compile_v1,
    rollout_bucket,
    v1_version_key,
)
from snapagent.services.runtime import BotRuntime
from snapagent.testing import InMemoryRetriever, ScriptedChatModel, ScriptedChatModels

V1 = rag_workflow()


def decide(percent: int, session: str, **overrides: object) -> str:
    args: dict[str, object] = {
        "bot_id": "bot-1",
        "session_id": session,
        "use_workflow_v2": True,
        "v2_rollout_percent": percent,
        "has_published_v2": True,
        "v1_workflow": V1,
    } | overrides
    return choose_engine(**args).engine  # type: ignore[arg-type]


def test_share_of_sessions_on_v2_matches_the_percent() -> None:
    sessions = [f"s{i}" for i in range(4000)]
    for percent in (0, 10, 50, 100):
        share = sum(decide(percent, s) == "v2" for s in sessions) / len(sessions)
        assert abs(share - percent / 100) < 0.03, (percent, share)


def test_a_session_never_flips_and_raising_the_share_only_moves_v1_to_v2() -> None:
    sessions = [f"s{i}" for i in range(1000)]
    at_10 = {s for s in sessions if decide(10, s) == "v2"}
    at_50 = {s for s in sessions if decide(50, s) == "v2"}
    assert at_10 <= at_50
    assert all(decide(50, s) == decide(50, s) for s in sessions)


def test_bucket_is_the_same_in_another_process() -> None:
    code = "from snapagent.services.rollout import rollout_bucket as b; print(b('bot-1', 'abc'))"
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123"},
    )
    assert int(other.stdout) == rollout_bucket("bot-1", "abc")


def test_bots_split_independently() -> None:
    sessions = [f"s{i}" for i in range(200)]
    a = [rollout_bucket("bot-a", s) < 5000 for s in sessions]
    b = [rollout_bucket("bot-b", s) < 5000 for s in sessions]
    assert a != b


@pytest.mark.parametrize(
    ("overrides", "engine"),
    [
        ({"use_workflow_v2": False}, "v1"),
        ({"has_published_v2": False}, "v1"),
        ({"v1_workflow": None}, "v2"),
        ({"v1_workflow": {"nodes": [], "edges": []}}, "v2"),
    ],
)
def test_fallbacks(overrides: dict[str, object], engine: str) -> None:
    assert decide(0 if engine == "v2" else 100, "s", **overrides) == engine


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"use_workflow_v2": True, "has_published_v2": False, "v1_workflow": None}, "publish"),
        ({"use_workflow_v2": False, "v1_workflow": None}, "V2 switched off and no legacy"),
    ],
)
def test_a_bot_that_can_run_nothing_is_a_conflict(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ConflictError, match=message):
        decide(50, "s", **overrides)


def test_v1_version_key_follows_the_workflow_content() -> None:
    other = rag_workflow(top_k=9)
    assert v1_version_key("b", V1) == v1_version_key("b", rag_workflow())
    assert v1_version_key("b", V1) != v1_version_key("b", other)
    assert v1_version_key("b", V1).startswith("v1:b:")


async def test_compile_v1_runs_a_legacy_bot_like_its_migrated_version_on_the_chat_runtime() -> None:
    model = ScriptedChatModel(default_reply="Settings > Reset.")
    retriever = InMemoryRetriever()
    retriever.add("kb-1", "Reset the password in Settings.", title="Help", owner_id="owner")
    retriever.add("kb-other", "Reset the password elsewhere.", title="Not yours", owner_id="x")
    runtime = BotRuntime(chat_models=ScriptedChatModels(model), retriever=retriever)
    workflow = rag_workflow(kb_ids=["kb-1", "kb-other"])

    v1 = compile_v1(runtime, "b1", workflow)
    assert compile_v1(runtime, "b1", workflow).plan is v1.plan  # cached by content
    v2 = runtime.compile("published-1", convert_v1_to_v2_json(workflow))
    # The adapters live in the runtime's own legacy registry, never in the V2 one.
    assert "v1_knowledge" in runtime.legacy_registry
    assert "v1_knowledge" not in runtime.registry

    inputs = {"query": "reset password?", "history": [], "session_id": "s"}
    sys = {"bot_id": "b1"}
    before = await runtime.start(v1, inputs, sys, owner_id="owner").result()
    after = await runtime.start(v2, inputs, sys, owner_id="owner").result()
    assert before.outputs == after.outputs == {"answer": "Settings > Reset."}
    first, second = model.requests
    assert first == second
    assert [d.document_title for d in first.documents] == ["Help"]
