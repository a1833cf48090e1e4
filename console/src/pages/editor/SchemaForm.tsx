// A form generated from a node type's config JSON Schema (pydantic's output): strings, numbers,
// booleans, enums, nullable values, string lists, lists of objects, nested objects, maps
// (`additionalProperties`: headers, declared outputs, selectors by name) and value selectors
// (`node.port.path`, typed with upstream outputs and variables suggested). Anything else - a sub-graph, a free-form value - is edited as JSON, checked
// as it is typed. Each field shows the problem the server reported for its path (`top_k`).
import {
  ActionIcon,
  Autocomplete,
  Button,
  Fieldset,
  Group,
  MultiSelect,
  NumberInput,
  Select,
  Stack,
  Switch,
  TagsInput,
  Textarea,
  TextInput,
} from "@mantine/core";
import { IconPlus, IconTrash } from "@tabler/icons-react";
import { useState } from "react";

export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  enum?: unknown[];
  default?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
}

export interface FieldOptions {
  /** Choices for a field by name (knowledge_base_ids -> your knowledge bases, an assigner's
   * variable -> the declared conversation variables). */
  choices: Record<string, { value: string; label: string }[]>;
  /** Server problems by config path ("top_k", "cases.0.conditions"). */
  errors: Record<string, string>;
  /** Selectors offered while one is typed ("llm.text", "conversation.topic", "sys.bot_id"). */
  selectors?: string[];
}

function resolve(schema: JsonSchema, root: JsonSchema): JsonSchema {
  if (schema.$ref) {
    const name = schema.$ref.split("/").pop() ?? "";
    return resolve(root.$defs?.[name] ?? {}, root);
  }
  return schema;
}

/** `anyOf: [X, {type: null}]` -> X, nullable. */
function unwrapNullable(schema: JsonSchema, root: JsonSchema): { schema: JsonSchema; nullable: boolean } {
  const options = schema.anyOf?.map((s) => resolve(s, root));
  if (options) {
    const rest = options.filter((s) => s.type !== "null");
    if (rest.length === 1 && rest[0]) {
      return { schema: { ...rest[0], title: schema.title, description: schema.description }, nullable: true };
    }
  }
  if (schema.$ref) {
    // A definition's title names a type (`PortType`), not this field: the field keeps its own.
    const target = resolve(schema, root);
    return {
      schema: { ...target, title: schema.title, description: schema.description ?? target.description, default: schema.default ?? target.default },
      nullable: false,
    };
  }
  return { schema, nullable: false };
}

const LONG_TEXT = /prompt|template|instruction|code|body/i;

/** A value selector (`[node_id, port, ...path]`): an array of strings and integers. */
function isSelector(schema: JsonSchema, root: JsonSchema): boolean {
  if (schema.type !== "array" || !schema.items) return false;
  const kinds = (resolve(schema.items, root).anyOf ?? []).map((s) => s.type).sort();
  return kinds.join(",") === "integer,string";
}

/** `kb.documents.0.text` <-> `["kb", "documents", 0, "text"]` (path steps of digits: indexes). */
export function parseSelector(text: string): (string | number)[] {
  return text
    .split(".")
    .filter((step) => step !== "")
    .map((step, i) => (i >= 2 && /^\d+$/.test(step) ? Number(step) : step));
}

/** Free-form values as JSON: kept as typed until it parses, so a half-typed value is not lost. */
function JsonField({ common, value, onChange, multiline }: {
  common: { label: string; description?: string; error?: string; required: boolean };
  value: unknown;
  onChange: (value: unknown) => void;
  multiline: boolean;
}) {
  const [text, setText] = useState(value === undefined ? "" : JSON.stringify(value, null, multiline ? 2 : undefined));
  const [invalid, setInvalid] = useState<string | null>(null);
  const props = {
    ...common,
    value: text,
    error: invalid ?? common.error,
    styles: { input: { fontFamily: "monospace", fontSize: 12 } },
    onChange: (e: { currentTarget: { value: string } }) => {
      const next = e.currentTarget.value;
      setText(next);
      if (next.trim() === "") {
        setInvalid(null);
        onChange(undefined);
        return;
      }
      try {
        onChange(JSON.parse(next) as unknown);
        setInvalid(null);
      } catch (error) {
        setInvalid(`JSON: ${error instanceof Error ? error.message : String(error)}`);
      }
    },
  };
  return multiline ? <Textarea {...props} autosize minRows={3} maxRows={16} /> : <TextInput {...props} />;
}

