// The flow, as a new user would do it: register, upload a document, create a bot, build
// start -> knowledge -> llm -> end on the canvas, save, publish, chat (streamed, nodes lighting
// up), open the run, then restore the first version into the draft.
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import type { Page } from "@playwright/test";

import { expect, register, screenshot, test, uniqueEmail } from "./fixtures";

const DOC = `# Vacation policy

Every employee gets 15 days of paid annual leave per year.
Unused vacation days expire at the end of March of the following year.
`;

async function connect(page: Page, from: string, fromHandle: string, to: string, toHandle: string) {
  const source = page.locator(`[data-testid="node-${from}"] [data-handleid="${fromHandle}"]`);
  const target = page.locator(`[data-testid="node-${to}"] [data-handleid="${toHandle}"]`);
  await source.dragTo(target);
}

test("build, publish, chat and inspect a RAG bot", async ({ page }) => {
  test.setTimeout(300_000);
  await register(page, uniqueEmail("flow"));

  // Knowledge: a knowledge base with one uploaded document, indexed.
  await page.getByRole("link", { name: "Knowledge" }).click();
  await page.getByTestId("kb-create").click();
  await page.getByTestId("kb-name").fill("handbook");
  await page.getByTestId("kb-create-submit").click();
  const file = join(tmpdir(), `vacation-${String(Date.now())}.md`);
  writeFileSync(file, DOC);
  await page.getByTestId("kb-upload").setInputFiles(file);
  await expect(page.locator('[data-testid="kb-document"][data-status="indexed"]')).toBeVisible({
    timeout: 90_000,
  });
  await page.getByTestId("kb-query").fill("How many vacation days?");
  await page.getByTestId("kb-query-submit").click();
  await expect(page.getByTestId("kb-results")).toContainText("15 days");
  await screenshot(page, "knowledge");

  // The chunk browser: the indexed document's chunks, as retrieval searches them.
  await page.getByTestId("kb-document-chunks").click();
  const chunks = page.getByTestId("kb-chunks");
  await expect(chunks.getByTestId("kb-chunk").first()).toContainText("15 days of paid annual leave");
  await expect(chunks.getByTestId("kb-chunk").first()).toContainText("#0 · Vacation policy");
  await expect(chunks.getByTestId("kb-chunks-count")).toHaveText(/^(\d+) of \1 chunks shown$/);
  // The drawer slides in: screenshot it once it stands still.
  await expect(page.locator(".mantine-Drawer-content")).toHaveCSS("transform", "matrix(1, 0, 0, 1, 0, 0)");
  await expect(page.getByRole("dialog")).toBeInViewport({ ratio: 1 });
  await screenshot(page, "knowledge-chunks");
  await page.keyboard.press("Escape");
  await expect(chunks).toBeHidden();

  // A bot; its new draft is start -> llm -> end.
  await page.getByRole("link", { name: "Bots" }).click();
  await page.getByTestId("bot-create").click();
  await page.getByTestId("bot-name").fill("Handbook bot");
  await page.getByTestId("bot-create-submit").click();
  await expect(page.getByTestId("workflow-canvas")).toBeVisible();
  await expect(page.getByTestId("node-llm")).toBeVisible();

  // Add a knowledge node from the palette and point it at the knowledge base.
  await page.getByTestId("node-palette").getByTestId("palette-knowledge").click();
  await expect(page.getByTestId("node-knowledge")).toBeVisible();
  const inspector = page.getByTestId("node-inspector");
  await inspector.getByLabel("Knowledge Base Ids").click();
  await page.getByRole("option", { name: "handbook" }).click();
  await page.keyboard.press("Escape");
  await page.getByRole("button", { name: "Auto layout" }).click();

  // A connection between incompatible ports is refused with the reason.
  await connect(page, "llm", "out:usage", "knowledge", "in:query");
  await expect(page.getByTestId("connection-refused")).toContainText("expects string");
  await page.getByTestId("connection-refused").getByRole("button").click();

  // Wire it: start.query -> knowledge.query; the prompt reads {{ context }}, which becomes an
  // input port of the llm node; knowledge.documents -> llm.context.
  await connect(page, "start", "out:query", "knowledge", "in:query");
  await page.getByTestId("node-llm").click();
  await inspector.getByLabel("Prompt", { exact: true }).fill(
    "Context:\n{{ context }}\n\nQuestion: {{ query }}",
  );
  await expect(page.locator('[data-testid="node-llm"] [data-handleid="in:context"]')).toBeVisible();
  await connect(page, "knowledge", "out:documents", "llm", "in:context");
  await expect(page.locator(".react-flow__edge")).toHaveCount(4);
  await page.getByTestId("validate").click();
  await expect(page.getByText("The workflow is valid")).toBeVisible();
  await page.getByTestId("save-draft").click();
  await expect(page.getByTestId("draft-state")).toHaveText(/Draft revision \d+/);
  await screenshot(page, "editor");

  // Run the knowledge node alone (a debug run of the saved draft) with a typed input.
  await page.getByTestId("node-knowledge").click();
  await page.getByTestId("node-run-inputs").fill('{"query": "vacation days"}');
  await page.getByTestId("node-run-submit").click();
  await expect(page.getByTestId("node-run-outcome")).toContainText("succeeded");
  await expect(page.getByTestId("node-run-outcome")).toContainText("15 days");

  // Test-chat the draft before publishing it (debug runs).
  await page.getByTestId("tab-playground").click();
  await page.getByTestId("chat-input").fill("How many vacation days do I get?");
  await page.getByTestId("chat-send").click();
  await expect(page.getByTestId("chat-message-assistant").last()).toContainText("15 days", { timeout: 60_000 });
  await expect(page.locator('[data-testid="node-llm"][data-run-status="succeeded"]')).toBeVisible();

  // Publish, then chat with the live version from the playground.
  await page.getByTestId("publish").click();
  await expect(page.getByText(/Published as version 1/)).toBeVisible();
  // Publishing made the draft version 1; the editor continues on a new draft copied from it.
  await expect(page.getByTestId("draft-state")).toHaveText("Draft revision 1");
  await page.getByTestId("tab-playground").click();
  await page.getByTestId("playground-target").getByText("Live version").click();
  await page.getByTestId("chat-input").fill("How many vacation days do I get?");
  await page.getByTestId("chat-send").click();
  const answer = page.getByTestId("chat-message-assistant").last();
  await expect(answer).toContainText("15 days", { timeout: 60_000 });
  await expect(page.locator('[data-testid="node-knowledge"][data-run-status="succeeded"]')).toBeVisible();
  await expect(page.locator('[data-testid="node-llm"][data-run-status="succeeded"]')).toBeVisible();
  await screenshot(page, "playground");

  // The run: its node timings and each node's recorded inputs and outputs.
  await page.getByTestId("chat-run-link").last().click();
  await expect(page.getByTestId("run-detail")).toBeVisible();
  await expect(page.getByTestId("run-waterfall")).toContainText("Knowledge retrieval");
  await screenshot(page, "run");
  // Replay it from the llm node: the knowledge node's recorded output is reused.
  await page.locator(".mantine-Accordion-control", { hasText: "LLM" }).click();
  await page.getByTestId("replay-llm").click();
  await expect(page.getByTestId("run-replay-of")).toContainText("llm");
  await expect(page.getByTestId("run-detail").getByText("reused").first()).toBeVisible();
  await page.getByTestId("bot-tab-runs").click();
  // The node run and the draft's chat (debug runs), the live chat and the replay; users' chats
  // alone: one.
  await expect(page.getByTestId("run-list").getByTestId("run-link")).toHaveCount(4);
  await screenshot(page, "runs");
  await page.getByTestId("run-filter-trigger").click();
  await page.getByRole("option", { name: "chat" }).click();
  await expect(page.getByTestId("run-list").getByTestId("run-link")).toHaveCount(1);

  // Statistics count users' runs only: the one live chat, its success, its nodes.
  await page.getByTestId("bot-tab-statistics").click();
  await expect(page.getByTestId("stats-total")).toContainText("1");
  await expect(page.getByTestId("stats-success")).toContainText("100.0%");
  await expect(page.getByTestId("stats-nodes")).toContainText("knowledge");
  await expect(page.getByTestId("stats-migration")).toContainText("V2 workflow on");
  await screenshot(page, "statistics");

  // Versions: publish v2 (the llm node renamed), roll back to v1 in one click (live again as v3),
  // discard the draft, then restore v2 into the draft.
  await page.getByTestId("bot-tab-editor").click();
  await page.getByTestId("node-llm").click();
  await inspector.getByLabel("Title").fill("Answer writer");
  await page.getByTestId("publish").click();
  await expect(page.getByText(/Published as version 2/)).toBeVisible();
  await page.getByTestId("tab-versions").click();
  await page.getByTestId("rollback-v1").click();
  await expect(page.getByText("v1 is live again (as v3)")).toBeVisible();
  await expect(page.getByTestId("version-list")).toContainText("v3");
  // The draft (a copy of v2) discarded: the next one starts from the live version (v1's graph).
  page.once("dialog", (dialog) => void dialog.accept());
  await page.getByTestId("discard-draft").click();
  await expect(page.getByTestId("node-llm")).not.toContainText("Answer writer");
  await page.getByTestId("tab-versions").click();
  await page.getByTestId("restore-v2").click();
  await expect(page.getByTestId("node-llm")).toContainText("Answer writer");
  await page.getByTestId("tab-versions").click();
  await expect(page.getByTestId("version-list")).toContainText("v3");
  await screenshot(page, "versions");
});
