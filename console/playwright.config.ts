// End-to-end tests in a real headless Chromium (Debian's `chromium` package; nothing downloads a
// browser) against a real `snapagent serve` that this run starts on a free loopback port, with a
// fresh data directory and the console built into dist/.
//   CHROMIUM_PATH      the browser (default /usr/bin/chromium)
//   SNAPAGENT_BIN      the server command (default ../.venv/bin/snapagent)
import { defineConfig } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

// The config is loaded by the runner and again by each worker: the first load picks the port
// and data directory and passes them on through the environment the workers inherit.
function freePort(): string {
  return execFileSync(process.execPath, [
    "-e",
    "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})",
  ])
    .toString()
    .trim();
}
process.env.E2E_PORT ??= freePort();
process.env.E2E_DATA_DIR ??= mkdtempSync(join(tmpdir(), "snapagent-e2e-"));
// A second server with registration closed (SNAPAGENT_REGISTRATION=closed), for the sign-in
// page that offers no "Create account" and the account page that creates one for a teammate.
process.env.E2E_CLOSED_PORT ??= freePort();
process.env.E2E_CLOSED_DATA_DIR ??= mkdtempSync(join(tmpdir(), "snapagent-e2e-closed-"));

const port = process.env.E2E_PORT;
const baseURL = `http://127.0.0.1:${port}`;
const closedURL = `http://127.0.0.1:${process.env.E2E_CLOSED_PORT}`;
const root = import.meta.dirname;
const server = process.env.SNAPAGENT_BIN ?? resolve(root, "../.venv/bin/snapagent");
process.env.E2E_SERVER_BIN = server;
process.env.E2E_CLOSED_URL = closedURL;

function serve(url: string, env: Record<string, string>) {
  return {
    command: `"${server}" serve --host 127.0.0.1 --port ${new URL(url).port}`,
    url: `${url}/health/ready`,
    timeout: 180_000,
    reuseExistingServer: false,
    stdout: "ignore" as const,
    stderr: "pipe" as const,
    env: {
      SNAPAGENT_CONSOLE_DIR: resolve(root, "dist"),
      HF_HUB_OFFLINE: "1",
      TRANSFORMERS_OFFLINE: "1",
      ...env,
    },
  };
}

export default defineConfig({
  testDir: "e2e",
  outputDir: "test-results",
  // One server, one browser, tests in order: the flow builds on what earlier steps made.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 120_000,
  expect: { timeout: 15_000 },
  reporter: process.env.CI ? [["list"]] : [["list"]],
  use: {
    baseURL,
    viewport: { width: 1280, height: 800 },
    screenshot: "only-on-failure",
    trace: "off",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  webServer: [
    serve(baseURL, { SNAPAGENT_DATA_DIR: process.env.E2E_DATA_DIR }),
    serve(closedURL, { SNAPAGENT_DATA_DIR: process.env.E2E_CLOSED_DATA_DIR, SNAPAGENT_REGISTRATION: "closed" }),
  ],
});
