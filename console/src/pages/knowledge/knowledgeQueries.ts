import { useQuery } from "@tanstack/react-query";

import { api } from "../../api/client";
import { unwrap } from "../../api/problem";

export const knowledgeBasesKey = ["knowledge-bases"] as const;

export function useKnowledgeBases() {
  return useQuery({
    queryKey: knowledgeBasesKey,
    queryFn: async () => unwrap(await api.GET("/api/v1/knowledge-bases")),
  });
}
