// The console's shell: served at /, sign-in, language switch, client routes, /docs offline.
import { expect, register, screenshot, test, uniqueEmail } from "./fixtures";

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
