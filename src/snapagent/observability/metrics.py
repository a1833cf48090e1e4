"""Prometheus metrics of one app, in a registry of its own (several apps can share a process).

Series (all prefixed ``snapagent_``):

- ``http_requests_total{method,route,status}`` and ``http_request_duration_seconds{...}``:
  ``route`` is the path template (``/api/v1/bots/{bot_id}``), ``unmatched`` for 404s.
- ``workflow_runs_total{status,bot_version,engine}``: engine ``v1``/``v2``, version ``none`` on V1.
- ``workflow_run_duration_seconds{engine,status}``, ``node_duration_seconds{node_type,status}``.
- ``llm_tokens_total{model,direction}``: direction ``input``/``output``.
- ``provider_errors_total{provider,error_class}``.

    metrics = Metrics()
    metrics.observe_http("GET", "/health", 200, 0.003)
    text = metrics.render()          # Prometheus text exposition format
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from snapagent.services.run_recorder import RunRecord

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_RUN_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_NODE_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """The app's metric definitions; see the module docstring."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "snapagent_http_requests_total",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "snapagent_http_request_duration_seconds",
            "Time to answer a request (streams: until the last byte).",
            ["method", "route", "status"],
            buckets=_HTTP_BUCKETS,
            registry=r,
        )
        self.workflow_runs = Counter(
            "snapagent_workflow_runs_total",
            "Workflow runs by final status, bot workflow version and engine.",
            ["status", "bot_version", "engine"],
            registry=r,
        )
        self.run_latency = Histogram(
            "snapagent_workflow_run_duration_seconds",
            "Duration of a workflow run.",
            ["engine", "status"],
            buckets=_RUN_BUCKETS,
            registry=r,
        )
        self.node_latency = Histogram(
            "snapagent_node_duration_seconds",
            "Duration of one node execution, by node type.",
            ["node_type", "status"],
            buckets=_NODE_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "snapagent_llm_tokens_total",
            "Tokens used by model calls, by model and direction (input/output).",
            ["model", "direction"],
            registry=r,
        )
        self.provider_errors = Counter(
            "snapagent_provider_errors_total",
            "Model provider failures, by provider and error class.",
            ["provider", "error_class"],
            registry=r,
        )

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method, route, str(status))
        self.http_requests.labels(*labels).inc()
        self.http_latency.labels(*labels).observe(seconds)

    def observe_run(self, record: RunRecord) -> None:
        version = "none" if record.version_number is None else str(record.version_number)
        self.workflow_runs.labels(record.status, version, record.engine).inc()
        self.run_latency.labels(record.engine, record.status).observe(record.elapsed_ms / 1000)
        for node in record.nodes:
            self.node_latency.labels(node.node_type, node.status).observe(node.elapsed_ms / 1000)

    def observe_tokens(self, model: str, input_tokens: int, output_tokens: int) -> None:
        if input_tokens:
            self.tokens.labels(model, "input").inc(input_tokens)
        if output_tokens:
            self.tokens.labels(model, "output").inc(output_tokens)

    def observe_provider_error(self, provider: str, error_class: str) -> None:
        self.provider_errors.labels(provider or "unknown", error_class).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
