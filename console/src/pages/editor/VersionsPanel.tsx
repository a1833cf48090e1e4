// Versions of the bot: the draft first, then published ones. Each can be compared with the
// draft (the canvas marks added and changed nodes, the list says what changed), restored into
// the draft, or - one click - rolled back to: made live again at once as the next version
// number. The draft itself can be discarded (the next draft starts from the live version).
import { Badge, Button, Group, Paper, Stack, Text } from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { useState } from "react";

import { api, type Schemas } from "../../api/client";
import { check, describeError, unwrap } from "../../api/problem";
import { QueryState } from "../../components/QueryState";
import { formatDateTime } from "../../format";
import { useI18n } from "../../i18n/i18n";
import type { DiffMark } from "./graph";
import { useVersions } from "./useDraft";

type Diff = Schemas["GraphDiffPublic"];

export function VersionsPanel({
  botId,
  draftId,
  revision,
  onRestored,
  onDiff,
}: {
  botId: string;
  draftId: string;
  revision: number;
  /** The draft changed under the editor (restored into, or discarded): reload it. */
  onRestored: () => void;
  onDiff: (marks: Map<string, DiffMark>) => void;
}) {
  const { t, language } = useI18n();
  const versions = useVersions(botId);
  const [diff, setDiff] = useState<{ number: number | null; diff: Diff } | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function compare(version: Schemas["VersionSummary"]) {
    setError(null);
    try {
      const found = unwrap(
        await api.GET("/api/v1/bots/{bot_id}/workflow-versions/diff", {
          params: { path: { bot_id: botId }, query: { from: version.id, to: draftId } },
        }),
      );
      setDiff({ number: version.version_number, diff: found });
      const marks = new Map<string, DiffMark>();
      found.nodes_added.forEach((id) => marks.set(id, "added"));
      found.nodes_changed.forEach((c) => marks.set(c.node_id, "changed"));
      onDiff(marks);
    } catch (caught) {
      setError(describeError(caught));
    }
  }

  async function restore(version: Schemas["VersionSummary"]) {
    setError(null);
    try {
      unwrap(
        await api.POST("/api/v1/bots/{bot_id}/workflow-versions/{version_id}/restore", {
          params: { path: { bot_id: botId, version_id: version.id } },
          body: { revision },
        }),
      );
      onRestored();
    } catch (caught) {
      setError(describeError(caught));
    }
  }

  async function rollback(version: Schemas["VersionSummary"]) {
    setError(null);
    try {
      const live = unwrap(
        await api.POST("/api/v1/bots/{bot_id}/workflow-versions/{version_id}/rollback", {
          params: { path: { bot_id: botId, version_id: version.id } },
          body: {},
        }),
      );
      notifications.show({
        message: t("versions.rolledBack", { version: version.version_number ?? "?", live: live.version_number ?? "?" }),
        color: "green",
      });
      void versions.refetch();
    } catch (caught) {
      setError(describeError(caught));
    }
  }

  async function discard() {
    if (!window.confirm(t("versions.discardConfirm"))) return;
    setError(null);
    try {
      check(
        await api.DELETE("/api/v1/bots/{bot_id}/workflow-versions/{version_id}", {
          params: { path: { bot_id: botId, version_id: draftId } },
        }),
      );
      onRestored();
    } catch (caught) {
      setError(describeError(caught));
    }
  }

  return (
    <QueryState query={versions}>
      {(list) => (
        <Stack gap="xs" data-testid="version-list">
          {error && (
            <Text c="red" size="xs" role="alert">
              {error}
            </Text>
          )}
          {list.map((version) => (
            <Paper key={version.id} withBorder p="xs">
              <Group justify="space-between" gap={4}>
                <Group gap={4}>
                  <Text size="sm" fw={600}>
                    {version.status === "draft" ? t("versions.draft") : `v${String(version.version_number)}`}
                  </Text>
                  <Badge size="xs" variant="light" color={version.status === "published" ? "green" : "gray"}>
                    {version.status === "draft" ? t("versions.draft.badge") : version.status === "published" ? t("versions.published") : t("versions.archived")}
                  </Badge>
                  {version.source !== "editor" && (
                    <Badge size="xs" variant="outline">
                      {version.source}
                    </Badge>
                  )}
                </Group>
                {version.status === "draft" && version.id === draftId && (
                  <Button size="compact-xs" variant="subtle" color="red" onClick={() => void discard()} data-testid="discard-draft">
                    {t("versions.discard")}
                  </Button>
                )}
                {version.status !== "draft" && (
                  <Group gap={4}>
                    {version.status !== "published" && (
                      <Button
                        size="compact-xs"
                        variant="subtle"
                        color="orange"
                        onClick={() => void rollback(version)}
                        data-testid={`rollback-v${String(version.version_number)}`}
                      >
                        {t("versions.rollback")}
                      </Button>
                    )}
                    <Button size="compact-xs" variant="subtle" onClick={() => void compare(version)}>
                      {t("versions.diff")}
                    </Button>
                    <Button
                      size="compact-xs"
                      variant="light"
                      onClick={() => void restore(version)}
                      data-testid={`restore-v${String(version.version_number)}`}
                    >
                      {t("versions.restore")}
                    </Button>
                  </Group>
                )}
              </Group>
              <Text size="xs" c="dimmed">
                {formatDateTime(version.published_at ?? version.updated_at, language)}
                {version.note ? ` · ${version.note}` : ""}
              </Text>
            </Paper>
          ))}
          {diff && (
            <Paper withBorder p="xs" data-testid="version-diff">
              <Text size="sm" fw={600} mb={4}>
                {t("versions.diffTitle", { version: diff.number ?? "?" })}
              </Text>
              {[
                ...diff.diff.nodes_added.map((id) => ({ id, color: "green", text: t("versions.added") })),
                ...diff.diff.nodes_removed.map((id) => ({ id, color: "red", text: t("versions.removed") })),
                ...diff.diff.nodes_changed.map((c) => ({
                  id: c.node_id,
                  color: "orange",
                  text: c.changed_fields.join(", "),
                })),
              ].map((row) => (
                <Text key={`${row.id}-${row.color}`} size="xs" c={row.color}>
                  {row.id}: {row.text}
                </Text>
              ))}
              <Text size="xs" c="dimmed">
                {t("versions.edges", {
                  added: diff.diff.edges_added.length,
                  removed: diff.diff.edges_removed.length,
                })}
              </Text>
            </Paper>
          )}
        </Stack>
      )}
    </QueryState>
  );
}
