// The editor against the live catalogue (GET /api/v1/node-types): every node type has a palette
// entry and a config form generated from its JSON Schema, maps (headers) are edited as rows and
// end up in the saved draft.
import { apiCall, expect, register, screenshot, test, uniqueEmail } from "./fixtures";

interface Catalogue {
  data: { type: string; title: string; config_schema: { properties?: Record<string, { title?: string }> } }[];
}
interface Versions {
  data: { id: string; status: string }[];
}
interface Version {
  graph: { nodes: { type: string; config?: Record<string, unknown> }[] };
}

test("every node type gets a palette entry and a config form", async ({ page }) => {
  await register(page, uniqueEmail("catalogue"));
  const catalogue = await apiCall<Catalogue>(page, "GET", "/api/v1/node-types");
  expect(catalogue.data.length).toBeGreaterThan(10);
  await page.getByTestId("bot-create").click();
  await page.getByTestId("bot-name").fill("Every node");
  await page.getByTestId("bot-create-submit").click();
  await expect(page.getByTestId("workflow-canvas")).toBeVisible();
  const inspector = page.getByTestId("node-inspector");
  for (const type of catalogue.data) {
    await page.getByTestId("node-palette").getByTestId(`palette-${type.type}`).click();
    await expect(inspector.getByRole("heading")).toContainText(type.title);
    for (const [name, property] of Object.entries(type.config_schema.properties ?? {})) {
      await expect(inspector.getByText(property.title ?? name).first(), `${type.type}.${name}`).toBeAttached();
    }
  }

  // A map field: an HTTP request's headers, one row per header.
  await page.getByTestId("node-palette").getByTestId("palette-http_request").click();
  const headers = inspector.getByTestId("map-headers");
  await headers.getByRole("button", { name: "Headers" }).click();
  await headers.getByLabel("Headers 1: name").fill("X-Trace");
  await headers.getByLabel("Headers 1: value").fill("{{ query }}");
  await page.getByTestId("save-draft").click();
  await expect(page.getByTestId("draft-state")).toHaveText(/Draft revision \d+/);
  await screenshot(page, "editor-catalogue");
  const botPath = new URL(page.url()).pathname.split("/")[2] ?? "";
  const base = `/api/v1/bots/${botPath}/workflow-versions`;
  const draft = (await apiCall<Versions>(page, "GET", base)).data.find((v) => v.status === "draft");
  const saved = await apiCall<Version>(page, "GET", `${base}/${draft?.id ?? ""}`);
  const configs = saved.graph.nodes.filter((n) => n.type === "http_request").map((n) => n.config?.headers);
  expect(configs).toContainEqual({ "X-Trace": "{{ query }}" });
});
