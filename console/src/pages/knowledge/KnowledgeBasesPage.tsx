import { Anchor, Button, Modal, Stack, Table, Text, Textarea, TextInput } from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { IconPlus } from "@tabler/icons-react";
import { useState } from "react";
import type { SyntheticEvent } from "react";
import { Link, useNavigate } from "react-router";

import { api } from "../../api/client";
import { describeError, unwrap } from "../../api/problem";
import { PageHeader } from "../../components/PageHeader";
import { QueryState } from "../../components/QueryState";
import { formatDateTime } from "../../format";
import { useI18n } from "../../i18n/i18n";
import { knowledgeBasesKey, useKnowledgeBases } from "./knowledgeQueries";

function CreateKnowledgeBaseModal({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const create = useMutation({
    mutationFn: async () =>
      unwrap(await api.POST("/api/v1/knowledge-bases", { body: { name, description } })),
    onSuccess: async (kb) => {
      await queryClient.invalidateQueries({ queryKey: knowledgeBasesKey });
      onClose();
      void navigate(`/knowledge/${kb.id}`);
    },
  });
  function submit(event: SyntheticEvent) {
    event.preventDefault();
    create.mutate();
  }
  return (
    <Modal opened={opened} onClose={onClose} title={t("kb.create")}>
      <form onSubmit={submit}>
        <Stack>
          <TextInput
            label={t("kb.name")}
            required
            data-autofocus
            value={name}
            onChange={(e) => {
              setName(e.currentTarget.value);
            }}
            data-testid="kb-name"
          />
          <Textarea
            label={t("bots.description")}
            value={description}
            onChange={(e) => {
              setDescription(e.currentTarget.value);
            }}
            autosize
            minRows={2}
          />
          {create.isError && (
            <Text c="red" size="sm" role="alert" style={{ whiteSpace: "pre-wrap" }}>
              {describeError(create.error)}
            </Text>
          )}
          <Button type="submit" loading={create.isPending} data-testid="kb-create-submit">
            {t("kb.createSubmit")}
          </Button>
        </Stack>
      </form>
    </Modal>
  );
}

export default function KnowledgeBasesPage() {
  const { t, language } = useI18n();
  const [opened, { open, close }] = useDisclosure();
  const knowledgeBases = useKnowledgeBases();
  return (
    <>
      <PageHeader title={t("nav.knowledge")}>
        <Button leftSection={<IconPlus size={16} />} onClick={open} data-testid="kb-create">
          {t("kb.create")}
        </Button>
      </PageHeader>
      <CreateKnowledgeBaseModal opened={opened} onClose={close} />
      <QueryState query={knowledgeBases}>
        {({ data }) =>
          data.length === 0 ? (
            <Text c="dimmed">{t("kb.empty")}</Text>
          ) : (
            <Table.ScrollContainer minWidth={560}>
              <Table highlightOnHover data-testid="kb-list">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>{t("kb.name")}</Table.Th>
                    <Table.Th>{t("kb.documents")}</Table.Th>
                    <Table.Th>{t("kb.embedding")}</Table.Th>
                    <Table.Th>{t("common.created")}</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {data.map((kb) => (
                    <Table.Tr key={kb.id}>
                      <Table.Td>
                        <Anchor component={Link} to={`/knowledge/${kb.id}`}>
                          {kb.name}
                        </Anchor>
                      </Table.Td>
                      <Table.Td>{kb.document_count}</Table.Td>
                      <Table.Td>{kb.embedding_model}</Table.Td>
                      <Table.Td>{formatDateTime(kb.created_at, language)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </Table.ScrollContainer>
          )
        }
      </QueryState>
    </>
  );
}
