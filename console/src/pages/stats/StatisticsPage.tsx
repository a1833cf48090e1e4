// A bot's statistics (GET .../workflow-executions/statistics): success rate, latency p50/p95,
// tokens, runs per day, per version and per engine as charts, and where the V1 -> V2 migration
// stands (this bot's rollout settings, the account's GET /api/v1/migration/status).
import { BarChart, LineChart } from "@mantine/charts";
import { Badge, Group, Paper, SegmentedControl, SimpleGrid, Stack, Table, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import type { ReactNode } from "react";

import { api, type Schemas } from "../../api/client";
import { unwrap } from "../../api/problem";
import { QueryState } from "../../components/QueryState";
import { formatMs, formatPercent } from "../../format";
import { useI18n } from "../../i18n/i18n";

type Bot = Schemas["BotPublic"];
type Statistics = Schemas["RunStatistics"];

const RANGES = ["7", "30", "90", "all"] as const;
type Range = (typeof RANGES)[number];

/** The range's start, at UTC midnight so the cache key holds still within a day. */
function rangeStart(range: Range): string | undefined {
  if (range === "all") return undefined;
  const day = new Date();
  day.setUTCHours(0, 0, 0, 0);
  day.setUTCDate(day.getUTCDate() - Number(range) + 1);
  return day.toISOString();
}

function Figure({ label, value, testId }: { label: string; value: ReactNode; testId: string }) {
  return (
    <Paper withBorder p="sm" data-testid={testId}>
      <Text size="xs" c="dimmed" tt="uppercase" fw={700}>
        {label}
      </Text>
      <Text size="xl" fw={700}>
        {value}
      </Text>
    </Paper>
  );
}

function Section({ title, children, testId }: { title: string; children: ReactNode; testId?: string }) {
  return (
    <Paper withBorder p="md" data-testid={testId}>
      <Title order={2} size="h5" mb="sm">
        {title}
      </Title>
      {children}
    </Paper>
  );
}

function Charts({ stats }: { stats: Statistics }) {
  const { t } = useI18n();
  const daily = stats.daily.map((d) => ({
    day: d.day.slice(5),
    [t("stats.succeeded")]: d.succeeded,
    [t("stats.failed")]: d.failed,
    [t("stats.cancelled")]: d.cancelled,
    [t("stats.avgLatency")]: Math.round(d.avg_latency_ms),
    [t("stats.tokens")]: d.total_tokens,
  }));
  const outcomes = [
    { name: t("stats.succeeded"), color: "teal.6" },
    { name: t("stats.failed"), color: "red.6" },
    { name: t("stats.cancelled"), color: "gray.5" },
  ];
  const versions = stats.versions.map((v) => ({
    version: v.version_number ? `v${String(v.version_number)}` : t("stats.draft"),
    [t("stats.succeeded")]: v.succeeded,
    [t("stats.failed")]: v.failed,
    [t("stats.cancelled")]: v.cancelled,
  }));
  const engines = stats.by_engine.map((e) => ({
    engine: e.engine.toUpperCase(),
    p50: Math.round(e.p50_latency_ms),
    p95: Math.round(e.p95_latency_ms),
  }));
  return (
    <>
      <SimpleGrid cols={{ base: 1, md: 2 }}>
        <Section title={t("stats.runsPerDay")} testId="stats-daily">
          <BarChart h={220} data={daily} dataKey="day" type="stacked" series={outcomes} withLegend yAxisProps={{ allowDecimals: false }} />
        </Section>
        <Section title={t("stats.latencyPerDay")}>
          <LineChart
            h={220}
            data={daily}
            dataKey="day"
            series={[{ name: t("stats.avgLatency"), color: "blue.6" }]}
            valueFormatter={formatMs}
            curveType="linear"
          />
        </Section>
        <Section title={t("stats.perVersion")} testId="stats-versions">
          <BarChart h={220} data={versions} dataKey="version" type="stacked" series={outcomes} withLegend yAxisProps={{ allowDecimals: false }} />
        </Section>
        <Section title={t("stats.perEngine")} testId="stats-engines">
          <BarChart
            h={220}
            data={engines}
            dataKey="engine"
            series={[
              { name: "p50", color: "blue.4" },
              { name: "p95", color: "indigo.7" },
            ]}
            valueFormatter={formatMs}
            withLegend
          />
        </Section>
      </SimpleGrid>
      <Section title={t("stats.perEngine")}>
        <Table.ScrollContainer minWidth={640}>
          <Table>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{t("runs.engine")}</Table.Th>
                <Table.Th>{t("stats.runs")}</Table.Th>
                <Table.Th>{t("stats.successRate")}</Table.Th>
                <Table.Th>{t("stats.goalRate")}</Table.Th>
                <Table.Th>p50</Table.Th>
                <Table.Th>p95</Table.Th>
                <Table.Th>{t("stats.tokens")}</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {stats.by_engine.map((e) => (
                <Table.Tr key={e.engine}>
                  <Table.Td>{e.engine}</Table.Td>
                  <Table.Td>{e.runs}</Table.Td>
                  <Table.Td>{formatPercent(e.success_rate)}</Table.Td>
                  <Table.Td>{formatPercent(e.goal_success_rate)}</Table.Td>
                  <Table.Td>{formatMs(e.p50_latency_ms)}</Table.Td>
                  <Table.Td>{formatMs(e.p95_latency_ms)}</Table.Td>
                  <Table.Td>{e.total_tokens}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      </Section>
      <Section title={t("stats.perNode")}>
        <Table.ScrollContainer minWidth={560}>
          <Table data-testid="stats-nodes">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>{t("editor.node")}</Table.Th>
                <Table.Th>{t("stats.executions")}</Table.Th>
                <Table.Th>{t("stats.failed")}</Table.Th>
                <Table.Th>{t("stats.avgLatency")}</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {stats.nodes.map((n) => (
                <Table.Tr key={n.node_id}>
                  <Table.Td>
                    {n.node_id}{" "}
                    <Text span size="xs" c="dimmed">
                      ({n.node_type})
                    </Text>
                  </Table.Td>
                  <Table.Td>{n.executions}</Table.Td>
                  <Table.Td>{n.failures}</Table.Td>
                  <Table.Td>{formatMs(n.avg_latency_ms)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      </Section>
    </>
  );
}

function Migration({ bot }: { bot: Bot }) {
  const { t } = useI18n();
  const status = useQuery({
    queryKey: ["migration-status"],
    queryFn: async () => unwrap(await api.GET("/api/v1/migration/status")),
  });
  return (
    <Section title={t("stats.migration")} testId="stats-migration">
      <Group gap="xs" mb="sm">
        <Text size="sm">{t("stats.thisBot")}:</Text>
        <Badge variant="light" color={bot.use_workflow_v2 ? "teal" : "gray"}>
          {bot.use_workflow_v2 ? t("stats.v2On") : t("stats.v2Off")}
        </Badge>
        {bot.use_workflow_v2 && <Badge variant="light">{t("stats.rollout", { percent: bot.v2_rollout_percent })}</Badge>}
      </Group>
      <QueryState query={status}>
        {(m) => (
          <Stack gap="xs">
            <Text size="sm">
              {t("stats.yourBots", {
                total: m.total_bots,
                v1: m.v1_only,
                draft: m.migrated_draft,
                published: m.published,
                enabled: m.v2_enabled,
              })}
            </Text>
            <Text size="sm">
              {t("stats.goal", {
                v1: formatPercent(m.v1.success_rate),
                v2: formatPercent(m.v2.success_rate),
                goal: formatPercent(m.success_goal),
              })}{" "}
              {m.v2_meets_goal !== null && (
                <Badge color={m.v2_meets_goal ? "teal" : "red"} variant="light">
                  {m.v2_meets_goal ? t("stats.meetsGoal") : t("stats.missesGoal")}
                </Badge>
              )}
            </Text>
          </Stack>
        )}
      </QueryState>
    </Section>
  );
}

export default function StatisticsPage({ bot }: { bot: Bot }) {
  const { t } = useI18n();
  const [range, setRange] = useState<Range>("30");
  const start = useMemo(() => rangeStart(range), [range]);
  const stats = useQuery({
    queryKey: ["statistics", bot.id, start],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/bots/{bot_id}/workflow-executions/statistics", {
          params: { path: { bot_id: bot.id }, query: start ? { start } : {} },
        }),
      ),
  });
  return (
    <Stack data-testid="statistics">
      <SegmentedControl
        aria-label={t("stats.range")}
        value={range}
        onChange={setRange}
        data={RANGES.map((r) => ({ value: r, label: r === "all" ? t("stats.all") : t("stats.days", { days: r }) }))}
        w="fit-content"
      />
      <QueryState query={stats}>
        {(s) => (
          <>
            <SimpleGrid cols={{ base: 2, sm: 3, lg: 6 }}>
              <Figure label={t("stats.runs")} value={s.total_runs} testId="stats-total" />
              <Figure label={t("stats.successRate")} value={formatPercent(s.success_rate)} testId="stats-success" />
              <Figure label={t("stats.p50")} value={formatMs(s.p50_latency_ms)} testId="stats-p50" />
              <Figure label={t("stats.p95")} value={formatMs(s.p95_latency_ms)} testId="stats-p95" />
              <Figure label={t("stats.inputTokens")} value={s.input_tokens} testId="stats-input-tokens" />
              <Figure label={t("stats.outputTokens")} value={s.output_tokens} testId="stats-output-tokens" />
            </SimpleGrid>
            {s.total_runs === 0 ? (
              <Text c="dimmed">{t("stats.empty")}</Text>
            ) : (
              <Charts stats={s} />
            )}
          </>
        )}
      </QueryState>
      <Migration bot={bot} />
    </Stack>
  );
}
