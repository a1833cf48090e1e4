// Drag-and-drop (or click / Enter to browse) upload of documents, one progress bar per file.
import { Group, Paper, Progress, Stack, Text, UnstyledButton } from "@mantine/core";
import { IconUpload } from "@tabler/icons-react";
import { useRef, useState } from "react";
import type { DragEvent } from "react";

import { describeError } from "../../api/problem";
import { uploadDocument } from "../../api/upload";
import { useT } from "../../i18n/i18n";

interface Upload {
  key: string;
  name: string;
  progress: number;
  error: string | null;
  done: boolean;
}

const ACCEPT = ".pdf,.docx,.html,.htm,.md,.markdown,.txt,text/plain,application/pdf";

export function UploadZone({ kbId, onUploaded }: { kbId: string; onUploaded: () => void }) {
  const t = useT();
  const input = useRef<HTMLInputElement>(null);
  const [dragging, setDragging] = useState(false);
  const [uploads, setUploads] = useState<Upload[]>([]);

  function update(key: string, change: Partial<Upload>) {
    setUploads((all) => all.map((u) => (u.key === key ? { ...u, ...change } : u)));
  }

  function start(files: FileList | null) {
    if (!files) return;
    for (const file of Array.from(files)) {
      const key = `${file.name}-${String(Date.now())}-${String(Math.random())}`;
      setUploads((all) => [
        { key, name: file.name, progress: 0, error: null, done: false },
        ...all.slice(0, 9),
      ]);
      uploadDocument(kbId, file, (fraction) => {
        update(key, { progress: fraction });
      }).then(
        () => {
          update(key, { progress: 1, done: true });
          onUploaded();
        },
        (error: unknown) => {
          update(key, { error: describeError(error), done: true });
        },
      );
    }
  }

  function onDrop(event: DragEvent) {
    event.preventDefault();
    setDragging(false);
    start(event.dataTransfer.files);
  }

  return (
    <Stack gap="xs">
      <UnstyledButton
        onClick={() => input.current?.click()}
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => {
          setDragging(false);
        }}
        onDrop={onDrop}
        aria-label={t("kb.uploadLabel")}
      >
        <Paper
          withBorder
          p="lg"
          style={{
            borderStyle: "dashed",
            borderWidth: 2,
            borderColor: dragging ? "var(--mantine-color-blue-6)" : undefined,
          }}
        >
          <Group justify="center" gap="sm">
            <IconUpload size={22} />
            <div>
              <Text size="sm" fw={600}>
                {t("kb.uploadTitle")}
              </Text>
              <Text size="xs" c="dimmed">
                {t("kb.uploadHint")}
              </Text>
            </div>
          </Group>
        </Paper>
      </UnstyledButton>
      <input
        ref={input}
        type="file"
        multiple
        accept={ACCEPT}
        hidden
        data-testid="kb-upload"
        onChange={(e) => {
          start(e.currentTarget.files);
          e.currentTarget.value = "";
        }}
      />
      {uploads.map((upload) => (
        <div key={upload.key}>
          <Group justify="space-between" gap="xs">
            <Text size="xs">{upload.name}</Text>
            <Text size="xs" c={upload.error ? "red" : "dimmed"}>
              {upload.error ?? (upload.done ? t("kb.uploaded") : `${Math.round(upload.progress * 100)}%`)}
            </Text>
          </Group>
          <Progress
            value={upload.progress * 100}
            color={upload.error ? "red" : upload.done ? "green" : "blue"}
            size="sm"
            aria-label={upload.name}
          />
        </div>
      ))}
    </Stack>
  );
}
