// The console's shell: served at /, sign-in, language switch, client routes, /docs offline.
import { execFileSync } from "node:child_process";

import { PASSWORD, expect, register, screenshot, signIn, test, uniqueEmail } from "./fixtures";

test("register, sign out, sign in again", async ({ page, consoleGuard }) => {
  consoleGuard.allow(/status of 401/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login/);
  await screenshot(page, "login");
  const email = uniqueEmail("shell");
  await register(page, email);
  await page.getByRole("button", { name: /sign out/i }).click();
  await expect(page.getByTestId("login-email")).toBeVisible();
  await page.getByTestId("login-email").fill(email);
  await page.getByTestId("login-password").fill("wrong password!");
  await page.getByTestId("login-submit").click();
  await expect(page.getByRole("alert")).toBeVisible();
  await page.getByTestId("login-password").fill("correct horse battery staple");
  await page.getByTestId("login-submit").click();
  await expect(page.getByTestId("bot-list")).toBeVisible();
});

test("Korean renders with the bundled font", async ({ page }) => {
  await register(page, uniqueEmail("korean"));
  await page.getByTestId("language-select").click();
  await page.getByRole("option", { name: "한국어" }).click();
  await expect(page.getByRole("heading", { name: "봇" })).toBeVisible();
  await expect(page.locator("html")).toHaveAttribute("lang", "ko");
  // The Korean glyphs come from the console's own Pretendard subset, not a system font.
  const loaded = await page.evaluate(async () => {
    await document.fonts.load('16px "Pretendard Variable"', "봇 지식");
    return document.fonts.check('16px "Pretendard Variable"', "봇 지식");
  });
  expect(loaded).toBe(true);
  await screenshot(page, "bots-ko");
});

test("a client route survives a reload", async ({ page }) => {
  await register(page, uniqueEmail("reload"));
  await page.goto("/knowledge");
  await page.reload();
  await expect(page.getByRole("heading", { name: "Knowledge" })).toBeVisible();
});

test("/docs loads Swagger UI from this server only", async ({ page }) => {
  await page.goto("/docs");
  await expect(page.locator(".swagger-ui .title").first()).toContainText("SnapAgent API");
});

test("change the password: this tab stays signed in, the new one signs in", async ({ page, consoleGuard }) => {
  consoleGuard.allow(/status of 422/);
  const email = uniqueEmail("password");
  await register(page, email);
  await page.getByRole("link", { name: /Account/ }).click();
  // A wrong current password is named on its field.
  await page.getByTestId("password-current").fill("not my password");
  await page.getByTestId("password-new").fill("a brand new passphrase");
  await page.getByTestId("password-submit").click();
  await expect(page.getByTestId("password-form")).toContainText(/current password/i);
  await page.getByTestId("password-current").fill(PASSWORD);
  await page.getByTestId("password-submit").click();
  await expect(page.getByTestId("password-changed")).toBeVisible();
  await page.reload();
  await expect(page.getByTestId("api-key-name")).toBeVisible();
  await screenshot(page, "account");
  await page.getByRole("button", { name: "Sign out", exact: true }).click();
  await signIn(page, email, "a brand new passphrase");
  // Sign out everywhere ends this session too.
  await page.getByRole("link", { name: /Account/ }).click();
  await page.getByTestId("logout-everywhere").click();
  await expect(page.getByTestId("login-email")).toBeVisible();
});

test.describe("registration closed", () => {
  test.use({ baseURL: process.env.E2E_CLOSED_URL });

  test("no sign-up on the sign-in page; an account creates one for a teammate", async ({ page }) => {
    // The operator creates the first account, as `snapagent users create` does on a real server.
    const operator = uniqueEmail("operator");
    execFileSync(process.env.E2E_SERVER_BIN ?? "snapagent", ["users", "create", operator, "--password-stdin"], {
      input: `${PASSWORD}\n`,
      env: { ...process.env, SNAPAGENT_DATA_DIR: process.env.E2E_CLOSED_DATA_DIR },
      stdio: ["pipe", "ignore", "pipe"],
    });
    await page.goto("/login");
    await expect(page.getByTestId("registration-closed")).toBeVisible();
    await expect(page.getByText("Create account")).toHaveCount(0);
    await signIn(page, operator);
    await page.getByRole("link", { name: /Account/ }).click();
    const teammate = uniqueEmail("teammate");
    const form = page.getByTestId("teammate-form");
    await form.getByLabel("Email").fill(teammate);
    await form.getByRole("textbox", { name: "Password" }).fill("teammate passphrase");
    await form.getByRole("button", { name: "Create account" }).click();
    await expect(form).toContainText(`Created the account ${teammate}`);
    await page.getByRole("button", { name: "Sign out", exact: true }).click();
    await signIn(page, teammate, "teammate passphrase");
  });
});
