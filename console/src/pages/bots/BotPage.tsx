import { Anchor, Breadcrumbs, Tabs, Text } from "@mantine/core";
import { lazy } from "react";
import { Link, Navigate, Route, Routes, useLocation, useNavigate, useParams } from "react-router";

import { QueryState } from "../../components/QueryState";
import { useT } from "../../i18n/i18n";
import { useBot } from "./botQueries";

const EditorPage = lazy(() => import("../editor/EditorPage"));
const RunsPage = lazy(() => import("../runs/RunsPage"));
const RunPage = lazy(() => import("../runs/RunPage"));
const StatisticsPage = lazy(() => import("../stats/StatisticsPage"));
const BotSettingsPage = lazy(() => import("./BotSettingsPage"));

const TABS = ["editor", "runs", "statistics", "settings"] as const;

export default function BotPage() {
  const t = useT();
  const { botId = "" } = useParams();
  const location = useLocation();
  const navigate = useNavigate();
  const bot = useBot(botId);
  const section = location.pathname.split("/")[3] ?? "editor";
  const labels = {
    editor: t("bot.editor"),
    runs: t("bot.runs"),
    statistics: t("bot.statistics"),
    settings: t("bot.settings"),
  };
  return (
    <QueryState query={bot}>
      {(data) => (
        <>
          <Breadcrumbs mb="xs">
            <Anchor component={Link} to="/bots" size="sm">
              {t("nav.bots")}
            </Anchor>
            <Text size="sm" fw={600}>
              {data.name}
            </Text>
          </Breadcrumbs>
          <Tabs
            value={section}
            onChange={(value) => {
              if (value) void navigate(`/bots/${botId}/${value}`);
            }}
            mb="sm"
          >
            <Tabs.List>
              {TABS.map((tab) => (
                <Tabs.Tab key={tab} value={tab} data-testid={`bot-tab-${tab}`}>
                  {labels[tab]}
                </Tabs.Tab>
              ))}
            </Tabs.List>
          </Tabs>
          <Routes>
            <Route index element={<Navigate to="editor" replace />} />
            <Route path="editor" element={<EditorPage bot={data} />} />
            <Route path="runs" element={<RunsPage bot={data} />} />
            <Route path="runs/:runId" element={<RunPage bot={data} />} />
            <Route path="statistics" element={<StatisticsPage bot={data} />} />
            <Route path="settings" element={<BotSettingsPage bot={data} />} />
          </Routes>
        </>
      )}
    </QueryState>
  );
}