/** A map (`additionalProperties`): one row per key, its value edited by the value's schema. */
function MapField({ label, path, schema, root, value, onChange, options, description }: {
  label: string;
  description?: string;
  path: string;
  schema: JsonSchema;
  root: JsonSchema;
  value: unknown;
  onChange: (value: unknown) => void;
  options: FieldOptions;
}) {
  const entries = Object.entries((value ?? {}) as Record<string, unknown>);
  const set = (next: [string, unknown][]) => onChange(Object.fromEntries(next));
  return (
    <Fieldset legend={label} p="xs" data-testid={`map-${path}`}>
      <Stack gap="xs">
        {description && <div style={{ fontSize: 12, color: "var(--mantine-color-dimmed)" }}>{description}</div>}
        {entries.map(([key, item], i) => (
          <Group key={i} gap="xs" align="flex-start" wrap="nowrap">
            <TextInput
              aria-label={`${label} ${String(i + 1)}: name`}
              placeholder="name"
              value={key}
              w="40%"
              onChange={(e) => {
                const name = e.currentTarget.value;
                set(entries.map((entry, j) => (j === i ? [name, entry[1]] : entry)));
              }}
            />
            <div style={{ flex: 1 }}>
              <Field
                name={key}
                label={`${label} ${String(i + 1)}: value`}
                path={`${path}.${key}`}
                schema={schema}
                root={root}
                value={item}
                required={false}
                options={options}
                onChange={(next) => set(entries.map((entry, j) => (j === i ? [entry[0], next] : entry)))}
              />
            </div>
            <ActionIcon
              mt={4}
              variant="subtle"
              color="red"
              aria-label={`remove ${label} ${String(i + 1)}`}
              onClick={() => set(entries.filter((_, j) => j !== i))}
            >
              <IconTrash size={14} />
            </ActionIcon>
          </Group>
        ))}
        <Button
          size="xs"
          variant="light"
          leftSection={<IconPlus size={14} />}
          onClick={() => set([...entries, [`key${String(entries.length + 1)}`, defaultFor(resolve(schema, root))]])}
        >
          {label}
        </Button>
      </Stack>
    </Fieldset>
  );
}

function defaultFor(schema: JsonSchema): unknown {
  if (schema.enum) return schema.enum[0];
  if (schema.type === "array") return [];
  if (schema.type === "string") return "";
  return null;
}

interface FieldProps {
  name: string;
  /** Overrides the schema's title (a map's value has none of its own). */
  label?: string;
  path: string;
  schema: JsonSchema;
  root: JsonSchema;
  value: unknown;
  required: boolean;
  onChange: (value: unknown) => void;
  options: FieldOptions;
}

