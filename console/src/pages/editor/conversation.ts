// Conversation variables (the graph's `conversation_variables`) and the run-level `sys` values:
// the rules the server checks a declaration against, mirrored so the form can say what is wrong
// as it is typed, and the selector suggestions (`conversation.topic`, `sys.bot_id`) the inspector
// offers beside upstream outputs (the `sys` values come from the server's node catalogue).
import type { Schemas } from "../../api/client";
import type { MessageKey } from "../../i18n/en";

export type PortType = Schemas["PortType"];
/** One declaration as the graph holds it; `type` (any), `default` (null) and `description` ("")
 * may be left out, and stay out when the form does not touch them. */
export type ConversationVariable = Schemas["ConversationVariable"];

/** The selector head for conversation variables (snapagent.workflow.conversation). */
export const CONVERSATION = "conversation";
/** The selector head for run-level values (snapagent.workflow.schema.SYS_NODE_ID). */
export const SYS = "sys";

// Every PortType, with an example default: a Record, so a type the server adds fails `tsc` here.
const EXAMPLES: Record<PortType, string> = {
  string: "en",
  number: "0.5",
  integer: "3",
  boolean: "true",
  object: '{"key": "value"}',
  "array[string]": '["a", "b"]',
  "array[number]": "[1, 2.5]",
  "array[object]": '[{"key": "value"}]',
  documents: "[]",
  messages: '[{"role": "user", "content": "hi"}]',
  any: '"anything"',
};
export const PORT_TYPES = Object.keys(EXAMPLES) as PortType[];
export function exampleOf(type: PortType): string {
  return EXAMPLES[type];
}

/** ConversationVariable.name: at most 64 characters; pydantic's Rust regex `^[^\W\d]\w*$`,
 * where `\w` is Unicode (letters, marks, decimal digits, connector punctuation, joiners) and a
 * name does not start with a decimal digit. */
export const MAX_NAME_LENGTH = 64;
const NAME = /^[\p{Alphabetic}\p{M}\p{Pc}\p{Join_Control}][\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]*$/u;
/** WorkflowGraph.conversation_variables: at most 100. */
export const MAX_VARIABLES = 100;
/** ConversationVariable.description: at most 2,000 characters. */
export const MAX_DESCRIPTION_LENGTH = 2000;

export interface Problem {
  key: MessageKey;
  vars?: Record<string, string | number>;
}

export function checkName(name: string): Problem | null {
  if (name === "") return { key: "variables.nameRequired" };
  // pydantic counts code points, not UTF-16 units.
  if (Array.from(name).length > MAX_NAME_LENGTH) return { key: "variables.nameTooLong", vars: { max: MAX_NAME_LENGTH } };
  if (!NAME.test(name)) return { key: "variables.nameInvalid" };
  return null;
}

const TRUE_OR_FALSE = new Set(["true", "1", "yes", "false", "0", "no"]);
const NUMBER_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const ITEM_TYPES: Partial<Record<PortType, PortType>> = {
  "array[string]": "string",
  "array[number]": "number",
  "array[object]": "object",
};

function isNumber(value: unknown): boolean {
  if (typeof value === "number") return Number.isFinite(value);
  return typeof value === "string" && NUMBER_TEXT.test(value.trim());
}

/** Whether the server's `coerce_value(type, value)` (snapagent.workflow.values) accepts it:
 * text is parsed for numbers and booleans, lists are checked item by item. */
export function fitsType(type: PortType, value: unknown): boolean {
  switch (type) {
    case "any":
      return true;
    case "string":
      return typeof value === "string";
    case "integer":
      if (typeof value === "string" && /^\d+$/.test(value.trim().replace(/^-+/, ""))) return true;
      return isNumber(value) && Number.isInteger(Number(value));
    case "number":
      return isNumber(value);
    case "boolean":
      return typeof value === "boolean" || (typeof value === "string" && TRUE_OR_FALSE.has(value.trim().toLowerCase()));
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
    default: {
      if (!Array.isArray(value)) return false;
      const item = ITEM_TYPES[type];
      return item === undefined || value.every((v: unknown) => fitsType(item, v));
    }
  }
}

