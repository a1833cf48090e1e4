// One run: its summary, a waterfall of node timings, and each node's inputs, outputs, error,
// retries and tokens as recorded; "Replay from this node" reruns it from a top-level node
// (upstream nodes reuse their recorded outputs) on the version it ran or on the current draft.
import { Accordion, Alert, Anchor, Badge, Box, Button, Code, Group, Paper, SimpleGrid, Stack, Text, Title } from "@mantine/core";
import { useMutation, useQuery } from "@tanstack/react-query";
import { Link, useNavigate, useParams } from "react-router";

import { api, type Schemas } from "../../api/client";
import { describeError, unwrap } from "../../api/problem";
import { useVersions } from "../editor/useDraft";
import { QueryState } from "../../components/QueryState";
import { formatDateTime, formatMs } from "../../format";
import { useI18n } from "../../i18n/i18n";
import { STATUS_COLOR } from "./RunsPage";

type Bot = Schemas["BotPublic"];
// What the timeline reads of a node execution (any shape of the API's record that has these).
type NodeExecution = Pick<
  Schemas["NodeExecutionPublic"],
  "node_id" | "index" | "title" | "status" | "started_at" | "elapsed_ms"
>;

function Waterfall({ nodes, start, total }: { nodes: NodeExecution[]; start: number; total: number }) {
  const span = Math.max(total, 1);
  return (
    <Stack gap={4} data-testid="run-waterfall">
      {nodes.map((node) => {
        const begin = node.started_at ? new Date(node.started_at).getTime() - start : 0;
        const left = Math.min(100, Math.max(0, (begin / span) * 100));
        const width = Math.max(0.8, Math.min(100 - left, (node.elapsed_ms / span) * 100));
        return (
          <Group key={`${node.node_id}-${String(node.index)}`} gap="xs" wrap="nowrap">
            <Text size="xs" w={140} truncate>
              {node.title ?? node.node_id}
            </Text>
            <Box style={{ flex: 1, position: "relative", height: 14, background: "var(--mantine-color-gray-1)" }}>
              <Box
                style={{
                  position: "absolute",
                  left: `${String(left)}%`,
                  width: `${String(width)}%`,
                  top: 0,
                  bottom: 0,
                  background: `var(--mantine-color-${STATUS_COLOR[node.status] ?? "blue"}-5)`,
                }}
                aria-label={`${node.node_id} ${formatMs(node.elapsed_ms)}`}
              />
            </Box>
            <Text size="xs" w={70} ta="right">
              {formatMs(node.elapsed_ms)}
            </Text>
          </Group>
        );
      })}
    </Stack>
  );
}

function Json({ value }: { value: unknown }) {
  return (
    <Code block style={{ maxHeight: 240, overflow: "auto", whiteSpace: "pre-wrap" }}>
      {JSON.stringify(value, null, 2)}
    </Code>
  );
}

