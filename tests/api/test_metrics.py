"""GET /metrics after real chats, the request id header, spans per run/node, EMF lines."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from snapagent.api.app import create_app
from snapagent.db.session import Database
from snapagent.errors import ProviderError
from snapagent.observability.install import Observability
from snapagent.observability.settings import ObservabilitySettings
from snapagent.observability.tracing import Tracing
from snapagent.server_settings import ServerSettings
from snapagent.services.knowledge import KnowledgeService
from snapagent.settings import CoreSettings
from snapagent.testing import ScriptedChatModel

from .conftest import ApiUser, assert_problem, scripted_models
from .test_chat_api import CHAT, publish_bot

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def app(
    request: pytest.FixtureRequest,
    migrated_db: Database,
    server_settings: ServerSettings,
    core_settings: CoreSettings,
    api_knowledge: KnowledgeService,
) -> FastAPI:
    # EMF on: the 5xx test reads its lines from stdout.
    return create_app(
        server_settings,
        migrated_db,
        core_settings=core_settings,
        knowledge=api_knowledge,
        chat_models=scripted_models(request),
        observability=ObservabilitySettings(emf_enabled=True),
    )


def observability(app: FastAPI) -> Observability:
    bundle: Observability = app.state.snapagent.observability
    return bundle


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_name_routes_runs_nodes_tokens_and_provider_errors(
    app: FastAPI, chat_model: ScriptedChatModel, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    chat_model.enqueue("Hello there.")
    chat_model.enqueue_error(ProviderError("upstream said 500", provider="scripted"))
    chat_model.enqueue("Streamed too.")
    bot_id = await publish_bot(client, alice)

    ok = await client.post(CHAT, json={"bot_id": bot_id, "message": "hi"}, headers=alice.headers)
    assert ok.status_code == 200, ok.text
    failed = await client.post(
        CHAT, json={"bot_id": bot_id, "message": "hi"}, headers=alice.headers
    )
    assert_problem(failed, 502)
    streamed = await client.post(
        CHAT, json={"bot_id": bot_id, "message": "hi", "stream": True}, headers=alice.headers
    )
    assert "event: message" in streamed.text  # the run ran in the response's own task
    assert (await client.get(f"/api/v1/bots/{bot_id}", headers=alice.headers)).status_code == 200
    assert (await client.get("/no/such/path/12345")).status_code == 404

    samples = await scrape(client)
    http = "snapagent_http_requests_total"
    assert value(samples, http, method="POST", route=CHAT, status="200") == 2  # JSON + SSE
    assert value(samples, http, method="POST", route=CHAT, status="502") == 1
    # Route templates, never raw paths (ids would make a series per bot).
    assert value(samples, http, method="GET", route="/api/v1/bots/{bot_id}", status="200") == 1
    assert value(samples, http, method="GET", route="unmatched", status="404") == 1
    assert not any(bot_id in str(labels) for _, labels in samples)
    latency = "snapagent_http_request_duration_seconds_count"
    assert value(samples, latency, method="POST", route=CHAT, status="200") == 2

    runs = "snapagent_workflow_runs_total"
    assert value(samples, runs, status="succeeded", engine="v2") == 2
    assert value(samples, runs, status="failed", engine="v2") == 1
    nodes = "snapagent_node_duration_seconds_count"
    assert value(samples, nodes, node_type="llm", status="succeeded") == 2
    assert value(samples, nodes, node_type="llm", status="failed") == 1
    assert value(samples, nodes, node_type="start", status="succeeded") == 3
    tokens = "snapagent_llm_tokens_total"
    assert value(samples, tokens, model="scripted", direction="output") == 4  # 2 + 2 words
    assert (
        value(samples, tokens, model="scripted", direction="input")
        == 2 * ok.json()["usage"]["input_tokens"]  # the same prompt, JSON and SSE
    )
    errors = "snapagent_provider_errors_total"
    assert value(samples, errors, provider="scripted", error_class="ProviderError") == 1


async def test_metrics_can_be_disabled(
    migrated_db: Database,
    server_settings: ServerSettings,
    core_settings: CoreSettings,
    api_knowledge: KnowledgeService,
) -> None:
    app = create_app(
        server_settings,
        migrated_db,
        core_settings=core_settings,
        knowledge=api_knowledge,
        observability=ObservabilitySettings(metrics_enabled=False),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert_problem(await http.get("/metrics"), 404)
    assert "/metrics" not in app.openapi()["paths"]


async def test_request_id_is_echoed_kept_or_generated(client: httpx.AsyncClient) -> None:
    kept = await client.get("/health", headers={"X-Request-ID": "req-42.a_b"})
    assert kept.headers["x-request-id"] == "req-42.a_b"
    fresh = await client.get("/health", headers={"X-Request-ID": "bad id <script>"})
    generated = fresh.headers["x-request-id"]
    assert len(generated) == 32
    assert generated.isalnum()
    other = await client.get("/health")
    assert other.headers["x-request-id"] not in (generated, "req-42.a_b")


async def test_a_span_per_run_and_per_node(
    app: FastAPI, chat_model: ScriptedChatModel, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    exporter = InMemorySpanExporter()
    observability(app).tracing = Tracing(exporter)
    chat_model.enqueue("Traced answer.")
    bot_id = await publish_bot(client, alice)

    answer = await client.post(
        CHAT, json={"bot_id": bot_id, "message": "trace me"}, headers=alice.headers
    )
    assert answer.status_code == 200
    spans = exporter.get_finished_spans()
    (run,) = [s for s in spans if s.name == "workflow.run"]
    assert run.attributes is not None
    assert run.attributes["snapagent.run_id"] == answer.json()["run_id"]
    assert run.attributes["snapagent.engine"] == "v2"
    nodes = [s for s in spans if s.name.startswith("node ")]
    assert sorted(s.name for s in nodes) == ["node end", "node llm", "node start"]
    assert run.context is not None
    assert run.start_time is not None
    assert run.end_time is not None
    for span in nodes:
        assert span.parent is not None
        assert span.parent.span_id == run.context.span_id
        assert span.context is not None
        assert span.context.trace_id == run.context.trace_id
        assert span.start_time is not None
        assert span.end_time is not None
        assert run.start_time <= span.start_time <= span.end_time <= run.end_time


async def test_each_5xx_writes_one_emf_error_count_line(
    app: FastAPI,
    chat_model: ScriptedChatModel,
    client: httpx.AsyncClient,
    alice: ApiUser,
    capsys: pytest.CaptureFixture[str],
) -> None:
    chat_model.enqueue_error(ProviderError("upstream said 500", provider="scripted"))
    bot_id = await publish_bot(client, alice)
    capsys.readouterr()

    failed = await client.post(CHAT, json={"bot_id": bot_id, "message": "x"}, headers=alice.headers)
    assert_problem(failed, 502)
    assert (await client.get("/health")).status_code == 200

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    assert len(lines) == 1
    (line,) = lines
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "RAGBackend"
    assert directive["Metrics"] == [{"Name": "ErrorCount", "Unit": "Count"}]
    assert line["ErrorCount"] == 1
    assert line["status"] == 502
    assert line["route"] == CHAT
    assert line["request_id"] == failed.headers["x-request-id"]


async def test_series_stay_bounded_however_many_versions_are_published(
    chat_model: ScriptedChatModel, client: httpx.AsyncClient, alice: ApiUser
) -> None:
    """Each publish used to add a `bot_version` series for ever; nothing in /metrics may grow
    with the number of versions, bots or odd requests."""
    bot_id = await publish_bot(client, alice)
    versions = f"/api/v1/bots/{bot_id}/workflow-versions"

    async def publish_and_chat(rounds: int) -> None:
        for _ in range(rounds):
            draft = await client.post(versions, json={}, headers=alice.headers)
            assert draft.status_code == 201, draft.text
            published = await client.post(
                f"{versions}/{draft.json()['id']}/publish", headers=alice.headers
            )
            assert published.status_code == 200, published.text
            chat_model.enqueue("answer")
            chat = {"bot_id": bot_id, "message": "hi"}
            assert (await client.post(CHAT, json=chat, headers=alice.headers)).status_code == 200
            # A made-up method on each round: it must not become a label value of its own.
            await client.request(f"PROBE{published.json()['version_number']}", "/health")

    await publish_and_chat(3)
    await scrape(client)  # the scrape's own request series exist from here on
    after_three = len(await scrape(client))
    await publish_and_chat(12)
    samples = await scrape(client)
    assert len(samples) == after_three, "publishing more versions added series"
    runs = "snapagent_workflow_runs_total"
    assert value(samples, runs, status="succeeded", engine="v2") == 15
    assert (
        value(
            samples, "snapagent_http_requests_total", method="OTHER", route="/health", status="405"
        )
        == 15
    )
