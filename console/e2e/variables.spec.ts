// Conversation variables in the editor: declared in the Variables tab (a wrong name is explained
// next to the field, by the console and by the server's refusal), referenced from a node's input
// through the selector suggestions (conversation.* beside sys.* and upstream outputs), saved
// with the draft and still there after a reload; an assigner's variable is suggested too.
import { apiCall, expect, register, screenshot, test, uniqueEmail } from "./fixtures";

interface Versions {
  data: { id: string; status: string }[];
}
interface Version {
  graph: {
    conversation_variables?: unknown[];
    nodes: { id: string; inputs?: Record<string, { selector: unknown[] }> }[];
  };
}

test("declare a conversation variable, reference it from a node, save and reload", async ({ page, consoleGuard }) => {
  // The save refused on purpose below.
  consoleGuard.allow(/status of 422/);
  await register(page, uniqueEmail("variables"));
  await page.getByTestId("bot-create").click();
  await page.getByTestId("bot-name").fill("Variables bot");
  await page.getByTestId("bot-create-submit").click();
  await expect(page.getByTestId("node-llm")).toBeVisible();

  // An invalid name: the form says why as it is typed, and the server refuses to save it,
  // naming the field.
  await page.getByTestId("tab-variables").click();
  const panel = page.getByTestId("conversation-variables");
  await expect(panel).toContainText("No conversation variables declared.");
  await page.getByTestId("variable-add").click();
  await page.getByTestId("variable-name-0").fill("1st topic");
  await expect(panel).toContainText("Letters, digits and _ only, not starting with a digit");
  await page.getByTestId("save-draft").click();
  const refusal = page.locator(".mantine-Notification-root", { hasText: "conversation_variables[0].name" });
  await expect(refusal).toContainText(/conversation_variables\[0\]\.name: String should match pattern/);
  await refusal.getByRole("button").click();
  await expect(page.getByTestId("draft-state")).toHaveText("Unsaved changes");
  await expect(page.getByTestId("tab-variables")).toContainText("1");

  // A valid declaration: name, type, default, description.
  await page.getByTestId("variable-name-0").fill("topic");
  await expect(panel).not.toContainText("Letters, digits");
  await expect(page.getByTestId("tab-variables")).not.toContainText("1");
  await page.getByTestId("variable-default-0").fill("vacation");
  await page.getByTestId("variable-description-0").fill("What the user asks about");

  // Reference it from the llm node: its prompt reads {{ topic }}, so it gets a `topic` input,
  // whose picker offers the conversation variable and the system values.
  await page.getByTestId("node-llm").click();
  const inspector = page.getByTestId("node-inspector");
  await inspector.getByLabel("Prompt", { exact: true }).fill("About {{ topic }}: {{ query }}");
  const topic = inspector.getByRole("combobox", { name: /^topic \(/ });
  await expect(topic).toBeVisible();
  await topic.click();
  await expect(page.getByRole("option", { name: "sys.bot_id (string)" })).toBeVisible();
  await expect(page.getByRole("option", { name: "sys.files (array[object])" })).toBeVisible();
  await page.getByRole("option", { name: "conversation.topic (string)" }).click();
  await expect(topic).toHaveValue("conversation.topic (string)");
  await page.getByTestId("validate").click();
  const valid = page.locator(".mantine-Notification-root", { hasText: "The workflow is valid" });
  await expect(valid).toBeVisible();
  await valid.getByRole("button").click();
  await page.getByTestId("save-draft").click();
  await expect(page.getByTestId("draft-state")).toHaveText(/Draft revision \d+/);

  // Saved with the draft, exactly as the graph's schema has it.
  const botId = new URL(page.url()).pathname.split("/")[2] ?? "";
  const base = `/api/v1/bots/${botId}/workflow-versions`;
  const draft = (await apiCall<Versions>(page, "GET", base)).data.find((v) => v.status === "draft");
  const saved = await apiCall<Version>(page, "GET", `${base}/${draft?.id ?? ""}`);
  expect(saved.graph.conversation_variables).toEqual([
    { name: "topic", type: "string", default: "vacation", description: "What the user asks about" },
  ]);
  expect(saved.graph.nodes.find((n) => n.id === "llm")?.inputs?.topic).toEqual({ selector: ["conversation", "topic"] });

  // A reload shows both again.
  await page.reload();
  await expect(page.getByTestId("node-llm")).toBeVisible();
  await page.getByTestId("tab-variables").click();
  await expect(page.getByTestId("variable-name-0")).toHaveValue("topic");
  await expect(page.getByTestId("variable-type-0")).toHaveValue("string");
  await expect(page.getByTestId("variable-default-0")).toHaveValue("vacation");
  await screenshot(page, "editor-variables");
  await page.getByTestId("node-llm").click();
  await expect(page.getByTestId("node-inspector").getByRole("combobox", { name: /^topic \(/ })).toHaveValue(
    "conversation.topic (string)",
  );

  // An assigner's variable is suggested from the declarations too.
  await page.getByTestId("node-palette").getByTestId("palette-variable_assigner").click();
  const variable = page.getByTestId("node-inspector").getByRole("combobox", { name: "Variable", exact: true });
  await variable.fill("to");
  await page.getByRole("option", { name: "topic", exact: true }).click();
  await expect(variable).toHaveValue("topic");
});
