import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// `npm run dev` serves the console on :5173 and forwards API paths to `snapagent serve` on :8000.
const api = process.env.SNAPAGENT_API_URL ?? "http://127.0.0.1:8000";
const proxied = ["/api", "/v1", "/health", "/docs", "/openapi.json"];

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // Editor and charts are split per page (lazy routes); the shared vendor chunk stays large.
    chunkSizeWarningLimit: 1500,
  },
  server: {
    proxy: Object.fromEntries(proxied.map((path) => [path, { target: api }])),
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
