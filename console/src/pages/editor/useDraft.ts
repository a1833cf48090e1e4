// The bot's draft version: loaded (or created from the published version), saved with its
// revision (optimistic concurrency: a 409 means someone saved since), published, restored.
import { useQuery, useQueryClient } from "@tanstack/react-query";

import { api } from "../../api/client";
import { unwrap } from "../../api/problem";
import type { WorkflowGraph } from "./graph";

export const versionsKey = (botId: string) => ["versions", botId] as const;

export function useVersions(botId: string) {
  return useQuery({
    queryKey: versionsKey(botId),
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/bots/{bot_id}/workflow-versions", {
          params: { path: { bot_id: botId } },
        }),
      ).data,
  });
}

export function useDraft(botId: string) {
  const queryClient = useQueryClient();
  return useQuery({
    queryKey: [...versionsKey(botId), "draft"],
    queryFn: async () => {
      const path = { bot_id: botId };
      const versions = unwrap(await api.GET("/api/v1/bots/{bot_id}/workflow-versions", { params: { path } })).data;
      const draft = versions.find((v) => v.status === "draft");
      const version = draft
        ? unwrap(
            await api.GET("/api/v1/bots/{bot_id}/workflow-versions/{version_id}", {
              params: { path: { ...path, version_id: draft.id } },
            }),
          )
        : unwrap(await api.POST("/api/v1/bots/{bot_id}/workflow-versions", { params: { path }, body: {} }));
      if (!draft) void queryClient.invalidateQueries({ queryKey: versionsKey(botId), exact: true });
      return { ...version, graph: version.graph as unknown as WorkflowGraph };
    },
    staleTime: Infinity,
  });
}
