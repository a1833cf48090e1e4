// The typed API client. Its types are generated from the server's OpenAPI schema at build time
// (scripts/gen-api.mjs), so a path, parameter or field the API no longer has fails `tsc`.
import createClient from "openapi-fetch";

import { getSession, setSession } from "./session";
import type { components, paths } from "./schema.gen";

export type Schemas = components["schemas"];

export const api = createClient<paths>({ baseUrl: window.location.origin });

api.use({
  onRequest({ request }) {
    const session = getSession();
    if (session) request.headers.set("Authorization", `Bearer ${session.token}`);
    return request;
  },
  onResponse({ request, response }) {
    // An expired or revoked token: back to the sign-in page (the router watches the session).
    // Only when it is still the current one: a request sent just before a password change
    // carried the token that change replaced.
    const session = getSession();
    if (response.status === 401 && session && request.headers.get("Authorization") === `Bearer ${session.token}`) {
      setSession(null);
    }
    return response;
  },
});

/** Headers for requests made outside the client (streams, uploads with progress). */
export function authHeaders(): Record<string, string> {
  const session = getSession();
  return session ? { Authorization: `Bearer ${session.token}` } : {};
}
