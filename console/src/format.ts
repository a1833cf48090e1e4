// Numbers and dates as people read them, in the console's language.
import type { Language } from "./i18n/i18n";

const locales: Record<Language, string> = { en: "en-US", ko: "ko-KR" };

export function formatDateTime(value: string | null | undefined, language: Language): string {
  if (!value) return "-";
  return new Date(value).toLocaleString(locales[language], {
    dateStyle: "medium",
    timeStyle: "short",
  });
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function formatPercent(rate: number | null | undefined): string {
  if (rate === null || rate === undefined) return "-";
  return `${(rate * 100).toFixed(1)}%`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
