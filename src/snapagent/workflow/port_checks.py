"""Port-level checks of a graph: edges (nodes, ports, types, branch ports), selector mappings
and required inputs. Each adds `ValidationProblem`s to the `GraphAnalysis` it is given; the
structural checks (cycles, reachability, exclusive bindings) are in `validation`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from snapagent.workflow.conversation import CONVERSATION_NODE_ID

if TYPE_CHECKING:
    from snapagent.workflow.schema import NodePortSchema, ValueSelector
    from snapagent.workflow.validation import GraphAnalysis

__all__ = ["check_edges", "check_mappings", "check_required_inputs", "node_ids"]


def node_ids(a: GraphAnalysis) -> set[str]:
    return {n.id for n in a.graph.nodes}


def check_edges(a: GraphAnalysis) -> None:
    ids = node_ids(a)
    for j, edge in enumerate(a.graph.edges):
        where: dict[str, Any] = {"edge_index": j}
        for end_name in ("source", "target"):
            node_id = getattr(edge, end_name)
            if node_id not in ids:
                a.add(
                    "unknown_node",
                    f"edge {edge.describe()}: no node with id {node_id!r}",
                    path=f"edges[{j}].{end_name}",
                    **where,
                )
        src_schema = a.schemas.get(edge.source)
        dst_schema = a.schemas.get(edge.target)
        src_port = None
        if src_schema is not None and edge.source_port is not None:
            src_port = src_schema.output(edge.source_port)
            is_branch = edge.source_port in src_schema.branches
            if src_port is None and not is_branch:
                a.add(
                    "unknown_port",
                    f"edge {edge.describe()}: node {edge.source!r} has no output "
                    f"{edge.source_port!r}; its outputs: {src_schema.describe_outputs()}",
                    node_id=edge.source,
                    path=f"edges[{j}].source_port",
                    **where,
                )
            if is_branch and edge.target_port is not None:
                a.add(
                    "branch_port_value",
                    f"edge {edge.describe()}: branch port {edge.source_port!r} carries no value; "
                    "use a control edge (no target_port) and read data by selector",
                    node_id=edge.source,
                    path=f"edges[{j}].target_port",
                    **where,
                )
        if edge.target_port is not None and edge.source_port is None:
            a.add(
                "missing_source_port",
                f"edge {edge.describe()}: an edge into port {edge.target_port!r} needs a "
                "source_port",
                node_id=edge.target,
                path=f"edges[{j}].source_port",
                **where,
            )
        if dst_schema is not None and edge.target_port is not None:
            dst_port = dst_schema.input(edge.target_port)
            if dst_port is None:
                a.add(
                    "unknown_port",
                    f"edge {edge.describe()}: node {edge.target!r} has no input "
                    f"{edge.target_port!r}; its inputs: {dst_schema.describe_inputs()}",
                    node_id=edge.target,
                    path=f"edges[{j}].target_port",
                    **where,
                )
            elif src_port is not None and not src_port.type.fits(dst_port.type):
                a.add(
                    "type_mismatch",
                    f"edge {edge.describe()}: output {edge.source_port!r} is "
                    f"{src_port.type.value} but input {edge.target_port!r} expects "
                    f"{dst_port.type.value}",
                    node_id=edge.target,
                    path=f"edges[{j}]",
                    **where,
                )


def check_mappings(a: GraphAnalysis) -> None:
    ids = node_ids(a)
    for i, node in enumerate(a.graph.nodes):
        schema = a.schemas.get(node.id)
        for port, mapping in node.inputs.items():
            path = f"nodes[{i}].inputs.{port}"
            sel = mapping.selector
            if schema is not None and schema.input(port) is None:
                a.add(
                    "unknown_port",
                    f"node {node.id!r} has no input {port!r}; its inputs: "
                    f"{schema.describe_inputs()}",
                    node_id=node.id,
                    path=path,
                )
                continue
            if sel.is_sys:
                continue
            if sel.node_id == CONVERSATION_NODE_ID:
                _check_conversation_read(a, node.id, port, sel, schema, path)
                continue
            if sel.node_id in ids:
                src_schema = a.schemas.get(sel.node_id)
            else:
                # Inside a container's body: the container's scope values and outer nodes.
                src_schema = a.scope.source(sel.node_id) if a.scope is not None else None
                if src_schema is None and not (a.scope is not None and a.scope.open):
                    a.add(
                        "unknown_node",
                        f"node {node.id!r} input {port!r}: selector {sel} names no node",
                        node_id=node.id,
                        path=f"{path}.selector",
                    )
                    continue
                a.external_refs.add(sel.node_id)
            if src_schema is None:
                continue
            src_port = src_schema.output(sel.port)
            if src_port is None:
                a.add(
                    "unknown_port",
                    f"node {node.id!r} input {port!r}: node {sel.node_id!r} has no output "
                    f"{sel.port!r}; its outputs: {src_schema.describe_outputs()}",
                    node_id=node.id,
                    path=f"{path}.selector",
                )
                continue
            dst_port = schema.input(port) if schema is not None else None
            if dst_port is not None and not sel.path and not src_port.type.fits(dst_port.type):
                a.add(
                    "type_mismatch",
                    f"node {node.id!r} input {port!r} expects {dst_port.type.value} but "
                    f"{sel} is {src_port.type.value}",
                    node_id=node.id,
                    path=f"{path}.selector",
                )


def _check_conversation_read(
    a: GraphAnalysis,
    node_id: str,
    port: str,
    sel: ValueSelector,
    schema: NodePortSchema | None,
    path: str,
) -> None:
    variable = a.conversation.get(sel.port)
    if variable is None:
        declared = ", ".join(sorted(a.conversation)) or "none"
        a.add(
            "unknown_conversation_variable",
            f"node {node_id!r} input {port!r}: no conversation variable {sel.port!r} "
            f"(declared: {declared})",
            node_id=node_id,
            path=f"{path}.selector",
        )
        return
    wanted = schema.input(port) if schema is not None else None
    if wanted is not None and not sel.path and not variable.type.fits(wanted.type):
        a.add(
            "type_mismatch",
            f"node {node_id!r} input {port!r} expects {wanted.type.value} but {sel} is "
            f"{variable.type.value}",
            node_id=node_id,
            path=f"{path}.selector",
        )


def check_required_inputs(a: GraphAnalysis) -> None:
    fed: dict[str, set[str]] = {}
    for edge in a.graph.edges:
        if edge.target_port is not None:
            fed.setdefault(edge.target, set()).add(edge.target_port)
    for i, node in enumerate(a.graph.nodes):
        schema = a.schemas.get(node.id)
        if schema is None:
            continue
        bound = fed.get(node.id, set())
        for port in schema.inputs:
            has_mapping = port.name in node.inputs
            if port.name in bound and has_mapping:
                a.add(
                    "conflicting_inputs",
                    f"node {node.id!r} input {port.name!r} has both an edge and a selector "
                    "mapping; keep one",
                    node_id=node.id,
                    path=f"nodes[{i}].inputs.{port.name}",
                )
            unbound = port.name not in bound and not has_mapping
            if port.required and not port.has_default and unbound:
                a.add(
                    "missing_required_input",
                    f"node {node.id!r} ({node.type}) needs input {port.describe()}: "
                    "connect an edge to it or map it with a selector",
                    node_id=node.id,
                    path=f"nodes[{i}].inputs.{port.name}",
                )
