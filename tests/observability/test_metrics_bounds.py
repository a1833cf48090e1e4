"""Labels whose values come from outside keep a bounded number of values."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from snapagent.observability.metrics import OTHER, Metrics


def series(metrics: Metrics, name: str) -> list[dict[str, str]]:
    families = text_string_to_metric_families(metrics.render().decode())
    return [s.labels for f in families for s in f.samples if s.name == name]


def test_model_ids_and_provider_errors_beyond_the_limit_count_as_other() -> None:
    metrics = Metrics(max_label_values=5)
    for i in range(500):
        metrics.observe_tokens(f"openai:made-up-{i}", 3, 2)
        metrics.observe_provider_error(f"provider-{i}", f"Error{i}")
    tokens = series(metrics, "snapagent_llm_tokens_total")
    assert len(tokens) == 2 * 6  # five models and "other", input and output each
    other = [s for s in tokens if s["model"] == OTHER]
    assert len(other) == 2
    errors = series(metrics, "snapagent_provider_errors_total")
    assert len(errors) == 6
    # A value seen before the limit keeps its own series.
    metrics.observe_tokens("openai:made-up-0", 1, 0)
    assert len(series(metrics, "snapagent_llm_tokens_total")) == 12


def test_unknown_http_methods_share_one_label_value() -> None:
    metrics = Metrics()
    for i in range(50):
        metrics.observe_http(f"X{i}", "unmatched", 405, 0.001)
    metrics.observe_http("GET", "/health", 200, 0.001)
    methods = {s["method"] for s in series(metrics, "snapagent_http_requests_total")}
    assert methods == {"OTHER", "GET"}
