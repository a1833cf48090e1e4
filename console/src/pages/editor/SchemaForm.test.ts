import { describe, expect, it } from "vitest";

import { parseSelector } from "./SchemaForm";

describe("selector text", () => {
  it("splits node, port and path; digits after the port are indexes", () => {
    expect(parseSelector("kb.documents.0.text")).toEqual(["kb", "documents", 0, "text"]);
    expect(parseSelector("sys.query")).toEqual(["sys", "query"]);
    // A node or port spelled with digits stays a string: only path steps are indexes.
    expect(parseSelector("7.1")).toEqual(["7", "1"]);
    expect(parseSelector("llm.")).toEqual(["llm"]);
  });
});
