"""Structured logs of the real app: JSON lines with request and run ids, errors at ERROR, and
no secret in them even when a provider error or a failed login happens."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from snapagent.errors import ProviderError
from snapagent.testing import ScriptedChatModel

from .conftest import PASSWORD, ApiUser, assert_problem
from .test_chat_api import CHAT, publish_bot

PROVIDER_KEY = "sk-ant-api03-" + "Zq9" * 12


def json_lines(out: str) -> list[dict[str, Any]]:
    """Every line our handler wrote; each must be a JSON object."""
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert all(isinstance(line, dict) for line in lines)
    return [line for line in lines if "_aws" not in line]


async def test_lines_are_json_with_request_and_run_ids(
    app: FastAPI,
    chat_model: ScriptedChatModel,
    client: httpx.AsyncClient,
    alice: ApiUser,
    capsys: pytest.CaptureFixture[str],
) -> None:
    chat_model.enqueue("Logged answer.")
    bot_id = await publish_bot(client, alice)
    capsys.readouterr()

    response = await client.post(
        CHAT,
        json={"bot_id": bot_id, "message": "hi"},
        headers={**alice.headers, "X-Request-ID": "trace-me-1"},
    )
    assert response.status_code == 200
    lines = json_lines(capsys.readouterr().out)
    (access,) = [line for line in lines if line["logger"] == "snapagent.access"]
    assert access["level"] == "INFO"
    assert access["request_id"] == "trace-me-1"
    assert access["run_id"] == response.json()["run_id"]
    assert access["route"] == CHAT
    assert access["status"] == 200
    assert access["method"] == "POST"
    assert all(line["request_id"] == "trace-me-1" for line in lines if line["logger"] != "httpx")


async def test_errors_are_logged_at_error_with_their_request_id(
    app: FastAPI, client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    async def boom() -> None:
        raise RuntimeError("kaput")

    app.add_api_route("/boom", boom)
    capsys.readouterr()
    response = await client.get("/boom", headers={"X-Request-ID": "boom-1"})
    assert_problem(response, 500)
    lines = json_lines(capsys.readouterr().out)
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert {line["logger"] for line in errors} == {"snapagent.api.errors", "snapagent.access"}
    assert all(line["request_id"] == "boom-1" for line in errors)
    (unhandled,) = [line for line in errors if line["logger"] == "snapagent.api.errors"]
    assert "RuntimeError: kaput" in unhandled["exception"]


async def test_no_secret_reaches_the_logs(
    app: FastAPI,
    chat_model: ScriptedChatModel,
    client: httpx.AsyncClient,
    alice: ApiUser,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    created = await client.post("/api/v1/api-keys", json={"name": "ci"}, headers=alice.headers)
    api_key = created.json()["key"]
    bot_id = await publish_bot(client, alice)
    capsys.readouterr()

    # A provider error that echoes credentials (as some SDK messages do).
    chat_model.enqueue_error(
        ProviderError(
            f"401 from upstream: key {PROVIDER_KEY} / bearer {api_key} / {alice.token}",
            provider="scripted",
        )
    )
    failed = await client.post(
        CHAT,
        json={"bot_id": bot_id, "message": "hi"},
        headers={"Authorization": f"Bearer {api_key}"},
    )
    assert_problem(failed, 502)
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": alice.email, "password": PASSWORD + "x"}
    )
    assert_problem(wrong, 401)
    bad_token = await client.get("/api/v1/bots", headers={"Authorization": "Bearer eyJ.broken"})
    assert_problem(bad_token, 401)

    out = capsys.readouterr().out
    lines = json_lines(out)
    assert any(line["status"] == 502 for line in lines if line["logger"] == "snapagent.access")
    assert any("[redacted]" in line["message"] for line in lines)  # the provider error's line
    for secret in (PROVIDER_KEY, api_key, alice.token, PASSWORD, "test-secret-"):
        assert secret not in out
        assert secret not in caplog.text  # the filter rewrites the record itself
