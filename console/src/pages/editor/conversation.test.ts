import { describe, expect, it } from "vitest";

import {
  PORT_TYPES,
  chatSystemValues,
  checkDefault,
  checkName,
  declaredVariables,
  serverVariableProblems,
  variableProblems,
  variableSuggestions,
  withVariables,
  type SystemValue,
} from "./conversation";

describe("conversation variable names", () => {
  // What the server's ConversationVariable model answers for each (checked with pydantic).
  const accepted = ["topic", "_x", "언어", "é", "a\u0301", "\u0301a", "x\u203fy", "\u203fx", "Ⅻx", "x".repeat(64)];
  const refused = ["", "1a", "a-b", "a b", "²x", "a\n", "x".repeat(65), "conversation.topic"];

  it("accepts what the server accepts", () => {
    for (const name of accepted) expect(checkName(name), JSON.stringify(name)).toBeNull();
  });

  it("refuses what the server refuses, saying why", () => {
    for (const name of refused) expect(checkName(name), JSON.stringify(name)).not.toBeNull();
    expect(checkName("")?.key).toBe("variables.nameRequired");
    expect(checkName("x".repeat(65))?.key).toBe("variables.nameTooLong");
    expect(checkName("1a")?.key).toBe("variables.nameInvalid");
  });

  it("reports duplicates and bad defaults per field", () => {
    const problems = variableProblems([
      { name: "topic", type: "string", default: "en" },
      { name: "topic", type: "integer", default: "many" },
      { name: "9lives" },
      { name: "note", description: "x".repeat(2001) },
    ]);
    expect(Object.keys(problems).sort()).toEqual(["1.default", "1.name", "2.name", "3.description"]);
    expect(problems["1.name"]?.key).toBe("variables.nameTaken");
    expect(problems["1.default"]).toEqual({ key: "variables.defaultMismatch", vars: { type: "integer" } });
  });
});

describe("defaults against their type (the server's coerce_value)", () => {
  it("lists every port type", () => {
    expect(PORT_TYPES).toEqual([
      "string", "number", "integer", "boolean", "object", "array[string]", "array[number]",
      "array[object]", "documents", "messages", "any",
    ]);
  });

  it.each([
    ["string", "en"],
    ["integer", 3],
    ["integer", "-42"],
    ["integer", 2.0],
    ["number", 0.5],
    ["number", " 1e3 "],
    ["boolean", false],
    ["boolean", "Yes"],
    ["object", { a: 1 }],
    ["array[string]", ["a", "b"]],
    ["array[number]", [1, "2.5"]],
    ["array[object]", [{}]],
    ["documents", []],
    ["messages", [{ role: "user", content: "hi" }]],
    ["any", "anything"],
    ["integer", null],
    ["object", undefined],
  ] as const)("%s accepts %j", (type, value) => {
    expect(checkDefault(type, value)).toBeNull();
  });

  it.each([
    ["string", 5],
    ["integer", 2.5],
    ["integer", "many"],
    ["integer", true],
    ["number", "x"],
    ["number", false],
    ["boolean", "maybe"],
    ["boolean", 1],
    ["object", []],
    ["object", "{}"],
    ["array[string]", ["a", 1]],
    ["array[number]", [1, "two"]],
    ["array[object]", [1]],
    ["documents", {}],
    ["messages", "hi"],
  ] as const)("%s refuses %j", (type, value) => {
    expect(checkDefault(type, value)?.key).toBe("variables.defaultMismatch");
  });
});

describe("server problems", () => {
  it("are placed on the declaration and field their path names", () => {
    const found = serverVariableProblems([
      { path: "conversation_variables[0].name", message: "String should match pattern" },
      { path: "conversation_variables[0].name", message: "a second one" },
      { path: "conversation_variables[2].type", message: "Input should be 'string', ..." },
      { path: "conversation_variables[1]", message: "Extra inputs are not permitted" },
      { path: "nodes[0].config.top_k", message: "not ours" },
      { message: "no path" },
    ]);
    expect(found).toEqual({
      "0.name": "String should match pattern",
      "2.type": "Input should be 'string', ...",
      "1.name": "Extra inputs are not permitted",
    });
  });
});

// As GET /api/v1/node-types sends them (snapagent.services.system_values), abridged.
const SYSTEM_VALUES: SystemValue[] = [
  { name: "bot_id", type: "string", description: "The bot.", runs: ["chat", "tool"] },
  { name: "user_id", type: "string", description: "The account.", runs: ["chat"] },
  { name: "files", type: "array[object]", description: "Files.", runs: ["chat"] },
  { name: "call_depth", type: "integer", description: "How deep.", runs: ["tool"] },
];

describe("selector suggestions", () => {
  it("offer the declared variables and a chat turn's system values, in the inspector's format", () => {
    const { conversation, system } = variableSuggestions(
      [
        { name: "topic", type: "string" },
        { name: "count" },
        { name: "1bad", type: "string" },
        { name: "topic", type: "integer" },
        { name: "" },
      ],
      SYSTEM_VALUES,
    );
    expect(conversation).toEqual([
      { value: "conversation.topic", label: "conversation.topic (string)" },
      { value: "conversation.count", label: "conversation.count (any)" },
    ]);
    // The server's values, in its order; a bot-as-tool run's own (call_depth) are not offered.
    expect(system.map((s) => s.value)).toEqual(["sys.bot_id", "sys.user_id", "sys.files"]);
    expect(system.find((s) => s.value === "sys.files")?.label).toBe("sys.files (array[object])");
  });

  it("none declared: only system values; none sent: none offered", () => {
    const none = variableSuggestions([], SYSTEM_VALUES);
    expect(none.conversation).toEqual([]);
    expect(none.system).toHaveLength(3);
    expect(variableSuggestions([{ name: "topic" }], []).system).toEqual([]);
  });

  it("a chat turn's values are the ones sent for chat runs", () => {
    expect(chatSystemValues(SYSTEM_VALUES).map((v) => v.name)).toEqual(["bot_id", "user_id", "files"]);
  });
});

describe("the graph's conversation_variables key", () => {
  it("is read defensively and written only when there is something to keep", () => {
    expect(declaredVariables({})).toEqual([]);
    expect(declaredVariables({ conversation_variables: "nope" })).toEqual([]);
    expect(declaredVariables({ conversation_variables: [{ name: "a" }, 3, null] })).toEqual([{ name: "a" }]);
    expect(withVariables({ label: "x" }, [])).toEqual({ label: "x" });
    expect(withVariables({ conversation_variables: [{ name: "a" }] }, [])).toEqual({ conversation_variables: [] });
    expect(withVariables({}, [{ name: "a", type: "string" }])).toEqual({
      conversation_variables: [{ name: "a", type: "string" }],
    });
  });
});
