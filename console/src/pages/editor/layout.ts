// Auto-layout: left to right layers (dagre), sized for the node cards.
import dagre from "@dagrejs/dagre";

import type { EditorEdge, EditorNode } from "./graph";

const WIDTH = 220;
const HEIGHT = 120;

export function autoLayout(nodes: EditorNode[], edges: EditorEdge[]): EditorNode[] {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 40, ranksep: 80 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) {
    g.setNode(node.id, {
      width: node.measured?.width ?? WIDTH,
      height: node.measured?.height ?? HEIGHT,
    });
  }
  for (const edge of edges) g.setEdge(edge.source, edge.target);
  dagre.layout(g);
  return nodes.map((node) => {
    const placed = g.node(node.id) as { x: number; y: number };
    const width = node.measured?.width ?? WIDTH;
    const height = node.measured?.height ?? HEIGHT;
    return { ...node, position: { x: placed.x - width / 2, y: placed.y - height / 2 } };
  });
}
