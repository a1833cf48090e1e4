// The workflow graph JSON (the server's contract) <-> React Flow nodes and edges.
//
// A node's ports become handles: `in:<port>` (targets), `out:<port>` and `branch:<name>`
// (sources), plus `control` handles for edges that carry no value. Everything the editor does
// not edit (unknown keys on nodes, edges and the graph) is carried through untouched, so
// `flowToGraph(graphToFlow(graph))` gives the same graph back (with positions added).
import type { Edge, Node, XYPosition } from "@xyflow/react";

export type Selector = (string | number)[];

export interface WorkflowNode {
  id: string;
  type: string;
  title?: string | null;
  config?: Record<string, unknown>;
  inputs?: Record<string, { selector: Selector }>;
  position?: XYPosition;
  [key: string]: unknown;
}

export interface WorkflowEdge {
  source: string;
  target: string;
  source_port?: string | null;
  target_port?: string | null;
  [key: string]: unknown;
}

export interface WorkflowGraph {
  nodes: WorkflowNode[];
  edges: WorkflowEdge[];
  [key: string]: unknown;
}

export interface Port {
  name: string;
  type: string;
  required: boolean;
  description?: string;
}

export interface NodePorts {
  inputs: Port[];
  outputs: Port[];
  branches: string[];
}

export type RunStatus = "running" | "succeeded" | "failed" | "skipped";
export type DiffMark = "added" | "changed";

export interface EditorNodeData extends Record<string, unknown> {
  /** The graph node without its position (React Flow owns that). */
  node: WorkflowNode;
  ports: NodePorts;
  problems: string[];
  runStatus?: RunStatus;
  diff?: DiffMark;
}

export type EditorNode = Node<EditorNodeData, "workflow">;
export interface EditorEdgeData extends Record<string, unknown> {
  /** Keys of the edge the editor does not edit, kept as they came. */
  extra: Record<string, unknown>;
  /** Whether the source spelled out a null port (kept so the JSON round-trips exactly). */
  nullPorts: { source: boolean; target: boolean };
}

export type EditorEdge = Edge<EditorEdgeData>;

export const CONTROL = "control";
const EMPTY_PORTS: NodePorts = { inputs: [], outputs: [], branches: [] };

export function sourceHandle(port: string | null | undefined, ports: NodePorts): string {
  if (!port) return CONTROL;
  return ports.branches.includes(port) ? `branch:${port}` : `out:${port}`;
}

export function targetHandle(port: string | null | undefined): string {
  return port ? `in:${port}` : CONTROL;
}

/** The port a handle id names (`out:text` -> `text`), or null for a control handle. */
export function handlePort(handle: string | null | undefined): string | null {
  if (!handle || handle === CONTROL) return null;
  const colon = handle.indexOf(":");
  return colon >= 0 ? handle.slice(colon + 1) : handle;
}

export function edgeId(edge: WorkflowEdge): string {
  return `${edge.source}.${edge.source_port ?? CONTROL}->${edge.target}.${edge.target_port ?? CONTROL}`;
}

export function graphToFlow(
  graph: WorkflowGraph,
  portsOf: (node: WorkflowNode) => NodePorts | undefined,
  place: (node: WorkflowNode, index: number) => XYPosition = (_, i) => ({ x: i * 260, y: 80 }),
): { nodes: EditorNode[]; edges: EditorEdge[] } {
  const portsById = new Map<string, NodePorts>();
  const nodes = graph.nodes.map((raw, index): EditorNode => {
    const { position, ...node } = raw;
    const ports = portsOf(raw) ?? EMPTY_PORTS;
    portsById.set(node.id, ports);
    return {
      id: node.id,
      type: "workflow",
      position: position ?? place(raw, index),
      data: { node, ports, problems: [] },
    };
  });
  const edges = graph.edges.map((raw): EditorEdge => {
    const { source, target, source_port, target_port, ...extra } = raw;
    return {
      id: edgeId(raw),
      source,
      target,
      sourceHandle: sourceHandle(source_port, portsById.get(source) ?? EMPTY_PORTS),
      targetHandle: targetHandle(target_port),
      data: {
        extra,
        nullPorts: { source: source_port === null, target: target_port === null },
      },
    };
  });
  return { nodes, edges };
}

