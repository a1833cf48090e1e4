import { Anchor, Badge, Button, Modal, Stack, Table, Text, Textarea, TextInput } from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { IconPlus } from "@tabler/icons-react";
import { useState } from "react";
import type { SyntheticEvent } from "react";
import { Link, useNavigate } from "react-router";

import { api } from "../../api/client";
import { describeError, fieldError, unwrap } from "../../api/problem";
import { PageHeader } from "../../components/PageHeader";
import { QueryState } from "../../components/QueryState";
import { formatDateTime } from "../../format";
import { useI18n } from "../../i18n/i18n";



function CreateBotModal({ opened, onClose }: { opened: boolean; onClose: () => void }) {
  const { t } = useI18n();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const create = useMutation({
    mutationFn: async () =>
      unwrap(await api.POST("/api/v1/bots", { body: { name, description } })),
    onSuccess: async (bot) => {
      await queryClient.invalidateQueries({ queryKey: ["bots"] });
      onClose();
      void navigate(`/bots/${bot.id}`);
    },
  });
  const nameError = fieldError(create.error, "name");
  function submit(event: SyntheticEvent) {
    event.preventDefault();
    create.mutate();
  }
  return (
    <Modal opened={opened} onClose={onClose} title={t("bots.create")}>
      <form onSubmit={submit}>
        <Stack>
          <TextInput
            label={t("bots.name")}
            required
            data-autofocus
            value={name}
            onChange={(e) => {
              setName(e.currentTarget.value);
            }}
            error={nameError}
            data-testid="bot-name"
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
          {create.isError && !nameError && (
            <Text c="red" size="sm" role="alert">
              {describeError(create.error)}
            </Text>
          )}
          <Button type="submit" loading={create.isPending} data-testid="bot-create-submit">
            {t("bots.createSubmit")}
          </Button>
        </Stack>
      </form>
    </Modal>
  );
}

export default function BotsPage() {
  const { t, language } = useI18n();
  const [opened, { open, close }] = useDisclosure();
  const bots = useQuery({
    queryKey: ["bots"],
    queryFn: async () => unwrap(await api.GET("/api/v1/bots")),
  });
  return (
    <>
      <PageHeader title={t("nav.bots")}>
        <Button leftSection={<IconPlus size={16} />} onClick={open} data-testid="bot-create">
          {t("bots.create")}
        </Button>
      </PageHeader>
      <CreateBotModal opened={opened} onClose={close} />
      <QueryState query={bots}>
        {({ data }) =>
          data.length === 0 ? (
            <Text c="dimmed" data-testid="bot-list">
              {t("bots.empty")}
            </Text>
          ) : (
            <Table.ScrollContainer minWidth={560}>
              <Table highlightOnHover data-testid="bot-list">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>{t("bots.name")}</Table.Th>
                    <Table.Th>{t("bots.description")}</Table.Th>
                    <Table.Th>{t("bots.engine")}</Table.Th>
                    <Table.Th>{t("common.updated")}</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {data.map((bot) => (
                    <Table.Tr key={bot.id}>
                      <Table.Td>
                        <Anchor component={Link} to={`/bots/${bot.id}/editor`}>
                          {bot.name}
                        </Anchor>
                      </Table.Td>
                      <Table.Td>
                        <Text size="sm" lineClamp={2}>
                          {bot.description}
                        </Text>
                      </Table.Td>
                      <Table.Td>
                        <Badge variant="light" color={bot.use_workflow_v2 ? "blue" : "gray"}>
                          {bot.use_workflow_v2 ? "V2" : "V1"}
                        </Badge>
                      </Table.Td>
                      <Table.Td>{formatDateTime(bot.updated_at, language)}</Table.Td>
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
