import { describe, expect, it } from "vitest";

import {
  checkConnection,
  fits,
  flowToGraph,
  freshId,
  graphExtra,
  graphToFlow,
  problemsByNode,
  upstreamOf,
  type NodePorts,
  type WorkflowGraph,
  type WorkflowNode,
} from "./graph";

const PORTS: Record<string, NodePorts> = {
  start: {
    inputs: [],
    outputs: [
      { name: "query", type: "string", required: true },
      { name: "history", type: "messages", required: true },
    ],
    branches: [],
  },
  knowledge: {
    inputs: [{ name: "query", type: "string", required: true }],
    outputs: [{ name: "documents", type: "documents", required: true }],
    branches: [],
  },
  llm: {
    inputs: [
      { name: "query", type: "any", required: true },
      { name: "context", type: "any", required: false },
      { name: "count", type: "number", required: false },
    ],
    outputs: [
      { name: "text", type: "string", required: true },
      { name: "usage", type: "object", required: true },
    ],
    branches: [],
  },
  if_else: {
    inputs: [{ name: "value", type: "any", required: false }],
    outputs: [],
    branches: ["true", "false"],
  },
  end: { inputs: [{ name: "answer", type: "any", required: true }], outputs: [], branches: [] },
};
const portsOf = (node: WorkflowNode) => PORTS[node.type];

// The default graph of a new bot with a knowledge base, plus a branch and editor extras.
const GRAPH: WorkflowGraph = {
  nodes: [
    { id: "start", type: "start", title: "Start", config: {}, position: { x: 0, y: 0 } },
    {
      id: "knowledge",
      type: "knowledge",
      title: "Knowledge retrieval",
      config: { knowledge_base_ids: ["kb1"], top_k: 4 },
      position: { x: 260, y: 0 },
    },
    {
      id: "llm",
      type: "llm",
      title: "Answer",
      config: { system_prompt: "s", prompt: "{{ context }} {{ query }}" },
      inputs: { count: { selector: ["sys", "turn"] } },
      timeout_s: 30,
      retry: { max_retries: 2 },
      position: { x: 520, y: 0 },
      note: "kept",
    },
    { id: "route", type: "if_else", config: { cases: [] }, position: { x: 780, y: 0 } },
    { id: "end", type: "end", config: { outputs: ["answer"] }, position: { x: 1040, y: 0 } },
  ],
  edges: [
    { source: "start", source_port: "query", target: "knowledge", target_port: "query" },
    { source: "start", source_port: "query", target: "llm", target_port: "query" },
    { source: "knowledge", source_port: "documents", target: "llm", target_port: "context" },
    { source: "llm", source_port: "text", target: "end", target_port: "answer", label: "x" },
    { source: "route", source_port: "true", target: "end" },
    { source: "llm", target: "route", target_port: null },
  ],
  conversation_variables: [{ name: "topic", type: "string" }],
};

