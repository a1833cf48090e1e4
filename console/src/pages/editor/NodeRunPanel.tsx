// "Run this node" under the inspector: one node of the saved draft run alone (a debug run) with
// input values typed here as JSON, or the inputs a past run recorded for it. Shows its outputs,
// branch, error and usage, and lights the node up on the canvas.
import { Alert, Badge, Button, Code, Divider, Group, Stack, Text, TextInput, Textarea } from "@mantine/core";
import { useMutation } from "@tanstack/react-query";
import { useState } from "react";

import { api, type Schemas } from "../../api/client";
import { describeError, unwrap } from "../../api/problem";
import { formatMs } from "../../format";
import { useT } from "../../i18n/i18n";
import type { Port, RunStatus } from "./graph";

type Outcome = Schemas["NodeRunOutcome"];

function sample(inputs: Port[]): string {
  return JSON.stringify(Object.fromEntries(inputs.map((port) => [port.name, port.type === "string" ? "" : null])), null, 2);
}

export function NodeRunPanel({
  botId,
  draftId,
  nodeId,
  inputs,
  ensureSaved,
  onStatus,
}: {
  botId: string;
  draftId: string;
  nodeId: string;
  inputs: Port[];
  ensureSaved: () => Promise<boolean>;
  onStatus: (status: RunStatus) => void;
}) {
  const t = useT();
  const [text, setText] = useState(() => sample(inputs));
  const [fromRun, setFromRun] = useState("");
  const [invalid, setInvalid] = useState<string | null>(null);
  const run = useMutation({
    mutationFn: async (): Promise<Outcome | null> => {
      let values: Record<string, unknown> | undefined;
      if (!fromRun) {
        try {
          values = JSON.parse(text || "{}") as Record<string, unknown>;
        } catch (error) {
          setInvalid(`JSON: ${error instanceof Error ? error.message : String(error)}`);
          return null;
        }
      }
      setInvalid(null);
      if (!(await ensureSaved())) return null;
      onStatus("running");
      return unwrap(
        await api.POST("/api/v1/bots/{bot_id}/workflow-versions/{version_id}/nodes/{node_id}/run", {
          params: { path: { bot_id: botId, version_id: draftId, node_id: nodeId } },
          body: fromRun ? { from_run_id: fromRun.trim() } : { inputs: values ?? {} },
        }),
      );
    },
    onSuccess: (outcome) => {
      if (outcome) onStatus(outcome.status === "succeeded" ? "succeeded" : "failed");
    },
    onError: () => onStatus("failed"),
  });
  const outcome = run.data;
  return (
    <Stack gap="xs" data-testid="node-run">
      <Divider label={t("nodeRun.title")} labelPosition="left" />
      <Textarea
        label={t("nodeRun.inputs")}
        description={t("nodeRun.inputsHint")}
        value={text}
        onChange={(e) => setText(e.currentTarget.value)}
        disabled={fromRun !== ""}
        error={invalid}
        autosize
        minRows={2}
        maxRows={8}
        styles={{ input: { fontFamily: "monospace", fontSize: 12 } }}
        data-testid="node-run-inputs"
      />
      <TextInput
        label={t("nodeRun.fromRun")}
        placeholder={t("nodeRun.fromRunHint")}
        value={fromRun}
        onChange={(e) => setFromRun(e.currentTarget.value)}
      />
      <Group>
        <Button size="xs" variant="light" loading={run.isPending} onClick={() => run.mutate()} data-testid="node-run-submit">
          {t("nodeRun.run")}
        </Button>
      </Group>
      {run.isError && (
        <Alert color="red" role="alert" p="xs" style={{ whiteSpace: "pre-wrap" }}>
          {describeError(run.error)}
        </Alert>
      )}
      {outcome && (
        <Stack gap={4} data-testid="node-run-outcome">
          <Group gap="xs">
            <Badge color={outcome.status === "succeeded" ? "green" : "red"} variant="light">
              {outcome.status}
            </Badge>
            <Text size="xs" c="dimmed">
              {formatMs(outcome.elapsed_ms)}
              {outcome.branch ? ` · ${t("nodeRun.branch")} ${outcome.branch}` : ""}
            </Text>
          </Group>
          {outcome.error && (
            <Text size="xs" c="red">
              {typeof outcome.error.message === "string" ? outcome.error.message : JSON.stringify(outcome.error)}
            </Text>
          )}
          <Code block style={{ maxHeight: 200, overflow: "auto", whiteSpace: "pre-wrap" }}>
            {JSON.stringify(outcome.outputs, null, 2)}
          </Code>
        </Stack>
      )}
    </Stack>
  );
}
