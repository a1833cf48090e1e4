"""The EMF document follows the CloudWatch embedded metric format specification."""

from __future__ import annotations

import io
import json
import time

from snapagent.observability.emf import EmfEmitter


def test_error_count_line_matches_the_emf_spec() -> None:
    out = io.StringIO()
    emitter = EmfEmitter(namespace="RAGBackend", service="snapagent", stream=lambda: out)
    before = int(time.time() * 1000)
    emitter.error_count(status=503, route="/api/v1/chat", method="POST", request_id="r1")
    emitter.error_count(status=500, route="unmatched", method="GET", request_id=None)

    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # one JSON object per line, nothing before or after it
    document = json.loads(lines[0])
    metadata = document["_aws"]
    assert set(metadata) == {"Timestamp", "CloudWatchMetrics"}
    assert isinstance(metadata["Timestamp"], int)
    assert metadata["Timestamp"] >= before
    (directive,) = metadata["CloudWatchMetrics"]
    assert set(directive) == {"Namespace", "Dimensions", "Metrics"}
    assert directive["Namespace"] == "RAGBackend"
    # Every dimension set is a list of root member names (here one empty set: no dimensions,
    # which is what the deployment's alarm on ErrorCount reads).
    assert directive["Dimensions"] == [[]]
    for dimension_set in directive["Dimensions"]:
        assert all(isinstance(document[name], str) for name in dimension_set)
    assert directive["Metrics"] == [{"Name": "ErrorCount", "Unit": "Count"}]
    # Each metric's value is a number member of the root node.
    assert document["ErrorCount"] == 1
    assert (document["status"], document["route"], document["request_id"]) == (
        503,
        "/api/v1/chat",
        "r1",
    )
