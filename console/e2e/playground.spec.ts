// The playground beside the editor: a session's conversation variables are shown after each
// turn, and a new session starts from the declared defaults.
import { expect, publishedBot, register, screenshot, test, uniqueEmail } from "./fixtures";

/** Counts turns and remembers the topics asked about (a variable assigner); answers with both. */
const COUNTER = {
  conversation_variables: [
    { name: "turns", type: "integer", default: 0 },
    { name: "topics", type: "array[string]", default: [] },
  ],
  nodes: [
    { id: "start", type: "start" },
    {
      id: "remember",
      type: "variable_assigner",
      config: {
        items: [
          { variable: "turns", operation: "increment" },
          { variable: "topics", operation: "append", input: "q" },
        ],
      },
      inputs: { q: { selector: ["start", "query"] } },
    },
    {
      id: "say",
      type: "template",
      config: { template: "turn {{ n }}: {{ topics | join(', ') }}" },
      inputs: { n: { selector: ["conversation", "turns"] }, topics: { selector: ["conversation", "topics"] } },
    },
    { id: "end", type: "end", config: { outputs: ["answer"] } },
  ],
  edges: [
    { source: "remember", target: "say" },
    { source: "say", source_port: "text", target: "end", target_port: "answer" },
  ],
};

test("conversation variables are shown per session", async ({ page }) => {
  await register(page, uniqueEmail("variables"));
  const botId = await publishedBot(page, "Counter", COUNTER);
  await page.goto(`/bots/${botId}/editor`);
  await page.getByTestId("tab-playground").click();
  // Users' sessions keep their variables: chat with the live version.
  await page.getByTestId("playground-target").getByText("Live version").click();

  async function ask(message: string, answer: string) {
    await page.getByTestId("chat-input").fill(message);
    await page.getByTestId("chat-send").click();
    await expect(page.getByTestId("chat-message-assistant").last()).toContainText(answer);
  }

  await ask("refunds", "turn 1: refunds");
  await ask("invoices", "turn 2: refunds, invoices");
  const variables = page.getByTestId("chat-variables");
  await expect(variables.getByTestId("chat-variable").filter({ hasText: "turns" })).toContainText("2");
  await expect(variables.getByTestId("chat-variable").filter({ hasText: "topics" })).toContainText(
    '["refunds","invoices"]',
  );
  await screenshot(page, "playground-variables");

  // Another session starts from the defaults.
  await page.getByRole("button", { name: "New session" }).click();
  await ask("shipping", "turn 1: shipping");
  await expect(variables.getByTestId("chat-variable").filter({ hasText: "topics" })).toContainText('["shipping"]');
});
