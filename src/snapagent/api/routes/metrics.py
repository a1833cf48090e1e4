"""``GET /metrics``: the app's Prometheus metrics as text.

Unauthenticated, like ``/health``: scrapers carry no user credentials. It exposes counts and
latencies only (route templates, statuses, node types, model names - no ids, no content). Keep
it off the public internet: serve it on a private listener, block ``/metrics`` at the load
balancer, or turn it off with ``SNAPAGENT_METRICS_ENABLED=false`` (then it is a 404).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from snapagent.api.deps import AppStateDep
from snapagent.api.json_route import OffLoopJsonRoute
from snapagent.errors import NotFoundError
from snapagent.observability.metrics import CONTENT_TYPE_LATEST

__all__ = ["router"]

router = APIRouter(route_class=OffLoopJsonRoute, tags=["health"])


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    # Operational, not part of the API: kept out of the OpenAPI document (and its sweeps).
    include_in_schema=False,
)
async def metrics(state: AppStateDep) -> Response:
    bundle = state.observability
    if not bundle.settings.metrics_enabled:
        raise NotFoundError("metrics are disabled (SNAPAGENT_METRICS_ENABLED=false)")
    return Response(bundle.metrics.render(), media_type=CONTENT_TYPE_LATEST)
