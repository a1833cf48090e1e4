// Chat beside the editor: with the draft (debug runs: POST .../workflow-versions/{draft}/run,
// saved first, never counted in statistics) or the live version (POST /api/v1/chat). Streams
// the answer, lights the run's nodes up on the canvas as they start and finish, lists the sources
// with their citations, links to the run's record and shows a live session's variables.
import {
  Alert,
  Anchor,
  Button,
  Code,
  Group,
  Paper,
  ScrollArea,
  SegmentedControl,
  Stack,
  Table,
  Text,
  Textarea,
} from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useRef, useState } from "react";
import { Link } from "react-router";

import { api } from "../../api/client";
import { streamTurn } from "../../api/chatStream";
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

export type PlaygroundTarget = "draft" | "live";

export function Playground({
  botId,
  draftId,
  ensureSaved,
  onNodeStatus,
  onRunStart,
}: {
  botId: string;
  draftId: string;
  /** Saves unsaved changes first (a debug run runs the saved draft); false when that failed. */
  ensureSaved: () => Promise<boolean>;
  onNodeStatus: (nodeId: string, status: RunStatus) => void;
  onRunStart: () => void;
}) {
  const t = useT();
  const [target, setTarget] = useState<PlaygroundTarget>("draft");
  const [turns, setTurns] = useState<Turn[]>([]);
  const [message, setMessage] = useState("");
  const [busy, setBusy] = useState(false);
  const session = useRef<string | undefined>(undefined);

  function newSession() {
    session.current = undefined;
    setTurns([]);
  }

  function updateLast(change: (turn: Turn) => Turn) {
    setTurns((all) => all.map((turn, i) => (i === all.length - 1 ? change(turn) : turn)));
  }

  async function send() {
    const text = message.trim();
    if (!text || busy) return;
    setBusy(true);
    if (target === "draft" && !(await ensureSaved())) {
      setBusy(false);
      return;
    }
    setMessage("");
    onRunStart();
    setTurns((all) => [...all, { role: "user", text }, { role: "assistant", text: "" }]);
    const continued = session.current ? { session_id: session.current } : {};
    const [url, body] =
      target === "draft"
        ? [`/api/v1/bots/${botId}/workflow-versions/${draftId}/run`, { message: text, ...continued }]
        : ["/api/v1/chat", { bot_id: botId, message: text, ...continued }];
    try {
      await streamTurn(
        url,
        body,
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
        <SegmentedControl
          size="xs"
          aria-label={t("playground.target")}
          value={target}
          onChange={(value) => {
            setTarget(value);
            newSession();
          }}
          data={[
            { value: "draft", label: t("playground.draft") },
            { value: "live", label: t("playground.live") },
          ]}
          data-testid="playground-target"
        />
        <Button size="compact-xs" variant="subtle" onClick={newSession}>
          {t("playground.newSession")}
        </Button>
      </Group>
      <Text size="xs" c="dimmed">
        {target === "draft" ? t("playground.draftHint") : t("playground.liveHint")}
      </Text>
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
          {!busy && target === "live" && (
            <SessionVariables botId={botId} sessionId={session.current} turn={turns.length} />
          )}
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
