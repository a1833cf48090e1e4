"""The node catalogue over HTTP: GET /api/v1/node-types and POST /api/v1/node-types/ports."""

from __future__ import annotations

import httpx

from snapagent.nodes import default_registry

from .conftest import ApiUser, assert_problem


async def test_catalogue_lists_every_registered_type(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    response = await client.get("/api/v1/node-types", headers=alice.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["data"]) == len(default_registry().type_keys)
    assert body["next_cursor"] is None
    by_type = {entry["type"]: entry for entry in body["data"]}
    assert set(by_type) == set(default_registry().type_keys)
    llm = by_type["llm"]
    assert llm["category"] == "model"
    assert llm["dynamic_ports"] is True
    assert llm["config_schema"]["properties"]["temperature"]["description"]
    assert llm["outputs"][0] == {
        "name": "text",
        "type": "string",
        "required": True,
        "default": None,
        "description": "",
    }
    assert by_type["if_else"]["branches"] == ["true", "false"]


async def test_ports_of_a_config(client: httpx.AsyncClient, alice: ApiUser) -> None:
    response = await client.post(
        "/api/v1/node-types/ports",
        json={"type": "llm", "config": {"prompt": "{{ context }} {{ question }}"}},
        headers=alice.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert [p["name"] for p in body["inputs"]] == ["context", "question", "history"]
    assert body["branches"] == []
    routed = await client.post(
        "/api/v1/node-types/ports",
        json={"type": "knowledge", "config": {"knowledge_base_ids": ["k"]},
              "error_strategy": "fail_branch"},
        headers=alice.headers,
    )  # fmt: skip
    assert routed.json()["branches"] == ["fail"]
    assert [p["name"] for p in routed.json()["outputs"]] == ["documents", "error"]


async def test_bad_configs_answer_422_with_each_field(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    response = await client.post(
        "/api/v1/node-types/ports",
        json={"type": "knowledge", "config": {"top_k": 0, "colour": "red"}},
        headers=alice.headers,
    )
    body = assert_problem(response, 422)
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"config.knowledge_base_ids", "config.top_k", "config.colour"}
    unknown = await client.post(
        "/api/v1/node-types/ports", json={"type": "teleport"}, headers=alice.headers
    )
    [error] = assert_problem(unknown, 422)["errors"]
    assert error["field"] == "type"
    assert "known types" in error["reason"]
    not_object = await client.post(
        "/api/v1/node-types/ports", json={"type": "llm", "config": [1]}, headers=alice.headers
    )
    assert assert_problem(not_object, 422)["errors"][0]["field"] == "config"


async def test_catalogue_needs_credentials(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/node-types"), 401)
    assert_problem(await client.post("/api/v1/node-types/ports", json={"type": "llm"}), 401)


async def test_openapi_documents_the_response_models(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    listed = schema["paths"]["/api/v1/node-types"]["get"]["responses"]["200"]
    assert listed["content"]["application/json"]["schema"]["$ref"].endswith("/NodeTypesPublic")
    ports = schema["paths"]["/api/v1/node-types/ports"]["post"]["responses"]
    assert ports["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/PortsPublic")
    assert "422" in ports
