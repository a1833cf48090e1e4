// POST /api/v1/chat (and the debug runs that answer alike) as Server-Sent Events (EventSource cannot POST or send a bearer token):
// frames `event: <name>\ndata: <json>\n\n`, handed to `onEvent` as they arrive.
import { authHeaders } from "./client";
import { toApiError } from "./problem";

export interface ChatEvent {
  event: string;
  data: Record<string, unknown>;
}

export async function streamChat(
  body: { bot_id: string; message: string; session_id?: string },
  onEvent: (event: ChatEvent) => void,
  signal?: AbortSignal,
): Promise<void> {
  await streamTurn("/api/v1/chat", body, onEvent, signal);
}

/** Any endpoint that answers a turn as these events: the chat, a debug run, a replay. */
export async function streamTurn(
  url: string,
  body: Record<string, unknown>,
  onEvent: (event: ChatEvent) => void,
  signal?: AbortSignal,
): Promise<void> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream", ...authHeaders() },
    body: JSON.stringify({ ...body, stream: true }),
    signal,
  });
  if (!response.ok || !response.body) {
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // keep the text
    }
    throw toApiError(response, parsed);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const name = /^event: (.*)$/m.exec(frame)?.[1] ?? "message";
      const data = /^data: (.*)$/m.exec(frame)?.[1];
      if (data !== undefined && name !== "ping") {
        onEvent({ event: name, data: JSON.parse(data) as Record<string, unknown> });
      }
      end = buffer.indexOf("\n\n");
    }
  }
}
