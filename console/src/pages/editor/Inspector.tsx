// The selected node: title, config (generated form), inputs picked from upstream outputs,
// conversation variables or system values, and run settings (timeout, retries, error strategy).
import { Divider, NumberInput, Select, Stack, Text, TextInput, Title } from "@mantine/core";

import { useT } from "../../i18n/i18n";
import { useKnowledgeBases } from "../knowledge/knowledgeQueries";
import type { NodeType } from "./catalogue";
import type { EditorNode, WorkflowNode } from "./graph";
import type { Suggestion } from "./conversation";
import { ObjectFields, type JsonSchema } from "./SchemaForm";

export interface SelectorGroup {
  group: string;
  items: Suggestion[];
}

function without(node: WorkflowNode, key: string): WorkflowNode {
  return Object.fromEntries(Object.entries(node).filter(([k]) => k !== key)) as WorkflowNode;
}

interface Props {
  node: EditorNode;
  type: NodeType | undefined;
  /** Selector choices, in groups: upstream outputs ("knowledge.documents"), conversation
   * variables ("conversation.topic"), system values ("sys.bot_id"). */
  upstream: SelectorGroup[];
  /** The declared conversation variables' names (an assigner's `variable`). */
  variableNames: string[];
  /** Inputs fed by an edge (no selector needed). */
  wired: Set<string>;
  errors: Record<string, string>;
  onChange: (node: WorkflowNode) => void;
}

export function Inspector({ node, type, upstream, variableNames, wired, errors, onChange }: Props) {
  const t = useT();
  const knowledgeBases = useKnowledgeBases();
  const data = node.data.node;
  const schema = (type?.config_schema ?? {}) as JsonSchema;
  const choices = {
    knowledge_base_ids: (knowledgeBases.data?.data ?? []).map((kb) => ({ value: kb.id, label: kb.name })),
    variable: variableNames.map((name) => ({ value: name, label: name })),
  };
  const retries = (data.retry as { max_retries?: number } | undefined)?.max_retries;
  return (
    <Stack gap="xs" data-testid="node-inspector">
      <Title order={2} size="h5">
        {type?.title ?? data.type} <Text span c="dimmed" size="xs">({data.id})</Text>
      </Title>
      {type?.description && (
        <Text size="xs" c="dimmed">
          {type.description}
        </Text>
      )}
      <TextInput
        label={t("editor.nodeTitle")}
        value={data.title ?? ""}
        onChange={(e) => onChange({ ...data, title: e.currentTarget.value || null })}
      />
      <ObjectFields
        schema={schema}
        root={schema}
        path=""
        value={data.config ?? {}}
        onChange={(config) => onChange({ ...data, config })}
        options={{ choices, errors, selectors: upstream.flatMap((g) => g.items.map((item) => item.value)) }}
      />
      {node.data.ports.inputs.length > 0 && (
        <>
          <Divider label={t("editor.inputs")} labelPosition="left" />
          {node.data.ports.inputs.map((port) => {
            const selector = data.inputs?.[port.name]?.selector;
            if (wired.has(port.name)) {
              return (
                <Text key={port.name} size="xs">
                  <b>{port.name}</b> · {t("editor.wired")}
                </Text>
              );
            }
            return (
              <Select
                key={port.name}
                label={`${port.name} (${port.type})`}
                placeholder={t("editor.pickUpstream")}
                data={upstream}
                value={selector ? selector.join(".") : null}
                clearable
                searchable
                error={errors[`inputs.${port.name}`] ?? errors[`inputs.${port.name}.selector`]}
                onChange={(value) => {
                  const inputs = Object.fromEntries(
                    Object.entries(data.inputs ?? {}).filter(([name]) => name !== port.name),
                  );
                  if (value) {
                    const [nodeId = "", ...rest] = value.split(".");
                    inputs[port.name] = { selector: [nodeId, rest.join(".")] };
                  }
                  onChange({ ...data, inputs });
                }}
              />
            );
          })}
        </>
      )}
      <Divider label={t("editor.runSettings")} labelPosition="left" />
      <NumberInput
        label={t("editor.timeout")}
        min={0.1}
        value={typeof data.timeout_s === "number" ? data.timeout_s : ""}
        onChange={(v) => {
          onChange(typeof v === "number" ? { ...data, timeout_s: v } : without(data, "timeout_s"));
        }}
      />
      <NumberInput
        label={t("editor.retries")}
        min={0}
        max={20}
        value={retries ?? ""}
        onChange={(v) => {
          onChange(
            typeof v === "number" && v > 0
              ? { ...data, retry: { max_retries: v } }
              : without(data, "retry"),
          );
        }}
      />
      <Select
        label={t("editor.errorStrategy")}
        data={["fail_run", "default_value", "fail_branch"]}
        value={typeof data.error_strategy === "string" ? data.error_strategy : "fail_run"}
        allowDeselect={false}
        onChange={(v) => onChange({ ...data, error_strategy: v ?? "fail_run" })}
      />
    </Stack>
  );
}
