"""The node catalogue: every node type with its config JSON Schema and ports.

Editors build their palette and config forms from ``GET /api/v1/node-types`` and ask
``POST /api/v1/node-types/ports`` for the ports of the config being edited.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError

from snapagent.api.deps import AppStateDep, CurrentUser
from snapagent.api.json_route import OffLoopJsonRoute
from snapagent.api.schemas.common import problem_responses
from snapagent.api.schemas.node_types import (
    NodeTypePublic,
    NodeTypesPublic,
    PortPublic,
    PortsPublic,
    PortsRequest,
    SystemValuePublic,
)
from snapagent.services.graph_limits import default_graph_limits
from snapagent.services.system_values import SYSTEM_VALUES
from snapagent.workflow.catalogue import NodeConfigError, describe_registry, node_ports
from snapagent.workflow.limits import json_depth_problem
from snapagent.workflow.schema import NodePortSchema

router = APIRouter(
    route_class=OffLoopJsonRoute,
    prefix="/api/v1/node-types",
    tags=["node-types"],
    responses=problem_responses(401, 422),
)


def _ports(schema: NodePortSchema) -> PortsPublic:
    return PortsPublic(
        inputs=[PortPublic.model_validate(p.model_dump(mode="json")) for p in schema.inputs],
        outputs=[PortPublic.model_validate(p.model_dump(mode="json")) for p in schema.outputs],
        branches=list(schema.branches),
    )


_SYSTEM_VALUES = [
    SystemValuePublic(name=v.name, type=v.type, description=v.description, runs=sorted(v.runs))
    for v in SYSTEM_VALUES
]


@router.get("", summary="Every node type: config JSON Schema, ports, category; the sys values")
async def list_node_types(user: CurrentUser, state: AppStateDep) -> NodeTypesPublic:
    """The node catalogue: every node type with its config JSON Schema, default config, ports and
    palette category; and the run-level values (`sys.*`) selectors may read, with the runs that
    get each."""
    data = [
        NodeTypePublic.model_validate(e.to_dict()) for e in describe_registry(state.node_registry)
    ]
    # The whole catalogue, one page.
    return NodeTypesPublic(data=data, next_cursor=None, system_values=_SYSTEM_VALUES)


@router.post("/ports", summary="The ports of one node config (as validation computes them)")
async def ports_of_config(body: PortsRequest, user: CurrentUser, state: AppStateDep) -> PortsPublic:
    """The ports a node of this type with this config has, computed exactly as validation does (for
    editors of dynamic-port nodes)."""
    max_depth = default_graph_limits().max_depth
    deep = json_depth_problem(body.config, max_depth)
    if deep is not None:
        message = f"config.{deep} is nested more than {max_depth} levels deep"
        raise RequestValidationError(
            [{"loc": ("body", "config", *deep.split(".")), "msg": message, "type": "too_deep"}]
        )
    try:
        # A config's ports can mean parsing its templates: CPU work, kept off the event loop.
        schema = await asyncio.to_thread(
            node_ports,
            state.node_registry,
            body.type,
            body.config,
            error_strategy=body.error_strategy,
        )
    except NodeConfigError as exc:
        # The same 422 shape as any invalid request body: one field problem per config error.
        raise RequestValidationError(
            [
                {"loc": ("body", *p.path.split(".")), "msg": p.message, "type": p.code}
                for p in exc.problems
            ]
        ) from None
    return _ports(schema)
