"""The run-level values (``sys.*``): every kind of run gets exactly the values
`snapagent.services.system_values` declares for it, and the node catalogue the editors load
(``GET /api/v1/node-types``) sends that declaration, as its OpenAPI document says."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from snapagent.services.system_values import (
    SYSTEM_VALUES,
    RunKind,
    system_inputs,
    system_value_names,
)
from snapagent.workflow.executor import WorkflowExecutorV2
from snapagent.workflow.handle import WorkflowRun
from snapagent.workflow.system_names import SYSTEM_VALUE_NAMES

from .conftest import ApiUser
from .test_agent_workflow_tools import front_and_billing, runs
from .test_chat_api import CHAT


@pytest.fixture
def seen_sys(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The ``sys`` of every run the engine starts, as the engine gets it (after the runtime)."""
    seen: list[dict[str, Any]] = []
    start = WorkflowExecutorV2.start

    def spy(
        self: WorkflowExecutorV2, graph: Any, inputs: Any = None, sys: Any = None, **kw: Any
    ) -> WorkflowRun:
        seen.append(dict(sys or {}))
        return start(self, graph, inputs, sys, **kw)

    monkeypatch.setattr(WorkflowExecutorV2, "start", spy)
    return seen


def by_run(seen: list[dict[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(s["run_id"]): s for s in seen}


async def test_each_kind_of_run_gets_exactly_the_declared_values(
    client: httpx.AsyncClient, alice: ApiUser, seen_sys: list[dict[str, Any]]
) -> None:
    front, billing = await front_and_billing(client, alice)

    answered = await client.post(
        CHAT, json={"bot_id": front, "message": "Ask the billing bot"}, headers=alice.headers
    )
    assert answered.status_code == 200, answered.text
    [nested] = await runs(client, alice, billing)
    sys = by_run(seen_sys)

    chat = sys[answered.json()["run_id"]]
    assert set(chat) == system_value_names(RunKind.CHAT)
    assert (chat["bot_id"], chat["user_id"], chat["owner_id"]) == (front, alice.id, alice.id)
    assert chat["files"] == []
    tool = sys[nested["id"]]
    assert set(tool) == system_value_names(RunKind.TOOL)
    assert (tool["bot_id"], tool["owner_id"]) == (billing, alice.id)
    assert (tool["call_depth"], tool["caller_run_id"]) == (1, answered.json()["run_id"])

    # One node run alone stands for a chat turn of the user debugging it.
    versions = f"/api/v1/bots/{billing}/workflow-versions"
    version_id = (await client.get(versions, headers=alice.headers)).json()["data"][0]["id"]
    alone = await client.post(
        f"{versions}/{version_id}/nodes/say/run", json={"inputs": {}}, headers=alice.headers
    )
    assert alone.status_code == 200, alone.text
    debug = by_run(seen_sys)[alone.json()["run_id"]]
    assert set(debug) == system_value_names(RunKind.CHAT)
    assert debug["user_id"] == alice.id


def test_nodes_and_services_share_one_list_of_names() -> None:
    # Nodes read the names from the workflow layer; the catalogue sends the services' list.
    assert {v.name for v in SYSTEM_VALUES} == SYSTEM_VALUE_NAMES
    assert len(SYSTEM_VALUES) == len(SYSTEM_VALUE_NAMES)


def test_building_other_values_than_declared_is_refused() -> None:
    with pytest.raises(ValueError, match=r"missing \['files'\], not declared \['query'\]"):
        system_inputs(
            RunKind.CHAT, bot_id="b", run_id="r", user_id="u", default_model=None, query="hi"
        )
    with pytest.raises(ValueError, match=r"not declared \['owner_id'\]"):  # the runtime's
        system_inputs(
            RunKind.TOOL,
            bot_id="b",
            run_id="r",
            default_model=None,
            call_depth=1,
            caller_run_id=None,
            owner_id="mallory",
        )


async def test_the_catalogue_sends_the_declared_values(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    response = await client.get("/api/v1/node-types", headers=alice.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"data", "next_cursor", "system_values"}
    assert body["data"]
    assert body["next_cursor"] is None
    assert body["system_values"] == [
        {"name": v.name, "type": str(v.type), "description": v.description,
         "runs": sorted(str(r) for r in v.runs)}
        for v in SYSTEM_VALUES
    ]  # fmt: skip
    chat_names = [v["name"] for v in body["system_values"] if "chat" in v["runs"]]
    assert chat_names == ["bot_id", "run_id", "user_id", "owner_id", "default_model", "files"]
    tool_only = [v["name"] for v in body["system_values"] if v["runs"] == ["tool"]]
    assert tool_only == ["call_depth", "caller_run_id"]

    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    catalogue = schemas["NodeTypesPublic"]
    assert set(catalogue["required"]) == {"data", "next_cursor", "system_values"}
    value = schemas["SystemValuePublic"]
    assert set(value["required"]) == {"name", "type", "description", "runs"}
