// A bot's runs, newest first, filtered by status, version, engine and trigger (users' chats or
// debug runs and replays); cursor-paged.
import { Anchor, Badge, Button, Group, Select, Table, Text } from "@mantine/core";
import { useInfiniteQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";

import { api, type Schemas } from "../../api/client";
import { unwrap } from "../../api/problem";
import { formatDateTime, formatMs } from "../../format";
import { useI18n } from "../../i18n/i18n";

type Bot = Schemas["BotPublic"];
export const STATUS_COLOR: Record<string, string> = { succeeded: "green", failed: "red", cancelled: "gray" };

export default function RunsPage({ bot }: { bot: Bot }) {
  const { t, language } = useI18n();
  const [status, setStatus] = useState<string | null>(null);
  const [engine, setEngine] = useState<string | null>(null);
  const [trigger, setTrigger] = useState<string | null>(null);
  const [version, setVersion] = useState<string>("");
  const runs = useInfiniteQuery({
    queryKey: ["runs", bot.id, status, engine, version, trigger],
    initialPageParam: null as string | null,
    queryFn: async ({ pageParam }) =>
      unwrap(
        await api.GET("/api/v1/bots/{bot_id}/workflow-executions", {
          params: {
            path: { bot_id: bot.id },
            query: {
              limit: 25,
              ...(pageParam ? { cursor: pageParam } : {}),
              ...(status ? { status } : {}),
              ...(engine ? { engine } : {}),
              ...(trigger ? { trigger } : {}),
              ...(version ? { version: Number(version) } : {}),
            },
          },
        }),
      ),
    getNextPageParam: (page) => page.next_cursor ?? undefined,
  });
  const rows = runs.data?.pages.flatMap((p) => p.data) ?? [];
  return (
    <>
      <Group mb="sm" gap="xs" wrap="wrap">
        <Select
          aria-label={t("runs.status")}
          placeholder={t("runs.status")}
          data={["succeeded", "failed", "cancelled"]}
          value={status}
          onChange={setStatus}
          clearable
          w={160}
        />
        <Select
          aria-label={t("runs.engine")}
          placeholder={t("runs.engine")}
          data={["v2", "v1"]}
          value={engine}
          onChange={setEngine}
          clearable
          w={120}
        />
        <Select
          aria-label={t("runs.trigger")}
          placeholder={t("runs.trigger")}
          data={[
            { value: "chat", label: t("runs.trigger.chat") },
            { value: "debug", label: t("runs.trigger.debug") },
          ]}
          value={trigger}
          onChange={setTrigger}
          clearable
          w={140}
          data-testid="run-filter-trigger"
        />
        <Select
          aria-label={t("runs.version")}
          placeholder={t("runs.version")}
          data={Array.from({ length: 30 }, (_, i) => String(i + 1))}
          value={version || null}
          onChange={(v) => setVersion(v ?? "")}
          clearable
          searchable
          w={120}
        />
      </Group>
      {runs.isError && <Text c="red">{String(runs.error)}</Text>}
      {rows.length === 0 && !runs.isPending ? (
        <Text c="dimmed" data-testid="run-list">
          {t("runs.empty")}
        </Text>
      ) : (
        <Table.ScrollContainer minWidth={720}>
          <Table highlightOnHover data-testid="run-list">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{t("runs.started")}</Table.Th>
                <Table.Th>{t("runs.status")}</Table.Th>
                <Table.Th>{t("runs.version")}</Table.Th>
                <Table.Th>{t("runs.engine")}</Table.Th>
                <Table.Th>{t("runs.trigger")}</Table.Th>
                <Table.Th>{t("runs.elapsed")}</Table.Th>
                <Table.Th>{t("runs.tokens")}</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {rows.map((run) => (
                <Table.Tr key={run.id}>
                  <Table.Td>
                    <Anchor component={Link} to={`/bots/${bot.id}/runs/${run.id}`} size="sm" data-testid="run-link">
                      {formatDateTime(run.started_at, language)}
                    </Anchor>
                  </Table.Td>
                  <Table.Td>
                    <Badge color={STATUS_COLOR[run.status] ?? "blue"} variant="light">
                      {run.status}
                    </Badge>
                  </Table.Td>
                  <Table.Td>{run.version_number ? `v${String(run.version_number)}` : "-"}</Table.Td>
                  <Table.Td>{run.engine}</Table.Td>
                  <Table.Td>
                    {run.trigger === "debug" ? (
                      <Badge variant="outline" color="grape" size="sm">
                        {run.rerun_of ? t("runs.replay") : t("runs.trigger.debug")}
                      </Badge>
                    ) : (
                      t("runs.trigger.chat")
                    )}
                  </Table.Td>
                  <Table.Td>{formatMs(run.elapsed_ms)}</Table.Td>
                  <Table.Td>{run.total_tokens}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {runs.hasNextPage && (
        <Button variant="default" mt="sm" loading={runs.isFetchingNextPage} onClick={() => void runs.fetchNextPage()}>
          {t("runs.more")}
        </Button>
      )}
    </>
  );
}
