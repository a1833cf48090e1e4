import {
  ActionIcon,
  Alert,
  Button,
  Code,
  CopyButton,
  Group,
  Paper,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
  Tooltip,
} from "@mantine/core";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { IconCheck, IconCopy, IconTrash } from "@tabler/icons-react";
import { useState } from "react";
import type { SyntheticEvent } from "react";

import { api, type Schemas } from "../../api/client";
import { check, describeError, unwrap } from "../../api/problem";
import { PageHeader } from "../../components/PageHeader";
import { QueryState } from "../../components/QueryState";
import { formatDateTime } from "../../format";
import { useI18n } from "../../i18n/i18n";
import { SecurityPanel } from "./SecurityPanel";

const apiKeysKey = ["api-keys"] as const;

function NewKeyForm({ onCreated }: { onCreated: (key: Schemas["ApiKeyCreated"]) => void }) {
  const { t } = useI18n();
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const create = useMutation({
    mutationFn: async () => unwrap(await api.POST("/api/v1/api-keys", { body: { name } })),
    onSuccess: (key) => {
      setName("");
      onCreated(key);
      void queryClient.invalidateQueries({ queryKey: apiKeysKey });
    },
  });
  function submit(event: SyntheticEvent) {
    event.preventDefault();
    create.mutate();
  }
  return (
    <form onSubmit={submit}>
      <Group align="flex-end">
        <TextInput
          label={t("keys.name")}
          required
          value={name}
          onChange={(e) => {
            setName(e.currentTarget.value);
          }}
          style={{ flex: 1 }}
          data-testid="api-key-name"
        />
        <Button type="submit" loading={create.isPending} data-testid="api-key-create">
          {t("keys.create")}
        </Button>
      </Group>
      {create.isError && (
        <Text c="red" size="sm" role="alert" mt="xs">
          {describeError(create.error)}
        </Text>
      )}
    </form>
  );
}

export default function AccountPage() {
  const { t, language } = useI18n();
  const queryClient = useQueryClient();
  const [created, setCreated] = useState<Schemas["ApiKeyCreated"] | null>(null);
  const me = useQuery({
    queryKey: ["me"],
    queryFn: async () => unwrap(await api.GET("/api/v1/auth/me")),
  });
  const keys = useQuery({
    queryKey: apiKeysKey,
    queryFn: async () => unwrap(await api.GET("/api/v1/api-keys")),
  });
  const revoke = useMutation({
    mutationFn: async (keyId: string) =>
      check(await api.DELETE("/api/v1/api-keys/{key_id}", { params: { path: { key_id: keyId } } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: apiKeysKey }),
  });
  return (
    <Stack maw={820}>
      <PageHeader title={t("nav.account")} />
      <QueryState query={me}>
        {(user) => (
          <Text size="sm">
            {t("account.signedInAs", { email: user.email })} ·{" "}
            {t("account.since", { date: formatDateTime(user.created_at, language) })}
          </Text>
        )}
      </QueryState>
      <Paper withBorder p="md">
        <Title order={2} size="h4" mb="xs">
          {t("keys.title")}
        </Title>
        <Text size="sm" c="dimmed" mb="sm">
          {t("keys.hint")}
        </Text>
        <NewKeyForm onCreated={setCreated} />
        {created && (
          <Alert color="green" mt="md" title={t("keys.createdTitle")} data-testid="api-key-secret">
            <Text size="sm" mb="xs">
              {t("keys.createdHint")}
            </Text>
            <Group gap="xs" wrap="nowrap">
              <Code style={{ wordBreak: "break-all" }}>{created.key}</Code>
              <CopyButton value={created.key}>
                {({ copied, copy }) => (
                  <Tooltip label={copied ? t("common.copied") : t("common.copy")}>
                    <ActionIcon variant="light" onClick={copy} aria-label={t("common.copy")}>
                      {copied ? <IconCheck size={16} /> : <IconCopy size={16} />}
                    </ActionIcon>
                  </Tooltip>
                )}
              </CopyButton>
            </Group>
          </Alert>
        )}
        <QueryState query={keys}>
          {({ data }) =>
            data.length === 0 ? (
              <Text c="dimmed" mt="md">
                {t("keys.empty")}
              </Text>
            ) : (
              <Table.ScrollContainer minWidth={520} mt="md">
                <Table data-testid="api-key-list">
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>{t("keys.name")}</Table.Th>
                      <Table.Th>{t("keys.prefix")}</Table.Th>
                      <Table.Th>{t("common.created")}</Table.Th>
                      <Table.Th>{t("keys.lastUsed")}</Table.Th>
                      <Table.Th aria-label={t("common.actions")} />
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {data.map((key) => (
                      <Table.Tr key={key.id}>
                        <Table.Td>{key.name}</Table.Td>
                        <Table.Td>
                          <Code>{key.prefix}…</Code>
                        </Table.Td>
                        <Table.Td>{formatDateTime(key.created_at, language)}</Table.Td>
                        <Table.Td>{formatDateTime(key.last_used_at, language)}</Table.Td>
                        <Table.Td>
                          <Tooltip label={t("keys.revoke")}>
                            <ActionIcon
                              variant="subtle"
                              color="red"
                              aria-label={t("keys.revoke")}
                              onClick={() => revoke.mutate(key.id)}
                            >
                              <IconTrash size={16} />
                            </ActionIcon>
                          </Tooltip>
                        </Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
            )
          }
        </QueryState>
      </Paper>
      <SecurityPanel />
    </Stack>
  );
}
