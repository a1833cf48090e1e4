// One node on the canvas: its title and type, a handle per port (typed, named), the problems
// validation found on it, and its state in the playground's current run.
import { Badge, Group, Paper, Stack, Text, Tooltip } from "@mantine/core";
import { Handle, Position, type NodeProps } from "@xyflow/react";
import { memo } from "react";

import { CONTROL, type EditorNode, type RunStatus } from "./graph";

const STATUS_COLOR: Record<RunStatus, string> = {
  running: "var(--mantine-color-blue-5)",
  succeeded: "var(--mantine-color-green-6)",
  failed: "var(--mantine-color-red-6)",
  skipped: "var(--mantine-color-gray-4)",
};

function PortRow({ name, type, side }: { name: string; type: string; side: "in" | "out" }) {
  return (
    <Group gap={4} justify={side === "in" ? "flex-start" : "flex-end"} wrap="nowrap" h={18}>
      <Text size="xs" fw={500}>
        {name}
      </Text>
      <Text size="10px" c="dimmed">
        {type}
      </Text>
    </Group>
  );
}

const handleStyle = { width: 9, height: 9 };

function NodeCardView({ data, selected }: NodeProps<EditorNode>) {
  const { node, ports, problems, runStatus, diff } = data;
  const border = problems.length
    ? "var(--mantine-color-red-6)"
    : runStatus
      ? STATUS_COLOR[runStatus]
      : diff === "added"
        ? "var(--mantine-color-green-6)"
        : diff === "changed"
          ? "var(--mantine-color-orange-6)"
          : selected
            ? "var(--mantine-color-blue-6)"
            : undefined;
  const rows = Math.max(ports.inputs.length, ports.outputs.length + ports.branches.length);
  return (
    <Paper
      withBorder
      shadow={selected ? "md" : "xs"}
      p={6}
      w={220}
      style={{ borderColor: border, borderWidth: border ? 2 : 1 }}
      data-testid={`node-${node.id}`}
      data-run-status={runStatus ?? ""}
      aria-label={`${node.title ?? node.id} (${node.type})`}
    >
      <Handle type="target" id={CONTROL} position={Position.Top} style={handleStyle} />
      <Group justify="space-between" wrap="nowrap" mb={4}>
        <Text size="sm" fw={600} truncate>
          {node.title ?? node.id}
        </Text>
        <Badge size="xs" variant="light">
          {node.type}
        </Badge>
      </Group>
      <div style={{ position: "relative", minHeight: rows * 18 }}>
        <Stack gap={0} style={{ position: "absolute", left: 0, top: 0 }}>
          {ports.inputs.map((port, i) => (
            <div key={port.name} style={{ position: "relative" }}>
              <Handle
                type="target"
                id={`in:${port.name}`}
                position={Position.Left}
                style={{ ...handleStyle, top: 9, left: -11, background: port.required ? undefined : "#adb5bd" }}
                aria-label={`input ${port.name}`}
                data-index={i}
              />
              <PortRow name={port.name} type={port.type} side="in" />
            </div>
          ))}
        </Stack>
        <Stack gap={0} style={{ position: "absolute", right: 0, top: 0 }}>
          {ports.outputs.map((port) => (
            <div key={port.name} style={{ position: "relative" }}>
              <PortRow name={port.name} type={port.type} side="out" />
              <Handle
                type="source"
                id={`out:${port.name}`}
                position={Position.Right}
                style={{ ...handleStyle, top: 9, right: -11 }}
                aria-label={`output ${port.name}`}
              />
            </div>
          ))}
          {ports.branches.map((branch) => (
            <div key={branch} style={{ position: "relative" }}>
              <PortRow name={branch} type="branch" side="out" />
              <Handle
                type="source"
                id={`branch:${branch}`}
                position={Position.Right}
                style={{ ...handleStyle, top: 9, right: -11, background: "#f08c00" }}
                aria-label={`branch ${branch}`}
              />
            </div>
          ))}
        </Stack>
      </div>
      <Handle type="source" id={CONTROL} position={Position.Bottom} style={handleStyle} />
      {problems.length > 0 && (
        <Tooltip label={problems.join("\n")} multiline w={280}>
          <Text size="xs" c="red" mt={4} lineClamp={2} data-testid="node-problem">
            {problems[0]}
          </Text>
        </Tooltip>
      )}
    </Paper>
  );
}

export const NodeCard = memo(NodeCardView);
