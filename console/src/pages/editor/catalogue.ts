// The node catalogue (GET /api/v1/node-types: the node types and the run-level `sys` values
// selectors may read) and the ports of a config being edited (POST /api/v1/node-types/ports),
// cached per (type, config).
import { useQuery } from "@tanstack/react-query";

import { api, type Schemas } from "../../api/client";
import { unwrap } from "../../api/problem";
import type { NodePorts, WorkflowNode } from "./graph";

export type NodeType = Schemas["NodeTypePublic"];
export type Catalogue = Schemas["NodeTypesPublic"];

export function useCatalogue() {
  return useQuery({
    queryKey: ["node-types"],
    queryFn: async () => unwrap(await api.GET("/api/v1/node-types")),
    staleTime: Infinity,
  });
}

export function catalogPorts(type: NodeType | undefined): NodePorts | undefined {
  return type ? { inputs: type.inputs, outputs: type.outputs, branches: type.branches } : undefined;
}

const cache = new Map<string, Promise<NodePorts | null>>();

/** The node's ports as validation computes them (null when its config is invalid). */
export function fetchPorts(node: WorkflowNode): Promise<NodePorts | null> {
  const errorStrategy = typeof node.error_strategy === "string" ? node.error_strategy : undefined;
  const key = JSON.stringify([node.type, node.config ?? {}, errorStrategy]);
  let found = cache.get(key);
  if (!found) {
    found = api
      .POST("/api/v1/node-types/ports", {
        body: {
          type: node.type,
          config: node.config ?? {},
          ...(errorStrategy ? { error_strategy: errorStrategy as "fail_run" } : {}),
        },
      })
      .then((result) => (result.response.ok && result.data ? result.data : null));
    cache.set(key, found);
  }
  return found;
}
