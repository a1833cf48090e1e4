// The page every test uses: any console error, uncaught exception or request to another
// origin fails the test (the console must load nothing from the internet).
import { expect, test as base } from "@playwright/test";
import type { Page } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";

export const SCREENSHOTS = resolve(import.meta.dirname, "../screenshots");

/** Lets a test name the errors it provokes on purpose (e.g. the 401 of a wrong password). */
export interface ConsoleGuard {
  allow: (pattern: RegExp) => void;
}

export const test = base.extend<{ consoleGuard: ConsoleGuard }>({
  consoleGuard: [
    async ({ page, baseURL }, use) => {
    const problems: string[] = [];
    const allowed: RegExp[] = [];
    const origin = new URL(baseURL ?? "http://127.0.0.1").origin;
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console error: ${message.text()}`);
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    await page.route(
      (url) => url.origin !== origin && url.protocol !== "data:" && url.protocol !== "blob:",
      async (route) => {
        problems.push(`request to another origin: ${route.request().url()}`);
        await route.abort();
      },
    );
    await use({ allow: (pattern) => allowed.push(pattern) });
    const unexpected = problems.filter((p) => !allowed.some((pattern) => pattern.test(p)));
    expect(unexpected, "console errors, page errors or foreign requests").toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

/** A full-page screenshot under console/screenshots/ (written by every run, never committed). */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  // Fonts first: a screenshot taken before the Korean subset arrives shows empty boxes.
  await page.evaluate(() => document.fonts.ready);
  await page.screenshot({ path: resolve(SCREENSHOTS, `${name}.png`) });
}

let counter = 0;
/** An email no earlier run of this server has used. */
export function uniqueEmail(prefix: string): string {
  counter += 1;
  return `${prefix}-${String(Date.now())}-${String(counter)}@example.com`;
}

export const PASSWORD = "correct horse battery staple";

export async function register(page: Page, email: string): Promise<void> {
  await page.goto("/login");
  await page.getByText(/^(Create account|계정 만들기)$/).click();
  await page.getByTestId("login-email").fill(email);
  await page.getByTestId("login-password").fill(PASSWORD);
  await page.getByTestId("login-submit").click();
  await expect(page.getByTestId("bot-list")).toBeVisible();
}

export async function signIn(page: Page, email: string, password: string = PASSWORD): Promise<void> {
  await page.goto("/login");
  await page.getByTestId("login-email").fill(email);
  await page.getByTestId("login-password").fill(password);
  await page.getByTestId("login-submit").click();
  await expect(page.getByTestId("bot-list")).toBeVisible();
}

/** The signed-in console's access token (for setting things up through the API itself). */
async function token(page: Page): Promise<string> {
  const raw = await page.evaluate(() => localStorage.getItem("snapagent.token"));
  if (!raw) throw new Error("not signed in");
  return (JSON.parse(raw) as { token: string }).token;
}

/** A JSON call to the API as the signed-in user; fails the test on an error status. */
export async function apiCall<T>(page: Page, method: "GET" | "POST" | "PUT", path: string, body?: unknown): Promise<T> {
  const response = await page.request.fetch(path, {
    method,
    headers: { Authorization: `Bearer ${await token(page)}` },
    ...(body === undefined ? {} : { data: body }),
  });
  expect(response.ok(), `${method} ${path}: ${await response.text()}`).toBe(true);
  return (await response.json()) as T;
}

/** A bot whose first version (this graph) is published; answers its id. */
export async function publishedBot(page: Page, name: string, graph: unknown): Promise<string> {
  const bot = await apiCall<{ id: string }>(page, "POST", "/api/v1/bots", { name });
  const base = `/api/v1/bots/${bot.id}/workflow-versions`;
  const versions = await apiCall<{ data: { id: string; revision: number }[] }>(page, "GET", base);
  const draft = versions.data[0];
  if (!draft) throw new Error("a new bot has a draft");
  const saved = await apiCall<{ revision: number }>(page, "PUT", `${base}/${draft.id}`, {
    graph,
    revision: draft.revision,
  });
  await apiCall(page, "POST", `${base}/${draft.id}/publish`, { revision: saved.revision });
  return bot.id;
}
