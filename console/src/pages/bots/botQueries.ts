import { useQuery } from "@tanstack/react-query";

import { api } from "../../api/client";
import { unwrap } from "../../api/problem";

export const botQueryKey = (botId: string) => ["bots", botId] as const;

export function useBot(botId: string) {
  return useQuery({
    queryKey: botQueryKey(botId),
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/bots/{bot_id}", { params: { path: { bot_id: botId } } })),
  });
}