export default function RunPage({ bot }: { bot: Bot }) {
  const { t, language } = useI18n();
  const { runId = "" } = useParams();
  const navigate = useNavigate();
  const versions = useVersions(bot.id);
  const draftId = versions.data?.find((v) => v.status === "draft")?.id;
  const replay = useMutation({
    mutationFn: async ({ nodeId, onDraft }: { nodeId: string; onDraft: boolean }) =>
      unwrap(
        await api.POST("/api/v1/bots/{bot_id}/workflow-executions/{run_id}/rerun", {
          params: { path: { bot_id: bot.id, run_id: runId } },
          body: { from_node_id: nodeId, ...(onDraft && draftId ? { version_id: draftId } : {}) },
        }),
      ),
    // Asked without "stream": the JSON answer (the schema also lists the event stream).
    onSuccess: (answer) => {
      if (typeof answer !== "string") void navigate(`/bots/${bot.id}/runs/${answer.run_id}`);
    },
  });
  const run = useQuery({
    queryKey: ["run", bot.id, runId],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/bots/{bot_id}/workflow-executions/{run_id}", {
          params: { path: { bot_id: bot.id, run_id: runId } },
        }),
      ),
  });
  return (
    <QueryState query={run}>
      {(detail) => (
        <Stack data-testid="run-detail">
          <Anchor component={Link} to={`/bots/${bot.id}/runs`} size="sm">
            ← {t("bot.runs")}
          </Anchor>
          <Group justify="space-between">
            <Title order={2} size="h3">
              {t("runs.run")} {detail.id.slice(0, 8)}
            </Title>
            <Badge color={STATUS_COLOR[detail.status] ?? "blue"} size="lg" variant="light">
              {detail.status}
            </Badge>
          </Group>
          <SimpleGrid cols={{ base: 2, sm: 4 }}>
            <Paper withBorder p="xs">
              <Text size="xs" c="dimmed">{t("runs.started")}</Text>
              <Text size="sm">{formatDateTime(detail.started_at, language)}</Text>
            </Paper>
            <Paper withBorder p="xs">
              <Text size="xs" c="dimmed">{t("runs.elapsed")}</Text>
              <Text size="sm">{formatMs(detail.elapsed_ms)}</Text>
            </Paper>
            <Paper withBorder p="xs">
              <Text size="xs" c="dimmed">{t("runs.version")}</Text>
              <Text size="sm">
                {detail.version_number ? `v${String(detail.version_number)}` : t("stats.draft")} · {detail.engine}
                {detail.trigger === "debug" ? ` · ${t("runs.trigger.debug")}` : ""}
              </Text>
            </Paper>
            <Paper withBorder p="xs">
              <Text size="xs" c="dimmed">{t("runs.tokens")}</Text>
              <Text size="sm">{detail.input_tokens} → {detail.output_tokens}</Text>
            </Paper>
          </SimpleGrid>
          {detail.rerun_of && (
            <Text size="sm" data-testid="run-replay-of">
              {t("runs.replayOf", { node: detail.rerun_from_node ?? "?" })}{" "}
              <Anchor component={Link} to={`/bots/${bot.id}/runs/${detail.rerun_of}`}>
                {detail.rerun_of.slice(0, 8)}
              </Anchor>
            </Text>
          )}
          {replay.isError && (
            <Alert color="red" role="alert" withCloseButton onClose={() => replay.reset()}>
              {describeError(replay.error)}
            </Alert>
          )}
          {detail.error && (
            <Paper withBorder p="xs" bg="var(--mantine-color-red-light)">
              <Text size="sm">{detail.error_type}: {detail.error}</Text>
            </Paper>
          )}
          <Paper withBorder p="sm">
            <Title order={3} size="h5" mb="xs">{t("runs.timeline")}</Title>
            <Waterfall nodes={detail.nodes} start={new Date(detail.started_at).getTime()} total={detail.elapsed_ms} />
          </Paper>
          <Accordion multiple variant="separated">
            {detail.nodes.map((node) => (
              <Accordion.Item key={`${node.node_id}-${String(node.index)}`} value={`${node.node_id}-${String(node.index)}`}>
                <Accordion.Control>
                  <Group gap="xs">
                    <Badge color={STATUS_COLOR[node.status] ?? "blue"} variant="dot">{node.status}</Badge>
                    <Text size="sm" fw={600}>{node.title ?? node.node_id}</Text>
                    <Text size="xs" c="dimmed">{node.node_type} · {formatMs(node.elapsed_ms)}</Text>
                    {node.retries > 0 && <Badge size="xs" color="orange">{t("runs.retries", { count: node.retries })}</Badge>}
                    {node.input_tokens + node.output_tokens > 0 && (
                      <Badge size="xs" variant="outline">{node.input_tokens} → {node.output_tokens}</Badge>
                    )}
                    {node.reused && <Badge size="xs" variant="outline" color="grape">{t("runs.reused")}</Badge>}
                  </Group>
                </Accordion.Control>
                <Accordion.Panel>
                  {node.error && <Text c="red" size="sm" mb="xs">{node.error}</Text>}
                  {!node.scope?.length && detail.engine === "v2" && (
                    <Group gap="xs" mb="xs">
                      <Button
                        size="compact-xs"
                        variant="light"
                        loading={replay.isPending}
                        onClick={() => replay.mutate({ nodeId: node.node_id, onDraft: false })}
                        data-testid={`replay-${node.node_id}`}
                      >
                        {t("runs.replayFrom")}
                      </Button>
                      {draftId && (
                        <Button
                          size="compact-xs"
                          variant="subtle"
                          loading={replay.isPending}
                          onClick={() => replay.mutate({ nodeId: node.node_id, onDraft: true })}
                        >
                          {t("runs.replayOnDraft")}
                        </Button>
                      )}
                    </Group>
                  )}
                  <SimpleGrid cols={{ base: 1, md: 2 }}>
                    <div>
                      <Text size="xs" fw={600}>{t("runs.inputs")}</Text>
                      <Json value={node.inputs} />
                    </div>
                    <div>
                      <Text size="xs" fw={600}>{t("runs.outputs")}</Text>
                      <Json value={node.outputs} />
                    </div>
                  </SimpleGrid>
                </Accordion.Panel>
              </Accordion.Item>
            ))}
          </Accordion>
        </Stack>
      )}
    </QueryState>
  );
}
