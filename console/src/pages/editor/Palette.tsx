// The node palette, grouped by category: press a type to add it (keyboard too), or drag it
// onto the canvas.
import { Button, Stack, Text, Tooltip } from "@mantine/core";

import { useT } from "../../i18n/i18n";
import type { NodeType } from "./catalogue";

export const DRAG_TYPE = "application/x-snapagent-node-type";

export function Palette({ types, onAdd }: { types: NodeType[]; onAdd: (type: NodeType) => void }) {
  const t = useT();
  const categories = [...new Set(types.map((type) => type.category))];
  return (
    <Stack gap={6} data-testid="node-palette" aria-label={t("editor.palette")}>
      {categories.map((category) => (
        <Stack key={category} gap={4}>
          <Text size="xs" fw={700} c="dimmed" tt="uppercase">
            {category}
          </Text>
          {types
            .filter((type) => type.category === category)
            .map((type) => (
              <Tooltip key={type.type} label={type.description} position="right" multiline w={240}>
                <Button
                  variant="default"
                  size="xs"
                  justify="flex-start"
                  draggable
                  onDragStart={(e) => {
                    e.dataTransfer.setData(DRAG_TYPE, type.type);
                  }}
                  onClick={() => onAdd(type)}
                  data-testid={`palette-${type.type}`}
                >
                  {type.title}
                </Button>
              </Tooltip>
            ))}
        </Stack>
      ))}
    </Stack>
  );
}
