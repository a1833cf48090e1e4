// The workflow editor: palette, canvas, inspector / conversation variables / playground /
// problems / versions, and the toolbar
// (save draft, validate, publish, layout, undo/redo). Keyboard: Ctrl+S save, Ctrl+Z / Ctrl+Shift+Z
// undo/redo, Ctrl+C / Ctrl+V copy/paste nodes, Delete removes the selection.
import {
  Alert,
  Badge,
  Button,
  Group,
  Modal,
  Paper,
  ScrollArea,
  Stack,
  Tabs,
  Text,
  Tooltip,
} from "@mantine/core";
import { notifications } from "@mantine/notifications";
import { IconArrowBackUp, IconArrowForwardUp, IconLayoutDistributeHorizontal } from "@tabler/icons-react";
import { useQueryClient } from "@tanstack/react-query";
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  addEdge,
  useEdgesState,
  useNodesState,
  useReactFlow,
  type Connection,
  type IsValidConnection,
} from "@xyflow/react";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { DragEvent } from "react";

import { api, type Schemas } from "../../api/client";
import { ApiError, describeError, unwrap } from "../../api/problem";
import { QueryState } from "../../components/QueryState";
import { useT } from "../../i18n/i18n";
import { catalogPorts, fetchPorts, useCatalogue, type NodeType } from "./catalogue";
import {
  checkConnection,
  edgeId,
  flowToGraph,
  freshId,
  graphExtra,
  graphToFlow,
  handlePort,
  problemsByNode,
  upstreamOf,
  type EditorEdge,
  type EditorNode,
  type RunStatus,
  type WorkflowGraph,
  type WorkflowNode,
} from "./graph";
import {
  declaredVariables,
  serverVariableProblems,
  usableVariables,
  variableSuggestions,
  withVariables,
  type ConversationVariable,
  type SystemValue,
} from "./conversation";
import { Inspector, type SelectorGroup } from "./Inspector";
import { NodeRunPanel } from "./NodeRunPanel";
import { autoLayout } from "./layout";
import { NodeCard } from "./NodeCard";
import { DRAG_TYPE, Palette } from "./Palette";
import { Playground } from "./Playground";
import { useDraft, versionsKey } from "./useDraft";
import { VariablesPanel } from "./VariablesPanel";
import { VersionsPanel } from "./VersionsPanel";

type Bot = Schemas["BotPublic"];
type Problem = Schemas["GraphProblem"];
const nodeTypes = { workflow: NodeCard };

/** The editor's graph as the API's typed `WorkflowGraph`. A draft may be half-finished (a
 * node whose config is still incomplete), which the server accepts and validates itself, so
 * the typed union of node configs is not checked here. */
function sendable(graph: WorkflowGraph): Schemas["WorkflowGraph"] {
  return graph as unknown as Schemas["WorkflowGraph"];
}
const HISTORY_LIMIT = 100;

interface Snapshot {
  nodes: EditorNode[];
  edges: EditorEdge[];
  variables: ConversationVariable[];
}

