import {
  ActionIcon,
  Anchor,
  Badge,
  Breadcrumbs,
  Button,
  Grid,
  Group,
  NumberInput,
  Paper,
  Progress,
  Select,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
  Tooltip,
} from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { IconListDetails, IconRefresh, IconTrash } from "@tabler/icons-react";
import { useState } from "react";
import type { SyntheticEvent } from "react";
import { Link, useNavigate, useParams } from "react-router";

import { api, type Schemas } from "../../api/client";
import { check, describeError, unwrap } from "../../api/problem";
import { QueryState } from "../../components/QueryState";
import { formatBytes, formatDateTime } from "../../format";
import { useI18n } from "../../i18n/i18n";
import type { MessageKey } from "../../i18n/en";
import { ChunkBrowser } from "./ChunkBrowser";
import { knowledgeBasesKey } from "./knowledgeQueries";
import { UploadZone } from "./UploadZone";

type Document = Schemas["DocumentPublic"];
const FINAL = new Set(["indexed", "failed"]);
const STATUS_COLOR: Record<string, string> = { indexed: "green", failed: "red" };

function DocumentRow({
  kbId,
  doc,
  onBrowse,
}: {
  kbId: string;
  doc: Document;
  onBrowse: () => void;
}) {
  const { t, language } = useI18n();
  const queryClient = useQueryClient();
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["documents", kbId] });
  const path = { kb_id: kbId, document_id: doc.id };
  const retry = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST("/api/v1/knowledge-bases/{kb_id}/documents/{document_id}/retry", {
          params: { path },
        }),
      ),
    onSettled: refresh,
  });
  const remove = useMutation({
    mutationFn: async () =>
      check(
        await api.DELETE("/api/v1/knowledge-bases/{kb_id}/documents/{document_id}", {
          params: { path },
        }),
      ),
    onSettled: refresh,
  });
  const statusKey = `kb.status.${doc.status}` as MessageKey;
  return (
    <Table.Tr data-testid="kb-document" data-status={doc.status}>
      <Table.Td>
        <Text size="sm" fw={500}>
          {doc.title}
        </Text>
        <Text size="xs" c="dimmed">
          {doc.filename} · {formatBytes(doc.size_bytes)}
        </Text>
      </Table.Td>
      <Table.Td miw={160}>
        <Badge color={STATUS_COLOR[doc.status] ?? "blue"} variant="light">
          {t(statusKey)}
        </Badge>
        {!FINAL.has(doc.status) && (
          <Progress value={doc.progress * 100} size="xs" mt={4} aria-label={doc.title} />
        )}
        {doc.error && (
          <Text size="xs" c="red" mt={4}>
            {doc.error}
          </Text>
        )}
        {(retry.isError || remove.isError) && (
          <Text size="xs" c="red" role="alert">
            {describeError(retry.error ?? remove.error)}
          </Text>
        )}
      </Table.Td>
      <Table.Td>
        {doc.chunks_done}/{doc.chunks_total}
      </Table.Td>
      <Table.Td>{formatDateTime(doc.indexed_at ?? doc.created_at, language)}</Table.Td>
      <Table.Td>
        <Group gap={4} wrap="nowrap">
          <Tooltip label={t("kb.browseChunks")}>
            <ActionIcon
              variant="subtle"
              aria-label={t("kb.browseChunks")}
              onClick={onBrowse}
              data-testid="kb-document-chunks"
            >
              <IconListDetails size={16} />
            </ActionIcon>
          </Tooltip>
          {doc.status === "failed" && (
            <Tooltip label={t("kb.retry")}>
              <ActionIcon
                variant="subtle"
                aria-label={t("kb.retry")}
                loading={retry.isPending}
                onClick={() => retry.mutate()}
              >
                <IconRefresh size={16} />
              </ActionIcon>
            </Tooltip>
          )}
          <Tooltip label={t("common.delete")}>
            <ActionIcon
              variant="subtle"
              color="red"
              aria-label={t("common.delete")}
              loading={remove.isPending}
              onClick={() => remove.mutate()}
            >
              <IconTrash size={16} />
            </ActionIcon>
          </Tooltip>
        </Group>
      </Table.Td>
    </Table.Tr>
  );
}