/** A default is left out (null) or a value of the variable's type. */
export function checkDefault(type: PortType, value: unknown): Problem | null {
  if (value === undefined || value === null || fitsType(type, value)) return null;
  return { key: "variables.defaultMismatch", vars: { type } };
}

/** Every problem of the declarations, by `<index>.<field>` ("0.name", "2.default"). */
export function variableProblems(variables: ConversationVariable[]): Record<string, Problem> {
  const found: Record<string, Problem> = {};
  const seen = new Set<string>();
  variables.forEach((variable, i) => {
    const name = checkName(variable.name);
    if (name) found[`${String(i)}.name`] = name;
    else if (seen.has(variable.name)) found[`${String(i)}.name`] = { key: "variables.nameTaken" };
    seen.add(variable.name);
    const fault = checkDefault(variable.type ?? "any", variable.default);
    if (fault) found[`${String(i)}.default`] = fault;
    if ((variable.description ?? "").length > MAX_DESCRIPTION_LENGTH) {
      found[`${String(i)}.description`] = { key: "variables.descriptionTooLong", vars: { max: MAX_DESCRIPTION_LENGTH } };
    }
  });
  return found;
}

/** The server's problems about declarations (path `conversation_variables[0].name`), by
 * `<index>.<field>`; the first problem of a field wins. */
export function serverVariableProblems(problems: { path?: string | null; message: string }[]): Record<string, string> {
  const found: Record<string, string> = {};
  for (const problem of problems) {
    const match = /^conversation_variables\[(\d+)\](?:\.(\w+))?/.exec(problem.path ?? "");
    if (!match?.[1]) continue;
    const key = `${match[1]}.${match[2] ?? "name"}`;
    found[key] ??= problem.message;
  }
  return found;
}

/** The declarations of a graph as loaded (anything that is not a list of objects: none). */
export function declaredVariables(graph: Record<string, unknown>): ConversationVariable[] {
  const raw = graph.conversation_variables;
  if (!Array.isArray(raw)) return [];
  return raw.filter((v): v is ConversationVariable => typeof v === "object" && v !== null && !Array.isArray(v));
}

/** The graph keys other than nodes and edges, with the declarations: a graph that had none and
 * still has none keeps no `conversation_variables` key, so it round-trips unchanged. */
export function withVariables(extra: Record<string, unknown>, variables: ConversationVariable[]): Record<string, unknown> {
  if (variables.length === 0 && !("conversation_variables" in extra)) return extra;
  return { ...extra, conversation_variables: variables };
}

/** A run-level value as the server declares it (snapagent.services.system_values, sent with the
 * node catalogue): its name, type, description and the runs that get it. */
export type SystemValue = Schemas["SystemValuePublic"];

/** The values every chat turn's run gets, in the server's order. A bot called as another bot's
 * tool gets `call_depth` and `caller_run_id` instead of `user_id` and `files`: internal
 * bookkeeping, not offered. */
export function chatSystemValues(values: readonly SystemValue[]): SystemValue[] {
  return values.filter((v) => v.runs.includes("chat"));
}

export interface Suggestion {
  /** The selector as the inspector writes it: `conversation.topic` -> ["conversation", "topic"]. */
  value: string;
  label: string;
}

/** The declarations a node can use: valid names, the first of each. */
export function usableVariables(variables: ConversationVariable[]): ConversationVariable[] {
  const names = new Set<string>();
  return variables.filter((variable) => {
    if (checkName(variable.name) !== null || names.has(variable.name)) return false;
    names.add(variable.name);
    return true;
  });
}

/** Conversation variables (usable ones) and a chat turn's system values as selector choices. */
export function variableSuggestions(
  variables: ConversationVariable[],
  systemValues: readonly SystemValue[],
): { conversation: Suggestion[]; system: Suggestion[] } {
  const conversation = usableVariables(variables).map((variable) => ({
    value: `${CONVERSATION}.${variable.name}`,
    label: `${CONVERSATION}.${variable.name} (${variable.type ?? "any"})`,
  }));
  const system = chatSystemValues(systemValues).map((v) => ({
    value: `${SYS}.${v.name}`,
    label: `${SYS}.${v.name} (${v.type})`,
  }));
  return { conversation, system };
}
