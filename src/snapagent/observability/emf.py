"""CloudWatch embedded-metric-format (EMF) lines: ``ErrorCount`` per 5xx answer.

The deployment's alarm reads ``ErrorCount`` in namespace ``RAGBackend`` with no dimensions
(more than 10 in one minute). CloudWatch Logs extracts the metric from any log line that is a
JSON object with an ``_aws`` member, so each failed request writes one such line to stdout; the
extra members (route, status, request id) make the line searchable and are not metrics.

    emitter = EmfEmitter(namespace="RAGBackend", service="snapagent")
    emitter.error_count(status=502, route="/api/v1/chat", method="POST", request_id="ab12")
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["EmfEmitter", "error_count_document"]


def error_count_document(
    namespace: str, *, timestamp_ms: int, properties: dict[str, Any]
) -> dict[str, Any]:
    """One EMF document: metric ``ErrorCount`` = 1 (Count), published without dimensions."""
    return {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    # One empty dimension set: the metric the seed's alarm reads has none.
                    "Dimensions": [[]],
                    "Metrics": [{"Name": "ErrorCount", "Unit": "Count"}],
                }
            ],
        },
        **properties,
        "ErrorCount": 1,
    }


class EmfEmitter:
    """Writes EMF lines to ``stream`` (stdout by default, resolved at write time)."""

    def __init__(
        self,
        *,
        namespace: str,
        service: str,
        stream: Callable[[], TextIO] = lambda: sys.stdout,
    ) -> None:
        self.namespace = namespace
        self.service = service
        self.stream = stream
        self._lock = threading.Lock()

    def error_count(self, *, status: int, route: str, method: str, request_id: str | None) -> None:
        document = error_count_document(
            self.namespace,
            timestamp_ms=int(time.time() * 1000),
            properties={
                "service": self.service,
                "status": status,
                "route": route,
                "method": method,
                "request_id": request_id,
            },
        )
        line = json.dumps(document, separators=(",", ":")) + "\n"
        with self._lock:  # one whole line per error, even from several threads
            out = self.stream()
            out.write(line)
            out.flush()