function RetrievalTest({ kbId }: { kbId: string }) {
  const { t } = useI18n();
  const [query, setQuery] = useState("");
  const [topK, setTopK] = useState<number>(4);
  const [mode, setMode] = useState<"hybrid" | "vector" | "keyword">("hybrid");
  const search = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST("/api/v1/knowledge-bases/{kb_id}/query", {
          params: { path: { kb_id: kbId } },
          body: { query, top_k: topK, mode },
        }),
      ),
  });
  function submit(event: SyntheticEvent) {
    event.preventDefault();
    search.mutate();
  }
  return (
    <Paper withBorder p="md">
      <Title order={2} size="h4" mb="sm">
        {t("kb.retrievalTest")}
      </Title>
      <form onSubmit={submit}>
        <Stack gap="xs">
          <TextInput
            label={t("kb.query")}
            value={query}
            required
            onChange={(e) => {
              setQuery(e.currentTarget.value);
            }}
            data-testid="kb-query"
          />
          <Group grow>
            <NumberInput
              label={t("kb.topK")}
              min={1}
              max={50}
              value={topK}
              onChange={(v) => {
                setTopK(typeof v === "number" ? v : 4);
              }}
            />
            <Select
              label={t("kb.mode")}
              data={["hybrid", "vector", "keyword"]}
              value={mode}
              allowDeselect={false}
              onChange={(v) => {
                if (v === "hybrid" || v === "vector" || v === "keyword") setMode(v);
              }}
            />
          </Group>
          <Button type="submit" loading={search.isPending} data-testid="kb-query-submit">
            {t("kb.search")}
          </Button>
        </Stack>
      </form>
      {search.isError && (
        <Text c="red" size="sm" mt="sm" role="alert">
          {describeError(search.error)}
        </Text>
      )}
      {search.data && (
        <Stack gap="xs" mt="md" data-testid="kb-results">
          {search.data.data.length === 0 && <Text c="dimmed">{t("kb.noResults")}</Text>}
          {search.data.data.map((hit) => (
            <Paper key={hit.chunk_id} withBorder p="xs">
              <Group justify="space-between" mb={4}>
                <Text size="xs" fw={600}>
                  {hit.document_title}
                  {hit.heading ? ` · ${hit.heading}` : ""} · #{hit.chunk_index}
                </Text>
                <Badge variant="light">{hit.score.toFixed(3)}</Badge>
              </Group>
              <Text size="sm" lineClamp={6} style={{ whiteSpace: "pre-wrap" }}>
                {hit.text}
              </Text>
            </Paper>
          ))}
        </Stack>
      )}
    </Paper>
  );
}


export default function KnowledgeBasePage() {
  const { t } = useI18n();
  const { kbId = "" } = useParams();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [browsing, setBrowsing] = useState<string | null>(null);
  const kb = useQuery({
    queryKey: [...knowledgeBasesKey, kbId],
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/knowledge-bases/{kb_id}", { params: { path: { kb_id: kbId } } })),
  });
  const documents = useQuery({
    queryKey: ["documents", kbId],
    queryFn: async () =>
      unwrap(
        await api.GET("/api/v1/knowledge-bases/{kb_id}/documents", {
          params: { path: { kb_id: kbId } },
        }),
      ),
    // Live status while anything is still being ingested.
    refetchInterval: (query) =>
      query.state.data?.data.some((d) => !FINAL.has(d.status)) ? 1000 : false,
  });
  const remove = useMutation({
    mutationFn: async () =>
      check(
        await api.DELETE("/api/v1/knowledge-bases/{kb_id}", { params: { path: { kb_id: kbId } } }),
      ),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: knowledgeBasesKey });
      void navigate("/knowledge");
    },
  });
  return (
    <QueryState query={kb}>
      {(base) => (
        <Stack>
          <Breadcrumbs>
            <Anchor component={Link} to="/knowledge" size="sm">
              {t("nav.knowledge")}
            </Anchor>
            <Text size="sm" fw={600}>
              {base.name}
            </Text>
          </Breadcrumbs>
          <Group justify="space-between">
            <div>
              <Title order={1} size="h2">
                {base.name}
              </Title>
              <Text size="sm" c="dimmed">
                {base.embedding_model} · {t("kb.chunking", {
                  max: base.chunk_max_tokens,
                  overlap: base.chunk_overlap_tokens,
                })}
              </Text>
            </div>
            <Button
              color="red"
              variant="light"
              loading={remove.isPending}
              onClick={() => {
                if (window.confirm(t("kb.deleteConfirm", { name: base.name }))) remove.mutate();
              }}
            >
              {t("common.delete")}
            </Button>
          </Group>
          {remove.isError && (
            <Text c="red" size="sm" role="alert">
              {describeError(remove.error)}
            </Text>
          )}
          <Grid>
            <Grid.Col span={{ base: 12, lg: 7 }}>
              <Stack>
                <UploadZone
                  kbId={kbId}
                  onUploaded={() => void queryClient.invalidateQueries({ queryKey: ["documents", kbId] })}
                />
                <QueryState query={documents}>
                  {({ data }) =>
                    data.length === 0 ? (
                      <Text c="dimmed">{t("kb.noDocuments")}</Text>
                    ) : (
                      <Table.ScrollContainer minWidth={520}>
                        <Table data-testid="kb-documents">
                          <Table.Thead>
                            <Table.Tr>
                              <Table.Th>{t("kb.document")}</Table.Th>
                              <Table.Th>{t("kb.status")}</Table.Th>
                              <Table.Th>{t("kb.chunks")}</Table.Th>
                              <Table.Th>{t("common.updated")}</Table.Th>
                              <Table.Th aria-label={t("common.actions")} />
                            </Table.Tr>
                          </Table.Thead>
                          <Table.Tbody>
                            {data.map((doc) => (
                              <DocumentRow
                                key={doc.id}
                                kbId={kbId}
                                doc={doc}
                                onBrowse={() => {
                                  setBrowsing(doc.id);
                                }}
                              />
                            ))}
                          </Table.Tbody>
                        </Table>
                      </Table.ScrollContainer>
                    )
                  }
                </QueryState>
              </Stack>
            </Grid.Col>
            <Grid.Col span={{ base: 12, lg: 5 }}>
              <RetrievalTest kbId={kbId} />
            </Grid.Col>
          </Grid>
          <ChunkBrowser
            kbId={kbId}
            doc={documents.data?.data.find((d) => d.id === browsing) ?? null}
            onClose={() => {
              setBrowsing(null);
            }}
          />
        </Stack>
      )}
    </QueryState>
  );
}