function Editor({
  bot,
  draft,
  types,
  systemValues,
}: {
  bot: Bot;
  draft: Schemas["VersionPublic"] & { graph: WorkflowGraph };
  types: NodeType[];
  systemValues: SystemValue[];
}) {
  const t = useT();
  const queryClient = useQueryClient();
  const flow = useReactFlow<EditorNode, EditorEdge>();
  const typeOf = useMemo(() => new Map(types.map((type) => [type.type, type])), [types]);
  const initial = useMemo(
    () => graphToFlow(draft.graph, (node) => catalogPorts(typeOf.get(node.type))),
    [draft.graph, typeOf],
  );
  const [nodes, setNodes, onNodesChange] = useNodesState<EditorNode>(initial.nodes);
  const [edges, setEdges, onEdgesChange] = useEdgesState<EditorEdge>(initial.edges);
  const [variables, setVariables] = useState(() => declaredVariables(draft.graph));
  const [revision, setRevision] = useState(draft.revision);
  const [dirty, setDirty] = useState(false);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [busy, setBusy] = useState<"save" | "publish" | "validate" | null>(null);
  const [conflict, setConflict] = useState<string | null>(null);
  const [refused, setRefused] = useState<string | null>(null);
  const [tab, setTab] = useState<string | null>("node");
  const history = useRef<{ past: Snapshot[]; future: Snapshot[] }>({ past: [], future: [] });
  const clipboard = useRef<Pick<Snapshot, "nodes" | "edges"> | null>(null);
  const extra = useMemo(() => graphExtra(draft.graph), [draft.graph]);
  const selected = nodes.find((n) => n.selected);

  // Remember the state before a change, for undo.
  const remember = useCallback(() => {
    history.current.past = [...history.current.past.slice(-HISTORY_LIMIT), { nodes, edges, variables }];
    history.current.future = [];
    setDirty(true);
  }, [nodes, edges, variables]);

  const restore = useCallback(
    (from: "past" | "future") => {
      const stack = history.current[from];
      const snapshot = stack.pop();
      if (!snapshot) return;
      const other = from === "past" ? "future" : "past";
      history.current[other].push({ nodes, edges, variables });
      setNodes(snapshot.nodes);
      setEdges(snapshot.edges);
      setVariables(snapshot.variables);
      setDirty(true);
    },
    [nodes, edges, variables, setNodes, setEdges],
  );

  // Dynamic ports: ask the server for the ports of each node's current config.
  const refreshPorts = useCallback(
    (node: WorkflowNode) => {
      if (!typeOf.get(node.type)?.dynamic_ports) return;
      void fetchPorts(node).then((ports) => {
        if (!ports) return;
        setNodes((all) =>
          all.map((n) => (n.id === node.id && n.data.node === node ? { ...n, data: { ...n.data, ports } } : n)),
        );
      });
    },
    [typeOf, setNodes],
  );
  useEffect(() => {
    initial.nodes.forEach((n) => {
      refreshPorts(n.data.node);
    });
  }, [initial, refreshPorts]);

  // Selecting a node opens its inspector. React Flow calls this again whenever the handler's
  // identity changes, so it is stable and acts only on a new selection (a run lighting nodes up
  // must not pull the user away from the playground).
  const lastSelection = useRef("");
  const onSelectionChange = useCallback(({ nodes: chosen }: { nodes: EditorNode[] }) => {
    const ids = chosen.map((n) => n.id).join(",");
    if (ids === lastSelection.current) return;
    lastSelection.current = ids;
    if (chosen.length) setTab("node");
  }, []);

  const graph = useCallback(
    () => flowToGraph(nodes, edges, withVariables(extra, variables)),
    [nodes, edges, extra, variables],
  );

  function showProblems(found: Problem[]) {
    setProblems(found);
    const byNode = problemsByNode(found, nodes.map((n) => n.id));
    setNodes((all) => all.map((n) => ({ ...n, data: { ...n.data, problems: byNode.get(n.id) ?? [] } })));
    // Problems with the declarations are shown next to their fields.
    if (Object.keys(serverVariableProblems(found)).length) setTab("variables");
    else if (found.length) setTab("problems");
  }

  function changeVariables(next: ConversationVariable[]) {
    remember();
    setVariables(next);
    // The server's problems with the declarations described the old ones.
    setProblems((all) => all.filter((p) => !p.path?.startsWith("conversation_variables")));
  }

  const path = { bot_id: bot.id, version_id: draft.id };

  async function save(): Promise<number | null> {
    setBusy("save");
    try {
      const saved = unwrap(
        await api.PUT("/api/v1/bots/{bot_id}/workflow-versions/{version_id}", {
          params: { path },
          body: { graph: sendable(graph()), revision },
        }),
      );
      setRevision(saved.revision);
      setDirty(false);
      void queryClient.invalidateQueries({ queryKey: versionsKey(bot.id), exact: true });
      notifications.show({ message: t("editor.saved", { revision: saved.revision }), color: "green" });
      return saved.revision;
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) setConflict(error.message);
      else {
        // A graph the server refuses names the field and the reason (problem+json `problems`).
        const found = error instanceof ApiError ? error.member("problems") : undefined;
        if (Array.isArray(found)) showProblems(found as Problem[]);
        notifications.show({ message: describeError(error), color: "red" });
      }
      return null;
    } finally {
      setBusy(null);
    }
  }

  /** Debug runs run the saved draft: save unsaved changes first. */
  async function ensureSaved(): Promise<boolean> {
    return !dirty || (await save()) !== null;
  }

  async function validate() {
    setBusy("validate");
    try {
      const report = unwrap(
        await api.POST("/api/v1/bots/{bot_id}/workflow-versions/validate", {
          params: { path: { bot_id: bot.id } },
          body: { graph: sendable(graph()) },
        }),
      );
      showProblems(report.problems);
      if (report.valid) notifications.show({ message: t("editor.valid"), color: "green" });
    } catch (error) {
      notifications.show({ message: describeError(error), color: "red" });
    } finally {
      setBusy(null);
    }
  }

  async function publish() {
    const current = dirty ? await save() : revision;
    if (current === null) return;
    setBusy("publish");
    try {
      const published = unwrap(
        await api.POST("/api/v1/bots/{bot_id}/workflow-versions/{version_id}/publish", {
          params: { path },
          body: { revision: current },
        }),
      );
      showProblems([]);
      notifications.show({
        message: t("editor.published", { version: published.version_number ?? "?" }),
        color: "green",
      });
      // Publishing turns the draft into a version; the next edit starts a new draft.
      await queryClient.invalidateQueries({ queryKey: versionsKey(bot.id) });
    } catch (error) {
      const found = error instanceof ApiError ? error.member("problems") : undefined;
      if (Array.isArray(found)) showProblems(found as Problem[]);
      notifications.show({ message: describeError(error), color: "red" });
    } finally {
      setBusy(null);
    }
  }

  function addNode(type: NodeType, position?: { x: number; y: number }) {
    remember();
    const id = freshId(type.type, nodes.map((n) => n.id));
    const node: WorkflowNode = { id, type: type.type, title: type.title, config: { ...type.default_config } };
    const where = position ?? flow.screenToFlowPosition({ x: window.innerWidth / 2, y: window.innerHeight / 2 });
    setNodes((all) => [
      ...all.map((n) => ({ ...n, selected: false })),
      {
        id,
        type: "workflow",
        position: where,
        selected: true,
        data: { node, ports: catalogPorts(type) ?? { inputs: [], outputs: [], branches: [] }, problems: [] },
      },
    ]);
    setTab("node");
    refreshPorts(node);
  }

  function updateNode(next: WorkflowNode) {
    remember();
    setNodes((all) => all.map((n) => (n.id === next.id ? { ...n, data: { ...n.data, node: next } } : n)));
    refreshPorts(next);
  }

  const isValidConnection: IsValidConnection<EditorEdge> = useCallback(
    (c) =>
      checkConnection(
        nodes.find((n) => n.id === c.source),
        c.sourceHandle,
        nodes.find((n) => n.id === c.target),
        c.targetHandle,
        edges,
      ).ok,
    [nodes, edges],
  );

  function onConnect(connection: Connection) {
    remember();
    const edge = {
      source: connection.source,
      target: connection.target,
      source_port: handlePort(connection.sourceHandle),
      target_port: handlePort(connection.targetHandle),
    };
    setEdges((all) =>
      addEdge(
        { ...connection, id: edgeId(edge), data: { extra: {}, nullPorts: { source: false, target: false } } },
        all,
      ),
    );
  }

  function onConnectEnd(_: unknown, state: { isValid: boolean | null; fromNode: { id: string } | null; fromHandle: { id?: string | null } | null; toNode: { id: string } | null; toHandle: { id?: string | null } | null }) {
    if (state.isValid === false && state.toNode && state.fromNode) {
      const check = checkConnection(
        nodes.find((n) => n.id === state.fromNode?.id),
        state.fromHandle?.id,
        nodes.find((n) => n.id === state.toNode?.id),
        state.toHandle?.id,
        edges,
      );
      setRefused(check.reason ?? null);
    }
  }

  function onDrop(event: DragEvent) {
    event.preventDefault();
    const type = typeOf.get(event.dataTransfer.getData(DRAG_TYPE));
    if (type) addNode(type, flow.screenToFlowPosition({ x: event.clientX, y: event.clientY }));
  }

  function layout() {
    remember();
    setNodes((all) => autoLayout(all, edges));
    void Promise.resolve().then(() => flow.fitView());
  }

  function setRunStatus(nodeId: string, status: RunStatus | undefined) {
    setNodes((all) =>
      all.map((n) =>
        nodeId === "*" || n.id === nodeId ? { ...n, data: { ...n.data, runStatus: status } } : n,
      ),
    );
  }

  // Keyboard shortcuts (the canvas handles Delete itself).
  useEffect(() => {
    function onKey(event: KeyboardEvent) {
      const target = event.target as HTMLElement;
      const typing = target.closest("input, textarea, [contenteditable=true]") !== null;
      const mod = event.ctrlKey || event.metaKey;
      if (!mod) return;
      const key = event.key.toLowerCase();
      if (key === "s") {
        event.preventDefault();
        void save();
      } else if (typing) {
        return;
      } else if (key === "z") {
        event.preventDefault();
        restore(event.shiftKey ? "future" : "past");
      } else if (key === "y") {
        event.preventDefault();
        restore("future");
      } else if (key === "c") {
        const chosen = nodes.filter((n) => n.selected);
        const ids = new Set(chosen.map((n) => n.id));
        clipboard.current = { nodes: chosen, edges: edges.filter((e) => ids.has(e.source) && ids.has(e.target)) };
      } else if (key === "v" && clipboard.current) {
        event.preventDefault();
        remember();
        const taken = nodes.map((n) => n.id);
        const rename = new Map<string, string>();
        for (const n of clipboard.current.nodes) {
          const id = freshId(n.data.node.type, [...taken, ...rename.values()]);
          rename.set(n.id, id);
        }
        const pasted = clipboard.current.nodes.map((n) => {
          const id = rename.get(n.id) ?? n.id;
          return {
            ...n,
            id,
            selected: true,
            position: { x: n.position.x + 40, y: n.position.y + 40 },
            data: { ...n.data, node: { ...n.data.node, id }, problems: [] },
          };
        });
        const pastedEdges = clipboard.current.edges.map((e) => {
          const source = rename.get(e.source) ?? e.source;
          const target = rename.get(e.target) ?? e.target;
          return { ...e, id: `${e.id}~${source}~${target}`, source, target };
        });
        setNodes((all) => [...all.map((n) => ({ ...n, selected: false })), ...pasted]);
        setEdges((all) => [...all, ...pastedEdges]);
      }
    }
    window.addEventListener("keydown", onKey);
    return () => {
      window.removeEventListener("keydown", onKey);
    };
  });

  const upstream = useMemo((): SelectorGroup[] => {
    if (!selected) return [];
    const ids = upstreamOf(selected.id, edges);
    const outputs = nodes
      .filter((n) => ids.has(n.id))
      .flatMap((n) => n.data.ports.outputs.map((p) => ({ value: `${n.id}.${p.name}`, label: `${n.data.node.title ?? n.id} · ${p.name} (${p.type})` })));
    const { conversation, system } = variableSuggestions(variables, systemValues);
    return [
      { group: t("editor.upstreamGroup"), items: outputs },
      { group: t("editor.conversationGroup"), items: conversation },
      { group: t("editor.systemGroup"), items: system },
    ].filter((g) => g.items.length > 0);
  }, [selected, nodes, edges, variables, systemValues, t]);
  const variableErrors = useMemo(() => serverVariableProblems(problems), [problems]);
  const variableNames = useMemo(
    () => usableVariables(variables).map((v) => v.name),
    [variables],
  );
  const wired = useMemo(
    () => new Set(edges.filter((e) => e.target === selected?.id).map((e) => handlePort(e.targetHandle) ?? "")),
    [edges, selected],
  );
  const fieldErrors = useMemo(() => {
    if (!selected) return {};
    const index = nodes.findIndex((n) => n.id === selected.id);
    const prefix = `nodes[${String(index)}].`;
    const errors: Record<string, string> = {};
    for (const p of problems) {
      if (p.path?.startsWith(prefix)) errors[p.path.slice(prefix.length).replace(/^config\./, "").replace(/\[(\d+)\]/g, ".$1")] = p.message;
    }
    return errors;
  }, [problems, nodes, selected]);

  return (
    <Stack gap="xs">
      <Group justify="space-between" wrap="wrap" gap="xs">
        <Group gap="xs">
          <Badge variant="light" color={dirty ? "orange" : "gray"} data-testid="draft-state">
            {dirty ? t("editor.unsaved") : t("editor.revision", { revision })}
          </Badge>
          <Tooltip label={t("editor.undo")}>
            <Button variant="default" size="xs" onClick={() => restore("past")} aria-label={t("editor.undo")}>
              <IconArrowBackUp size={16} />
            </Button>
          </Tooltip>
          <Tooltip label={t("editor.redo")}>
            <Button variant="default" size="xs" onClick={() => restore("future")} aria-label={t("editor.redo")}>
              <IconArrowForwardUp size={16} />
            </Button>
          </Tooltip>
          <Button variant="default" size="xs" leftSection={<IconLayoutDistributeHorizontal size={16} />} onClick={layout}>
            {t("editor.layout")}
          </Button>
        </Group>
        <Group gap="xs">
          <Button variant="default" size="xs" loading={busy === "validate"} onClick={() => void validate()} data-testid="validate">
            {t("editor.validate")}
          </Button>
          <Button variant="light" size="xs" loading={busy === "save"} onClick={() => void save()} data-testid="save-draft">
            {t("editor.save")}
          </Button>
          <Button size="xs" loading={busy === "publish"} onClick={() => void publish()} data-testid="publish">
            {t("editor.publish")}
          </Button>
        </Group>
      </Group>
      {refused && (
        <Alert color="red" withCloseButton onClose={() => setRefused(null)} role="alert" data-testid="connection-refused">
          {t("editor.refused", { reason: refused })}
        </Alert>
      )}
      <div className="editor-grid">
        <Paper withBorder p="xs" className="editor-palette">
          <ScrollArea h="100%">
            <Palette types={types} onAdd={(type) => addNode(type)} />
          </ScrollArea>
        </Paper>
        <Paper withBorder className="editor-canvas" data-testid="workflow-canvas" onDragOver={(e) => e.preventDefault()} onDrop={onDrop}>
          <ReactFlow<EditorNode, EditorEdge>
            nodes={nodes}
            edges={edges}
            nodeTypes={nodeTypes}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onNodeDragStart={remember}
            onBeforeDelete={async () => {
              remember();
              return Promise.resolve(true);
            }}
            onConnect={onConnect}
            onConnectEnd={onConnectEnd}
            isValidConnection={isValidConnection}
            onSelectionChange={onSelectionChange}
            fitView
            minZoom={0.2}
            deleteKeyCode={["Delete", "Backspace"]}
            proOptions={{ hideAttribution: true }}
          >
            <Background />
            <Controls />
            <MiniMap pannable zoomable />
          </ReactFlow>
        </Paper>
        <Paper withBorder p="xs" className="editor-side">
          <Tabs value={tab} onChange={setTab}>
            <Tabs.List>
              <Tabs.Tab value="node">{t("editor.node")}</Tabs.Tab>
              <Tabs.Tab value="variables" data-testid="tab-variables">
                {t("editor.variables")} {Object.keys(variableErrors).length > 0 && <Badge size="xs" color="red">{Object.keys(variableErrors).length}</Badge>}
              </Tabs.Tab>
              <Tabs.Tab value="playground" data-testid="tab-playground">{t("editor.playground")}</Tabs.Tab>
              <Tabs.Tab value="problems">
                {t("editor.problems")} {problems.length > 0 && <Badge size="xs" color="red">{problems.length}</Badge>}
              </Tabs.Tab>
              <Tabs.Tab value="versions" data-testid="tab-versions">{t("editor.versions")}</Tabs.Tab>
            </Tabs.List>
            <Tabs.Panel value="node" pt="xs">
              <ScrollArea h={560} type="auto">
                {selected ? (
                  <Stack gap="md">
                    <Inspector
                      key={selected.id}
                      node={selected}
                      type={typeOf.get(selected.data.node.type)}
                      upstream={upstream}
                      variableNames={variableNames}
                      wired={wired}
                      errors={fieldErrors}
                      onChange={updateNode}
                    />
                    <NodeRunPanel
                      key={`run-${selected.id}`}
                      botId={bot.id}
                      draftId={draft.id}
                      nodeId={selected.id}
                      inputs={selected.data.ports.inputs}
                      ensureSaved={ensureSaved}
                      onStatus={(status) => setRunStatus(selected.id, status)}
                    />
                  </Stack>
                ) : (
                  <Text size="sm" c="dimmed">{t("editor.selectHint")}</Text>
                )}
              </ScrollArea>
            </Tabs.Panel>
            <Tabs.Panel value="variables" pt="xs">
              <ScrollArea h={560} type="auto">
                <VariablesPanel variables={variables} onChange={changeVariables} serverErrors={variableErrors} />
              </ScrollArea>
            </Tabs.Panel>
            <Tabs.Panel value="playground" pt="xs" keepMounted>
              <Playground
                botId={bot.id}
                draftId={draft.id}
                ensureSaved={ensureSaved}
                onRunStart={() => setRunStatus("*", undefined)}
                onNodeStatus={(id, status) => setRunStatus(id, status)}
              />
            </Tabs.Panel>
            <Tabs.Panel value="problems" pt="xs">
              {problems.length === 0 ? (
                <Text size="sm" c="dimmed">{t("editor.noProblems")}</Text>
              ) : (
                <Stack gap={4} data-testid="problem-list">
                  {problems.map((p, i) => (
                    <Button
                      key={i}
                      variant="subtle"
                      color="red"
                      size="compact-sm"
                      justify="flex-start"
                      styles={{ label: { whiteSpace: "normal", textAlign: "left" } }}
                      onClick={() => {
                        const id = p.node_id ?? problemsByNode([p], nodes.map((n) => n.id)).keys().next().value;
                        if (id) {
                          setNodes((all) => all.map((n) => ({ ...n, selected: n.id === id })));
                          setTab("node");
                        }
                      }}
                    >
                      {p.message}
                    </Button>
                  ))}
                </Stack>
              )}
            </Tabs.Panel>
            <Tabs.Panel value="versions" pt="xs">
              <VersionsPanel
                botId={bot.id}
                draftId={draft.id}
                revision={revision}
                onRestored={() => void queryClient.invalidateQueries({ queryKey: versionsKey(bot.id) })}
                onDiff={(marks) =>
                  setNodes((all) => all.map((n) => ({ ...n, data: { ...n.data, diff: marks.get(n.id) } })))
                }
              />
            </Tabs.Panel>
          </Tabs>
        </Paper>
      </div>
      <Modal opened={conflict !== null} onClose={() => setConflict(null)} title={t("editor.conflictTitle")}>
        <Stack>
          <Text size="sm">{conflict}</Text>
          <Text size="sm">{t("editor.conflictHint")}</Text>
          <Group justify="flex-end">
            <Button variant="default" onClick={() => setConflict(null)}>{t("editor.keepEditing")}</Button>
            <Button
              onClick={() => {
                setConflict(null);
                void queryClient.invalidateQueries({ queryKey: versionsKey(bot.id) });
              }}
            >
              {t("editor.reload")}
            </Button>
          </Group>
        </Stack>
      </Modal>
    </Stack>
  );
}

export default function EditorPage({ bot }: { bot: Bot }) {
  const draft = useDraft(bot.id);
  const catalogue = useCatalogue();
  return (
    <QueryState query={draft}>
      {(version) => (
        <QueryState query={catalogue}>
          {({ data: types, system_values: systemValues }) => (
            <ReactFlowProvider>
              <Editor
                key={`${version.id}:${String(version.revision)}`}
                bot={bot}
                draft={version}
                types={types}
                systemValues={systemValues}
              />
            </ReactFlowProvider>
          )}
        </QueryState>
      )}
    </QueryState>
  );
}