describe("graph <-> flow", () => {
  it("round-trips a graph exactly, unknown keys included", () => {
    const { nodes, edges } = graphToFlow(GRAPH, portsOf);
    expect(flowToGraph(nodes, edges, graphExtra(GRAPH))).toEqual(GRAPH);
  });

  it("maps ports to handles: outputs, branches, inputs and control", () => {
    const { edges } = graphToFlow(GRAPH, portsOf);
    expect(edges.map((e) => [e.sourceHandle, e.targetHandle])).toEqual([
      ["out:query", "in:query"],
      ["out:query", "in:query"],
      ["out:documents", "in:context"],
      ["out:text", "in:answer"],
      ["branch:true", "control"],
      ["control", "control"],
    ]);
    expect(new Set(edges.map((e) => e.id)).size).toBe(edges.length);
  });

  it("places nodes without a position and writes rounded positions back", () => {
    const graph: WorkflowGraph = {
      nodes: [{ id: "a", type: "start" }, { id: "b", type: "end" }],
      edges: [],
    };
    const { nodes } = graphToFlow(graph, portsOf, (_, i) => ({ x: i * 100.4, y: 7.6 }));
    expect(nodes.map((n) => n.position)).toEqual([
      { x: 0, y: 7.6 },
      { x: 100.4, y: 7.6 },
    ]);
    const back = flowToGraph(nodes, []);
    expect(back.nodes.map((n) => n.position)).toEqual([
      { x: 0, y: 8 },
      { x: 100, y: 8 },
    ]);
    expect(back.nodes[0]).toEqual({ id: "a", type: "start", position: { x: 0, y: 8 } });
  });

  it("builds the start -> knowledge -> llm -> end chain from drawn connections", () => {
    const { nodes } = graphToFlow({ nodes: GRAPH.nodes, edges: [] }, portsOf);
    const drawn = [
      ["start", "out:query", "knowledge", "in:query"],
      ["knowledge", "out:documents", "llm", "in:context"],
      ["llm", "out:text", "end", "in:answer"],
    ].map(([source, sourceHandle, target, targetHandle]) => ({
      id: `${String(source)}-${String(target)}`,
      source: source ?? "",
      sourceHandle,
      target: target ?? "",
      targetHandle,
    }));
    expect(flowToGraph(nodes, drawn).edges).toEqual([
      { source: "start", source_port: "query", target: "knowledge", target_port: "query" },
      { source: "knowledge", source_port: "documents", target: "llm", target_port: "context" },
      { source: "llm", source_port: "text", target: "end", target_port: "answer" },
    ]);
  });
});

describe("connections", () => {
  const { nodes, edges } = graphToFlow(GRAPH, portsOf);
  const node = (id: string) => nodes.find((n) => n.id === id);

  it("follows the server's type rule", () => {
    expect(fits("integer", "number")).toBe(true);
    expect(fits("documents", "array[object]")).toBe(true);
    expect(fits("string", "any")).toBe(true);
    expect(fits("number", "integer")).toBe(false);
    expect(fits("object", "string")).toBe(false);
  });

  it("refuses a type mismatch with the reason", () => {
    const check = checkConnection(node("llm"), "out:usage", node("knowledge"), "in:query", []);
    expect(check).toEqual({
      ok: false,
      reason: "llm.usage is object but knowledge.query expects string",
    });
  });

  it("refuses a second edge into one input, a branch into a value port, a self loop", () => {
    expect(checkConnection(node("start"), "out:query", node("llm"), "in:query", edges).reason).toBe(
      "input query is already connected",
    );
    expect(checkConnection(node("route"), "branch:true", node("llm"), "in:count", edges).ok).toBe(false);
    expect(checkConnection(node("llm"), "out:text", node("llm"), "in:context", edges).ok).toBe(false);
  });

  it("accepts a compatible value edge and any control edge", () => {
    expect(checkConnection(node("start"), "out:query", node("end"), "in:answer", []).ok).toBe(true);
    expect(checkConnection(node("route"), "branch:false", node("end"), "control", edges).ok).toBe(true);
  });
});

describe("helpers", () => {
  it("finds every upstream node", () => {
    expect([...upstreamOf("llm", GRAPH.edges)].sort()).toEqual(["knowledge", "start"]);
    expect(upstreamOf("start", GRAPH.edges).size).toBe(0);
  });

  it("makes fresh ids", () => {
    expect(freshId("llm", ["start"])).toBe("llm");
    expect(freshId("llm", ["llm", "llm_2"])).toBe("llm_3");
  });

  it("groups problems by node id or node path", () => {
    const grouped = problemsByNode(
      [
        { node_id: "llm", message: "a" },
        { path: "nodes[1].config.top_k", message: "b" },
        { path: "edges[0]", message: "c" },
      ],
      ["start", "knowledge", "llm"],
    );
    expect(Object.fromEntries(grouped)).toEqual({ llm: ["a"], knowledge: ["b"] });
  });
});
