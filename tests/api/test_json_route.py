"""Every route decodes big JSON bodies in a thread (`OffLoopJsonRoute`); the decoded body is
the same either way, and malformed JSON is still a 4xx problem."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from snapagent.api import json_route
from snapagent.api.json_route import OFF_LOOP_BYTES, OffLoopJsonRoute

from .conftest import ApiUser, assert_problem


def _api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's include_router record
        if included is not None:
            yield from _api_routes(included.routes)
        elif isinstance(route, APIRoute):
            yield route


def test_every_route_with_a_body_decodes_big_ones_off_the_event_loop(app: FastAPI) -> None:
    routes = [r for r in _api_routes(app.routes) if r.body_field is not None]
    assert len(routes) > 10
    plain = [r.path for r in routes if not isinstance(r, OffLoopJsonRoute)]
    assert plain == [], "routers must be built with route_class=OffLoopJsonRoute"


@pytest.mark.parametrize("padding", [10, 2 * OFF_LOOP_BYTES])
async def test_small_bodies_decode_in_place_and_big_ones_in_a_thread(
    client: httpx.AsyncClient, alice: ApiUser, monkeypatch: pytest.MonkeyPatch, padding: int
) -> None:
    threads: list[str] = []
    decode = json_route._decode

    def recording_decode(data: bytes) -> Any:
        threads.append(threading.current_thread().name)
        return decode(data)

    monkeypatch.setattr(json_route, "_decode", recording_decode)
    body = {"name": "bot", "description": "d" * padding}
    headers = {**alice.headers, "content-type": "application/json"}
    response = await client.post("/api/v1/bots", content=json.dumps(body), headers=headers)
    # A padded description is over its length limit: the body was decoded and then refused.
    assert response.status_code == (201 if padding < OFF_LOOP_BYTES else 422), response.text
    if padding > OFF_LOOP_BYTES:
        assert len(threads) == 1
        assert threads[0] != threading.current_thread().name  # not the event loop's thread
    else:
        assert threads == [threading.current_thread().name]  # in place, on the event loop


async def test_malformed_big_body_is_a_problem_not_a_500(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    broken = b'{"name": "' + b"x" * (2 * OFF_LOOP_BYTES)  # never closed
    headers = {**alice.headers, "content-type": "application/json"}
    response = await client.post("/api/v1/bots", content=broken, headers=headers)
    assert_problem(response, response.status_code)
    assert 400 <= response.status_code < 500
