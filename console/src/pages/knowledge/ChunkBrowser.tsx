// The chunk browser: a document's stored chunks in reading order, as retrieval searches them
// (text, heading path, tokens, place in the extracted text), a cursor page at a time.
import { Badge, Button, Drawer, Group, Paper, Stack, Text } from "@mantine/core";
import { useInfiniteQuery } from "@tanstack/react-query";

import { api, type Schemas } from "../../api/client";
import { unwrap } from "../../api/problem";
import { QueryState } from "../../components/QueryState";
import { useI18n } from "../../i18n/i18n";

type Document = Schemas["DocumentPublic"];
type Chunk = Schemas["ChunkPublic"];
const PAGE_SIZE = 20;

function ChunkCard({ chunk }: { chunk: Chunk }) {
  const { t } = useI18n();
  return (
    <Paper withBorder p="xs" data-testid="kb-chunk" component="article">
      <Group justify="space-between" mb={4} wrap="nowrap">
        <Text size="xs" fw={600}>
          #{chunk.chunk_index}
          {chunk.heading ? ` · ${chunk.heading}` : ""}
        </Text>
        <Group gap={4} wrap="nowrap">
          <Badge variant="light">{t("kb.chunkTokens", { count: chunk.token_count })}</Badge>
          <Badge variant="outline" color="gray">
            {t("kb.chunkChars", { start: chunk.char_start, end: chunk.char_end })}
          </Badge>
        </Group>
      </Group>
      <Text size="sm" style={{ whiteSpace: "pre-wrap" }}>
        {chunk.text}
      </Text>
    </Paper>
  );
}

function ChunkList({ kbId, doc }: { kbId: string; doc: Document }) {
  const { t } = useI18n();
  const chunks = useInfiniteQuery({
    // A re-indexed document has new chunks: its indexing time is part of the key.
    queryKey: ["chunks", kbId, doc.id, doc.indexed_at],
    initialPageParam: null as string | null,
    queryFn: async ({ pageParam }) =>
      unwrap(
        await api.GET("/api/v1/knowledge-bases/{kb_id}/documents/{document_id}/chunks", {
          params: {
            path: { kb_id: kbId, document_id: doc.id },
            query: { limit: PAGE_SIZE, ...(pageParam ? { cursor: pageParam } : {}) },
          },
        }),
      ),
    getNextPageParam: (page) => page.next_cursor ?? undefined,
  });
  return (
    <QueryState query={chunks}>
      {({ pages }) => {
        const rows = pages.flatMap((page) => page.data);
        return (
          <Stack gap="xs">
            <Text size="sm" c="dimmed" data-testid="kb-chunks-count">
              {t("kb.chunksShown", { shown: rows.length, total: doc.chunks_total })}
            </Text>
            {rows.length === 0 && <Text c="dimmed">{t("kb.noChunks")}</Text>}
            {rows.map((chunk) => (
              <ChunkCard key={chunk.id} chunk={chunk} />
            ))}
            {chunks.hasNextPage && (
              <Button
                variant="default"
                loading={chunks.isFetchingNextPage}
                onClick={() => void chunks.fetchNextPage()}
                data-testid="kb-chunks-more"
              >
                {t("runs.more")}
              </Button>
            )}
          </Stack>
        );
      }}
    </QueryState>
  );
}

/** A drawer with the chunks of `doc` (closed while `doc` is null). */
export function ChunkBrowser({
  kbId,
  doc,
  onClose,
}: {
  kbId: string;
  doc: Document | null;
  onClose: () => void;
}) {
  const { t } = useI18n();
  return (
    <Drawer
      opened={doc !== null}
      onClose={onClose}
      position="right"
      size="lg"
      title={doc ? t("kb.chunksOf", { title: doc.title }) : ""}
      closeButtonProps={{ "aria-label": t("common.close") }}
    >
      {doc && (
        <div data-testid="kb-chunks">
          <ChunkList kbId={kbId} doc={doc} />
        </div>
      )}
    </Drawer>
  );
}
