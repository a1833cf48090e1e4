// Errors from the API are RFC 9457 problems (application/problem+json); this turns any failed
// call into an ApiError that carries the problem, so screens can show its detail and put each
// field problem next to the field it names.
import type { Schemas } from "./client";

export type Problem = Schemas["Problem"];
export type FieldProblem = Schemas["FieldProblem"];

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem | null;

  constructor(status: number, problem: Problem | null, fallback: string) {
    super(problem?.detail ?? fallback);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
  }

  get fieldProblems(): FieldProblem[] {
    return this.problem?.errors ?? [];
  }

  /** Extra members of the problem (e.g. `problems` of a failed publish). */
  member(name: string): unknown {
    return this.problem ? (this.problem as Record<string, unknown>)[name] : undefined;
  }
}

function isProblem(value: unknown): value is Problem {
  return typeof value === "object" && value !== null && "status" in value && "detail" in value;
}

export function toApiError(response: Response, body: unknown): ApiError {
  const problem = isProblem(body) ? body : null;
  const text = typeof body === "string" && body ? body : response.statusText;
  return new ApiError(response.status, problem, `${response.status} ${text}`);
}

interface Result<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The data of a successful call; throws ApiError otherwise. */
export function unwrap<T>(result: Result<T>): T {
  if (!result.response.ok || result.error !== undefined) {
    throw toApiError(result.response, result.error);
  }
  return result.data as T;
}

/** For calls answered 204: throws ApiError on failure. */
export function check(result: Result<unknown>): void {
  unwrap(result);
}

/** A message for people: the problem's detail and its field problems, one per line. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    const fields = error.fieldProblems.map((p) => `${p.field}: ${p.reason}`);
    return [error.message, ...fields].join("\n");
  }
  return error instanceof Error ? error.message : String(error);
}

/** The reason a failed call gives for one request field (`email` matches `body.email`). */
export function fieldError(error: unknown, field: string): string | undefined {
  return error instanceof ApiError
    ? error.fieldProblems.find((p) => p.field === field || p.field.endsWith(`.${field}`))?.reason
    : undefined;
}
