"""Messages a user can act on: each says what is wrong and what to send instead (their text is
the contract here, so these tests assert it)."""

from __future__ import annotations

import httpx
import pytest

from .conftest import ApiUser, assert_problem


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Wording does not depend on the database: SQLite only here."""
    return sqlite_url


async def _bot(client: httpx.AsyncClient, user: ApiUser) -> str:
    response = await client.post("/api/v1/bots", json={"name": "b"}, headers=user.headers)
    assert response.status_code == 201, response.text
    bot_id: str = response.json()["id"]
    return bot_id


@pytest.mark.parametrize("size", ["small", "big"])  # decoded on the loop / in a thread
async def test_invalid_json_says_line_and_column_and_to_send_json(
    client: httpx.AsyncClient, alice: ApiUser, size: str
) -> None:
    padding = " " * (70_000 if size == "big" else 0)
    body = '{\n  "name": "b",' + padding + '\n  "description": nope\n}'
    response = await client.post(
        "/api/v1/bots",
        content=body.encode(),
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    problem = assert_problem(response, 422)
    assert problem["errors"] == [
        {"field": "body", "reason": "not valid JSON at line 3, column 18: Expecting value"}
    ]
    assert problem["detail"].startswith("the request body must be JSON;")
    assert "Content-Type: application/json" in problem["detail"]


async def test_a_body_that_is_not_utf8_is_reported_where_it_breaks(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    response = await client.post(
        "/api/v1/bots",
        content=b'{"name": "caf\xe9"}',
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    problem = assert_problem(response, 422)
    assert problem["errors"] == [
        {
            "field": "body",
            "reason": "not valid JSON at line 1, column 14: the body is not UTF-8 text",
        }
    ]


@pytest.mark.parametrize("path", ["/api/v1/bots", "/api/v1/chat", "/bots/{bot}/workflow"])
async def test_a_form_encoded_body_is_told_to_send_json(
    client: httpx.AsyncClient, alice: ApiUser, path: str
) -> None:
    if "{bot}" in path:  # a route whose body is any JSON object (the V1 graph)
        path = "/api/v1" + path.format(bot=await _bot(client, alice))
        response = await client.put(path, data={"nodes": "x"}, headers=alice.headers)
    else:
        response = await client.post(path, data={"name": "b"}, headers=alice.headers)
    problem = assert_problem(response, 422)
    assert problem["errors"] == [
        {
            "field": "body",
            "reason": "the body is not JSON: send a JSON document with Content-Type: "
            "application/json",
        }
    ]
    assert "not a form or plain text" in problem["detail"]
    assert "valid dictionary" not in response.text


@pytest.mark.parametrize(
    ("session_id", "named"),
    [("세션-1", "'세'"), ("a b", "' '"), ("tab\there", "U+0009")],
)
async def test_a_refused_session_id_names_the_character(
    client: httpx.AsyncClient, alice: ApiUser, session_id: str, named: str
) -> None:
    bot = await _bot(client, alice)
    response = await client.post(
        "/api/v1/chat",
        json={"bot_id": bot, "message": "hi", "session_id": session_id},
        headers=alice.headers,
    )
    problem = assert_problem(response, 422)
    assert problem["detail"] == (
        "session_id may contain only ASCII letters A-Z and a-z, digits 0-9 and . _ : -; "
        f"{named} is not one of them"
    )
    assert problem["errors"] == [{"field": "session_id", "reason": problem["detail"]}]


async def test_a_stale_revision_does_not_blame_someone_else(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    bot = await _bot(client, alice)
    base = f"/api/v1/bots/{bot}/workflow-versions"
    draft = (await client.get(base, headers=alice.headers)).json()["data"][0]
    graph = (await client.get(f"{base}/{draft['id']}", headers=alice.headers)).json()["graph"]
    for revision in (1, 1):  # the same user saving twice from revision 1 (two tabs)
        response = await client.put(
            f"{base}/{draft['id']}",
            json={"graph": graph, "revision": revision},
            headers=alice.headers,
        )
    problem = assert_problem(response, 409)
    assert problem["detail"] == (
        "the draft was saved again after revision 1, which you edited (it is now at revision 2: "
        "saved from another tab, client or editor); reload it and apply your change again"
    )
    assert "someone else" not in problem["detail"]