function Field({ name, label: forced, path, schema: raw, root, value, required, onChange, options }: FieldProps) {
  const { schema, nullable } = unwrapNullable(raw, root);
  const label = forced ?? schema.title ?? name;
  const common = {
    label,
    description: schema.description,
    error: options.errors[path],
    required: required && !nullable,
  };
  const choices = options.choices[name];
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;

  if (schema.enum) {
    return (
      <Select
        {...common}
        data={schema.enum.map(String)}
        value={
          typeof value === "string"
            ? value
            : typeof schema.default === "string"
              ? schema.default
              : null
        }
        onChange={(v) => onChange(v ?? (nullable ? null : undefined))}
        clearable={nullable}
      />
    );
  }
  if (type === "boolean") {
    return (
      <Switch
        label={label}
        description={schema.description}
        checked={Boolean(value ?? schema.default)}
        onChange={(e) => onChange(e.currentTarget.checked)}
      />
    );
  }
  if (type === "integer" || type === "number") {
    return (
      <NumberInput
        {...common}
        value={typeof value === "number" ? value : ""}
        placeholder={typeof schema.default === "number" ? String(schema.default) : undefined}
        min={schema.minimum}
        max={schema.maximum}
        allowDecimal={type === "number"}
        onChange={(v) => onChange(typeof v === "number" ? v : nullable ? null : undefined)}
      />
    );
  }
  if (isSelector(schema, root)) {
    const text = Array.isArray(value) ? value.join(".") : "";
    return (
      <Autocomplete
        {...common}
        placeholder="node.port"
        data={options.selectors ?? []}
        value={text}
        onChange={(next) => {
          onChange(next === "" && nullable ? null : parseSelector(next));
        }}
      />
    );
  }
  if (type === "array") {
    const items = resolve(schema.items ?? {}, root);
    const list: unknown[] = Array.isArray(value) ? (value as unknown[]) : [];
    // Items of several shapes (a tagged union: an agent's tools) are edited as JSON below.
    const union = Boolean(items.oneOf ?? items.anyOf);
    if (items.type === "string" || (!items.type && !union)) {
      const strings = list.map(String);
      return choices ? (
        <MultiSelect {...common} data={choices} value={strings} onChange={onChange} searchable />
      ) : (
        <TagsInput {...common} value={strings} onChange={onChange} />
      );
    }
    if (items.type === "object") {
      return (
        <Fieldset legend={label} p="xs">
          <Stack gap="xs">
            {list.map((item, i) => (
              <Fieldset key={i} p="xs" variant="filled">
                <ObjectFields
                  schema={items}
                  root={root}
                  path={`${path}.${String(i)}`}
                  value={(item ?? {}) as Record<string, unknown>}
                  onChange={(next) => onChange(list.map((old, j) => (j === i ? next : old)))}
                  options={options}
                />
                <ActionIcon
                  mt="xs"
                  variant="subtle"
                  color="red"
                  aria-label={`remove ${label} ${String(i + 1)}`}
                  onClick={() => onChange(list.filter((_, j) => j !== i))}
                >
                  <IconTrash size={14} />
                </ActionIcon>
              </Fieldset>
            ))}
            <Button
              size="xs"
              variant="light"
              leftSection={<IconPlus size={14} />}
              onClick={() => onChange([...list, {}])}
            >
              {label}
            </Button>
          </Stack>
        </Fieldset>
      );
    }
  }
  if (raw.$ref?.endsWith("/WorkflowGraph")) {
    // A sub-graph (iteration, loop body): nodes and edges as JSON.
    return <JsonField common={common} value={value} onChange={onChange} multiline />;
  }
  if (type === "object" && !schema.properties && typeof schema.additionalProperties === "object") {
    return (
      <MapField
        label={label}
        description={schema.description}
        path={path}
        schema={schema.additionalProperties}
        root={root}
        value={value}
        onChange={onChange}
        options={options}
      />
    );
  }
  if (type === "object" && schema.properties) {
    return (
      <Fieldset legend={label} p="xs">
        <ObjectFields
          schema={schema}
          root={root}
          path={path}
          value={(value ?? {}) as Record<string, unknown>}
          onChange={onChange}
          options={options}
        />
      </Fieldset>
    );
  }
  if (type === "string") {
    const text = typeof value === "string" ? value : "";
    const placeholder = typeof schema.default === "string" ? schema.default : undefined;
    const set = (next: string) => onChange(next === "" && nullable ? null : next);
    if (choices) {
      // A name from a known set that may still be typed freely (an assigner's variable).
      return (
        <Autocomplete {...common} data={choices.map((c) => c.value)} value={text} placeholder={placeholder} onChange={set} />
      );
    }
    if (LONG_TEXT.test(name) || (schema.maxLength ?? 0) > 1000) {
      return (
        <Textarea
          {...common}
          value={text}
          placeholder={placeholder}
          autosize
          minRows={2}
          maxRows={10}
          styles={{ input: { fontFamily: "monospace", fontSize: 12 } }}
          onChange={(e) => set(e.currentTarget.value)}
        />
      );
    }
    return <TextInput {...common} value={text} placeholder={placeholder} onChange={(e) => set(e.currentTarget.value)} />;
  }
  // Anything else (a sub-graph, free-form values): edited as JSON.
  return <JsonField common={common} value={value} onChange={onChange} multiline={type === "object" || type === "array"} />;
}

export function ObjectFields({
  schema,
  root,
  path,
  value,
  onChange,
  options,
}: {
  schema: JsonSchema;
  root: JsonSchema;
  path: string;
  value: Record<string, unknown>;
  onChange: (value: Record<string, unknown>) => void;
  options: FieldOptions;
}) {
  const required = new Set(schema.required ?? []);
  return (
    <Stack gap="xs">
      {Object.entries(schema.properties ?? {}).map(([name, field]) => (
        <Field
          key={name}
          name={name}
          path={path ? `${path}.${name}` : name}
          schema={field}
          root={root}
          value={value[name]}
          required={required.has(name)}
          options={options}
          onChange={(next) => {
            const copy = Object.fromEntries(Object.entries(value).filter(([key]) => key !== name));
            if (next !== undefined) copy[name] = next;
            onChange(copy);
          }}
        />
      ))}
    </Stack>
  );
}
