"""Prometheus metrics of one app, in a registry of its own (several apps can share a process).

Series (all prefixed ``snapagent_``):

- ``http_requests_total{method,route,status}`` and ``http_request_duration_seconds{...}``:
  ``route`` is the path template (``/api/v1/bots/{bot_id}``), ``unmatched`` for 404s.
- ``workflow_runs_total{status,engine}``: engine ``v1``/``v2``.
- ``workflow_run_duration_seconds{engine,status}``, ``node_duration_seconds{node_type,status}``.
- ``llm_tokens_total{model,direction}``: direction ``input``/``output``.
- ``provider_errors_total{provider,error_class}``.

Every label has a bounded set of values, so the number of series cannot grow with use: no
label carries an id or a version number (each publish would add series forever; per-version
figures come from the execution statistics in the database), an unknown HTTP method counts as
``OTHER``, and a label whose values come from outside (model ids users type, provider and node
type names) keeps the first ``max_label_values`` values it sees and counts the rest as
``other``.

    metrics = Metrics()
    metrics.observe_http("GET", "/health", 200, 0.003)
    text = metrics.render()          # Prometheus text exposition format
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from snapagent.services.run_recorder import RunRecord

__all__ = ["CONTENT_TYPE_LATEST", "DEFAULT_MAX_LABEL_VALUES", "OTHER", "BoundedValues", "Metrics"]

DEFAULT_MAX_LABEL_VALUES = 100
OTHER = "other"
_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_RUN_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_NODE_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class BoundedValues:
    """The first ``limit`` distinct values of one label pass; later ones become ``other``.

    >>> models = BoundedValues(limit=2)
    >>> [models("a"), models("b"), models("c"), models("a")]
    ['a', 'b', 'other', 'a']
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()  # sync metrics calls may come from worker threads

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) >= self.limit:
                return OTHER
            self._seen.add(value)
        return value


class Metrics:
    """The app's metric definitions; see the module docstring."""

    def __init__(self, max_label_values: int = DEFAULT_MAX_LABEL_VALUES) -> None:
        self._model = BoundedValues(max_label_values)
        self._provider = BoundedValues(max_label_values)
        self._error_class = BoundedValues(max_label_values)
        self._node_type = BoundedValues(max_label_values)
        self._http_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
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
            "Workflow runs by final status and engine.",
            ["status", "engine"],
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
        method = method if method in _HTTP_METHODS else "OTHER"
        key = (method, route, status)  # route: a template of the app's own routes
        series = self._http_series.get(key)
        if series is None:
            # labels() validates and locks on every call: look each series up once (the keys
            # are the series' own labels, as bounded as they are).
            labels = (method, route, str(status))
            series = (self.http_requests.labels(*labels), self.http_latency.labels(*labels))
            self._http_series[key] = series
        series[0].inc()
        series[1].observe(seconds)

    def observe_run(self, record: RunRecord) -> None:
        self.workflow_runs.labels(record.status, record.engine).inc()
        self.run_latency.labels(record.engine, record.status).observe(record.elapsed_ms / 1000)
        for node in record.nodes:
            node_type = self._node_type(node.node_type)
            self.node_latency.labels(node_type, node.status).observe(node.elapsed_ms / 1000)

    def observe_tokens(self, model: str, input_tokens: int, output_tokens: int) -> None:
        model = self._model(model)
        if input_tokens:
            self.tokens.labels(model, "input").inc(input_tokens)
        if output_tokens:
            self.tokens.labels(model, "output").inc(output_tokens)

    def observe_provider_error(self, provider: str, error_class: str) -> None:
        self.provider_errors.labels(
            self._provider(provider or "unknown"), self._error_class(error_class)
        ).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
