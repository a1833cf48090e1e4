// A form generated from a node type's config JSON Schema (pydantic's output): strings, numbers,
// booleans, enums, nullable values, string lists, lists of objects and nested objects. Each
// field shows the problem the server reported for its path (`config.top_k`).
import {
  ActionIcon,
  Button,
  Fieldset,
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

export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  enum?: unknown[];
  default?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
}

export interface FieldOptions {
  /** Choices for a field by name (e.g. knowledge_base_ids -> your knowledge bases). */
  choices: Record<string, { value: string; label: string }[]>;
  /** Server problems by config path ("top_k", "cases.0.conditions"). */
  errors: Record<string, string>;
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
  return { schema: resolve(schema, root), nullable: false };
}

const LONG_TEXT = /prompt|template|instruction|code|body/i;

interface FieldProps {
  name: string;
  path: string;
  schema: JsonSchema;
  root: JsonSchema;
  value: unknown;
  required: boolean;
  onChange: (value: unknown) => void;
  options: FieldOptions;
}

function Field({ name, path, schema: raw, root, value, required, onChange, options }: FieldProps) {
  const { schema, nullable } = unwrapNullable(raw, root);
  const label = schema.title ?? name;
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
  // Anything else (free-form values): edited as JSON.
  return (
    <TextInput
      {...common}
      value={value === undefined ? "" : JSON.stringify(value)}
      onChange={(e) => {
        try {
          onChange(JSON.parse(e.currentTarget.value) as unknown);
        } catch {
          onChange(e.currentTarget.value);
        }
      }}
    />
  );
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
