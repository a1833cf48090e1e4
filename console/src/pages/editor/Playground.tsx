// Chat beside the editor: streams the answer, lights the run's nodes up on the canvas as they
// start and finish, lists the sources with their citations and links to the run's record.
// It chats with the live (published) version; draft runs plug in here once the API has them.
import { Alert, Anchor, Badge, Button, Code, Group, Paper, ScrollArea, Stack, Table, Text, Textarea } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useRef, useState } from "react";
import { Link } from "react-router";

import { api } from "../../api/client";
import { streamChat } from "../../api/chatStream";
import { describeError, unwrap } from "../../api/problem";
import { useT } from "../../i18n/i18n";
import type { RunStatus } from "./graph";

interface Source {
  document_title?: string | null;
  heading?: string | null;
  score?: number | null;
  snippet?: string;
}

/** The session's conversation variables, as stored after its last turn. */
function SessionVariables({ botId, sessionId, turn }: { botId: string; sessionId: string; turn: number }) {
  const t = useT();
  const transcript = useQuery({
    queryKey: ["chat-session", botId, sessionId, turn],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/bots/{bot_id}/sessions/{session_id}", {
          params: { path: { bot_id: botId, session_id: sessionId }, query: { limit: 1 } },
        }),
      ),
  });
  const variables = Object.entries(transcript.data?.variables ?? {});
  return (
    <Stack gap={2} data-testid="chat-variables">
      <Text size="xs" fw={700} c="dimmed">
        {t("playground.variables")}
      </Text>
      {variables.length === 0 ? (
        <Text size="xs" c="dimmed">
          {transcript.isPending ? "…" : t("playground.noVariables")}
        </Text>
      ) : (
        <Table fz="xs" verticalSpacing={2}>
          <Table.Tbody>
            {variables.map(([name, value]) => (
              <Table.Tr key={name} data-testid="chat-variable">
                <Table.Td>{name}</Table.Td>
                <Table.Td>
                  <Code>{JSON.stringify(value)}</Code>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      )}
    </Stack>
  );
}

interface Turn {
  role: "user" | "assistant";
  text: string;
  runId?: string;
  sources?: Source[];
  error?: string;
}

export function Playground({
  botId,
  onNodeStatus,
  onRunStart,
}: {
  botId: string;
  onNodeStatus: (nodeId: string, status: RunStatus) => void;
  onRunStart: () => void;
}) {
  const t = useT();
  const [turns, setTurns] = useState<Turn[]>([]);
  const [message, setMessage] = useState("");
  const [busy, setBusy] = useState(false);
  const session = useRef<string | undefined>(undefined);

  function updateLast(change: (turn: Turn) => Turn) {
    setTurns((all) => all.map((turn, i) => (i === all.length - 1 ? change(turn) : turn)));
  }

  async function send() {
    const text = message.trim();
    if (!text || busy) return;
    setMessage("");
    setBusy(true);
    onRunStart();
    setTurns((all) => [...all, { role: "user", text }, { role: "assistant", text: "" }]);
    try {
      await streamChat(
        { bot_id: botId, message: text, ...(session.current ? { session_id: session.current } : {}) },
        ({ event, data }) => {
          if (event === "session") {
            session.current = String(data.session_id);
            updateLast((turn) => ({ ...turn, runId: String(data.run_id) }));
          } else if (event === "node_started") {
            onNodeStatus(String(data.node_id), "running");
          } else if (event === "node_finished") {
            onNodeStatus(String(data.node_id), data.status as RunStatus);
          } else if (event === "text") {
            updateLast((turn) => ({ ...turn, text: turn.text + String(data.text) }));
          } else if (event === "sources") {
            updateLast((turn) => ({ ...turn, sources: data.sources as Source[] }));
          } else if (event === "message") {
            updateLast((turn) => ({ ...turn, text: String(data.answer) }));
          } else if (event === "error") {
            updateLast((turn) => ({ ...turn, error: String(data.detail) }));
          }
        },
      );
    } catch (error) {
      updateLast((turn) => ({ ...turn, error: describeError(error) }));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Stack gap="xs" h="100%">
      <Group justify="space-between">
        <Badge variant="light">{t("playground.live")}</Badge>
        <Button
          size="compact-xs"
          variant="subtle"
          onClick={() => {
            session.current = undefined;
            setTurns([]);
          }}
        >
          {t("playground.newSession")}
        </Button>
      </Group>
      <ScrollArea h={360} type="auto" aria-live="polite">
        <Stack gap="xs">
          {turns.length === 0 && (
            <Text size="xs" c="dimmed">
              {t("playground.hint")}
            </Text>
          )}
          {turns.map((turn, i) => (
            <Paper
              key={i}
              p="xs"
              withBorder
              bg={turn.role === "user" ? "var(--mantine-color-blue-light)" : undefined}
              data-testid={turn.role === "assistant" ? "chat-message-assistant" : "chat-message-user"}
            >
              <Text size="sm" style={{ whiteSpace: "pre-wrap" }}>
                {turn.text || (turn.role === "assistant" && !turn.error ? "…" : "")}
              </Text>
              {turn.error && (
                <Alert color="red" p="xs" mt={4}>
                  {turn.error}
                </Alert>
              )}
              {turn.sources && turn.sources.length > 0 && (
                <Stack gap={2} mt={4}>
                  {turn.sources.map((source, j) => (
                    <Text key={j} size="xs" c="dimmed" lineClamp={2}>
                      [{j + 1}] {source.document_title ?? ""}
                      {source.heading ? ` · ${source.heading}` : ""}
                      {typeof source.score === "number" ? ` (${source.score.toFixed(2)})` : ""}: {source.snippet}
                    </Text>
                  ))}
                </Stack>
              )}
              {turn.runId && !busy && (
                <Anchor component={Link} to={`/bots/${botId}/runs/${turn.runId}`} size="xs" data-testid="chat-run-link">
                  {t("playground.openRun")}
                </Anchor>
              )}
            </Paper>
          ))}
        </Stack>
      </ScrollArea>
      {session.current && (
        <>
          <Text size="xs" c="dimmed">
            {t("playground.session")}: {session.current}
          </Text>
          {!busy && <SessionVariables botId={botId} sessionId={session.current} turn={turns.length} />}
        </>
      )}
      <Textarea
        aria-label={t("playground.message")}
        placeholder={t("playground.placeholder")}
        value={message}
        autosize
        minRows={2}
        onChange={(e) => {
          setMessage(e.currentTarget.value);
        }}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey) {
            e.preventDefault();
            void send();
          }
        }}
        data-testid="chat-input"
      />
      <Button onClick={() => void send()} loading={busy} data-testid="chat-send">
        {t("playground.send")}
      </Button>
    </Stack>
  );
}
