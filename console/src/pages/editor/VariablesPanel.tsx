// The workflow's conversation variables: name, type, default value and description per
// declaration (ConversationVariable), saved with the draft. Each field shows what is wrong as it
// is typed (the server's rules, conversation.ts) or, failing that, the problem the server
// reported for it on the last save or validation.
import { ActionIcon, Button, Fieldset, Group, NumberInput, Select, Stack, Text, Textarea, TextInput } from "@mantine/core";
import { IconPlus, IconTrash } from "@tabler/icons-react";
import { useState } from "react";

import { useT } from "../../i18n/i18n";
import {
  MAX_VARIABLES,
  PORT_TYPES,
  checkDefault,
  exampleOf,
  variableProblems,
  type ConversationVariable,
  type PortType,
} from "./conversation";

interface Props {
  variables: ConversationVariable[];
  onChange: (variables: ConversationVariable[]) => void;
  /** The server's problems by `<index>.<field>` ("0.name"). */
  serverErrors: Record<string, string>;
}

/** `variable` with `key` set, or left out when `value` is undefined. */
function set(variable: ConversationVariable, key: "default" | "description", value: unknown): ConversationVariable {
  const copy = Object.fromEntries(Object.entries(variable).filter(([k]) => k !== key)) as ConversationVariable;
  return value === undefined ? copy : { ...copy, [key]: value };
}

/** A free-form default as JSON text: kept as typed until it parses. What was typed is shown
 * while the value is still the one it gave (an undo or a removal above shows the new value). */
function JsonDefault({ label, description, error, value, onChange, testId }: {
  label: string;
  description: string;
  error: string | undefined;
  value: unknown;
  onChange: (value: unknown) => void;
  testId: string;
}) {
  const t = useT();
  const shown = value === undefined || value === null ? "" : JSON.stringify(value);
  const [typed, setTyped] = useState<{ text: string; of: string; invalid: string | null } | null>(null);
  const current = typed?.of === shown ? typed : null;
  return (
    <Textarea
      label={label}
      description={description}
      error={current?.invalid ?? error}
      value={current?.text ?? shown}
      autosize
      minRows={1}
      maxRows={8}
      styles={{ input: { fontFamily: "monospace", fontSize: 12 } }}
      data-testid={testId}
      onChange={(e) => {
        const text = e.currentTarget.value;
        if (text.trim() === "") {
          setTyped({ text, of: "", invalid: null });
          onChange(undefined);
          return;
        }
        try {
          const parsed = JSON.parse(text) as unknown;
          setTyped({ text, of: parsed === null ? "" : JSON.stringify(parsed), invalid: null });
          onChange(parsed);
        } catch (failure) {
          const reason = failure instanceof Error ? failure.message : String(failure);
          setTyped({ text, of: shown, invalid: t("variables.json", { reason }) });
        }
      }}
    />
  );
}

function DefaultField({ variable, index, error, onChange }: {
  variable: ConversationVariable;
  index: number;
  error: string | undefined;
  onChange: (value: unknown) => void;
}) {
  const t = useT();
  const type = variable.type ?? "any";
  const value = variable.default;
  const common = {
    label: t("variables.default"),
    description: t("variables.defaultHint", { example: exampleOf(type) }),
    error,
    "data-testid": `variable-default-${String(index)}`,
  };
  if (type === "string") {
    return (
      <TextInput
        {...common}
        value={typeof value === "string" ? value : ""}
        onChange={(e) => onChange(e.currentTarget.value === "" ? undefined : e.currentTarget.value)}
      />
    );
  }
  if (type === "integer" || type === "number") {
    return (
      <NumberInput
        {...common}
        value={typeof value === "number" ? value : ""}
        allowDecimal={type === "number"}
        onChange={(v) => onChange(typeof v === "number" ? v : undefined)}
      />
    );
  }
  if (type === "boolean") {
    return (
      <Select
        {...common}
        data={[
          { value: "", label: t("variables.noDefault") },
          { value: "true", label: "true" },
          { value: "false", label: "false" },
        ]}
        value={typeof value === "boolean" ? String(value) : ""}
        allowDeselect={false}
        onChange={(v) => onChange(v === "true" ? true : v === "false" ? false : undefined)}
      />
    );
  }
  // Objects, lists and `any`: JSON.
  return (
    <JsonDefault
      label={common.label}
      description={common.description}
      error={error}
      value={value}
      onChange={onChange}
      testId={common["data-testid"]}
    />
  );
}

export function VariablesPanel({ variables, onChange, serverErrors }: Props) {
  const t = useT();
  const problems = variableProblems(variables);
  const errorOf = (index: number, field: string): string | undefined => {
    const key = `${String(index)}.${field}`;
    const problem = problems[key];
    return problem ? t(problem.key, problem.vars) : serverErrors[key];
  };
  const update = (index: number, next: ConversationVariable) =>
    onChange(variables.map((v, i) => (i === index ? next : v)));
  return (
    <Stack gap="xs" data-testid="conversation-variables">
      <Text size="xs" c="dimmed">
        {t("variables.hint")}
      </Text>
      {variables.length === 0 && (
        <Text size="sm" c="dimmed">
          {t("variables.none")}
        </Text>
      )}
      {variables.map((variable, i) => (
        <Fieldset key={i} p="xs" legend={variable.name || `#${String(i + 1)}`} data-testid={`variable-${String(i)}`}>
          <Stack gap="xs">
            <Group gap="xs" align="flex-start" wrap="nowrap">
              <TextInput
                label={t("variables.name")}
                required
                value={variable.name}
                error={errorOf(i, "name")}
                style={{ flex: 1 }}
                data-testid={`variable-name-${String(i)}`}
                onChange={(e) => update(i, { ...variable, name: e.currentTarget.value })}
              />
              <ActionIcon
                mt={28}
                variant="subtle"
                color="red"
                aria-label={t("variables.remove", { index: i + 1 })}
                onClick={() => onChange(variables.filter((_, j) => j !== i))}
              >
                <IconTrash size={14} />
              </ActionIcon>
            </Group>
            <Select
              label={t("variables.type")}
              data={PORT_TYPES}
              value={variable.type ?? "any"}
              allowDeselect={false}
              error={errorOf(i, "type")}
              data-testid={`variable-type-${String(i)}`}
              onChange={(value) => {
                const type: PortType = value ?? "any";
                // A default that is no value of the new type is dropped rather than kept wrong.
                const kept = checkDefault(type, variable.default) === null ? variable.default : undefined;
                update(i, set({ ...variable, type }, "default", kept));
              }}
            />
            <DefaultField
              variable={variable}
              index={i}
              error={errorOf(i, "default")}
              onChange={(value) => update(i, set(variable, "default", value))}
            />
            <Textarea
              label={t("variables.description")}
              value={variable.description ?? ""}
              error={errorOf(i, "description")}
              autosize
              minRows={1}
              maxRows={4}
              data-testid={`variable-description-${String(i)}`}
              onChange={(e) => update(i, set(variable, "description", e.currentTarget.value || undefined))}
            />
          </Stack>
        </Fieldset>
      ))}
      <Button
        size="xs"
        variant="light"
        leftSection={<IconPlus size={14} />}
        disabled={variables.length >= MAX_VARIABLES}
        data-testid="variable-add"
        onClick={() => onChange([...variables, { name: "", type: "string" }])}
      >
        {t("variables.add")}
      </Button>
      {variables.length >= MAX_VARIABLES && (
        <Text size="xs" c="dimmed">
          {t("variables.limit", { max: MAX_VARIABLES })}
        </Text>
      )}
    </Stack>
  );
}