export function flowToGraph(
  nodes: EditorNode[],
  edges: EditorEdge[],
  graphExtra: Record<string, unknown> = {},
): WorkflowGraph {
  return {
    ...graphExtra,
    nodes: nodes.map((n) => ({
      ...n.data.node,
      position: { x: Math.round(n.position.x), y: Math.round(n.position.y) },
    })),
    edges: edges.map((e) => {
      const edge: WorkflowEdge = { ...e.data?.extra, source: e.source, target: e.target };
      const sourcePort = handlePort(e.sourceHandle);
      const targetPort = handlePort(e.targetHandle);
      if (sourcePort !== null || e.data?.nullPorts.source) edge.source_port = sourcePort;
      if (targetPort !== null || e.data?.nullPorts.target) edge.target_port = targetPort;
      return edge;
    }),
  };
}

/** Keys of the graph object other than nodes and edges (kept as they came). */
export function graphExtra(graph: WorkflowGraph): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(graph).filter(([key]) => key !== "nodes" && key !== "edges"),
  );
}

// Port type compatibility: the server's rule (snapagent.workflow.types.fits), so a connection the
// server would refuse is refused while it is being drawn.
const WIDENS_TO = new Set(["integer>number", "documents>array[object]", "messages>array[object]"]);

export function fits(source: string, target: string): boolean {
  return (
    source === target ||
    source === "any" ||
    target === "any" ||
    WIDENS_TO.has(`${source}>${target}`)
  );
}

export interface ConnectionCheck {
  ok: boolean;
  reason?: string;
}

/** Whether an edge between these handles is valid, and if not, why (shown to the user). */
export function checkConnection(
  sourceNode: EditorNode | undefined,
  sourceHandleId: string | null | undefined,
  targetNode: EditorNode | undefined,
  targetHandleId: string | null | undefined,
  edges: EditorEdge[],
): ConnectionCheck {
  if (!sourceNode || !targetNode) return { ok: false, reason: "unknown node" };
  if (sourceNode.id === targetNode.id) return { ok: false, reason: "a node cannot feed itself" };
  const sourcePort = handlePort(sourceHandleId);
  const targetPort = handlePort(targetHandleId);
  const isBranch = sourceHandleId?.startsWith("branch:") ?? false;
  if (targetPort === null) return { ok: true };
  if (isBranch) {
    return { ok: false, reason: `branch ${sourcePort ?? ""} carries no value: connect it to the node's control handle` };
  }
  if (sourcePort === null) {
    return { ok: false, reason: `input ${targetPort} needs a value: connect an output port` };
  }
  const out = sourceNode.data.ports.outputs.find((p) => p.name === sourcePort);
  const input = targetNode.data.ports.inputs.find((p) => p.name === targetPort);
  if (!out || !input) return { ok: false, reason: "unknown port" };
  if (!fits(out.type, input.type)) {
    return {
      ok: false,
      reason: `${sourceNode.id}.${out.name} is ${out.type} but ${targetNode.id}.${input.name} expects ${input.type}`,
    };
  }
  const taken = edges.some((e) => e.target === targetNode.id && e.targetHandle === targetHandleId);
  if (taken) return { ok: false, reason: `input ${targetPort} is already connected` };
  return { ok: true };
}

/** Ids of every node upstream of `nodeId` (its ancestors), for selector pickers. */
export function upstreamOf(nodeId: string, edges: { source: string; target: string }[]): Set<string> {
  const parents = new Map<string, string[]>();
  for (const e of edges) parents.set(e.target, [...(parents.get(e.target) ?? []), e.source]);
  const seen = new Set<string>();
  const stack = [...(parents.get(nodeId) ?? [])];
  while (stack.length) {
    const id = stack.pop();
    if (id === undefined || seen.has(id)) continue;
    seen.add(id);
    stack.push(...(parents.get(id) ?? []));
  }
  return seen;
}

/** A fresh node id for `type` that no node uses yet: llm, llm_2, llm_3... */
export function freshId(type: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  if (!used.has(type)) return type;
  for (let i = 2; ; i += 1) {
    const id = `${type}_${String(i)}`;
    if (!used.has(id)) return id;
  }
}

/** Graph problems from the server, grouped by the node they name (path `nodes[3]...` too). */
export function problemsByNode(
  problems: { node_id?: string | null; path?: string; message: string }[],
  nodeIds: string[],
): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const problem of problems) {
    let id = problem.node_id ?? null;
    const match = /^nodes\[(\d+)\]/.exec(problem.path ?? "");
    if (!id && match?.[1] !== undefined) id = nodeIds[Number(match[1])] ?? null;
    if (!id) continue;
    found.set(id, [...(found.get(id) ?? []), problem.message]);
  }
  return found;
}
