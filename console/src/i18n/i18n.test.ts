import { describe, expect, it } from "vitest";

import { en } from "./en";
import { ko } from "./ko";
import { format } from "./format";

describe("format", () => {
  it("fills named placeholders and leaves unknown ones visible", () => {
    expect(format("{name} has {count} runs", { name: "bot", count: 3 })).toBe("bot has 3 runs");
    expect(format("{missing} stays", {})).toBe("{missing} stays");
    expect(format("no vars")).toBe("no vars");
  });
});

describe("catalogues", () => {
  it("Korean translates every English key, with the same placeholders", () => {
    const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      expect(ko[key].trim(), key).not.toBe("");
      expect(placeholders(ko[key]), key).toEqual(placeholders(en[key]));
    }
    expect(Object.keys(ko).sort()).toEqual(Object.keys(en).sort());
  });

  it("Korean messages are in Korean", () => {
    const hangul = /[\uac00-\ud7a3]/;
    const untranslated = Object.entries(ko).filter(
      ([key, text]) => !hangul.test(text) && en[key as keyof typeof en] === text,
    );
    expect(untranslated).toEqual([]);
  });
});
