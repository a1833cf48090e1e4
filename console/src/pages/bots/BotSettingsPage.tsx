import {
  Button,
  Group,
  Modal,
  MultiSelect,
  NumberInput,
  Paper,
  Stack,
  Switch,
  Text,
  Textarea,
  TextInput,
} from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { notifications } from "@mantine/notifications";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { SyntheticEvent } from "react";
import { useNavigate } from "react-router";

import { api, type Schemas } from "../../api/client";
import { ApiError, check, describeError, fieldError, unwrap } from "../../api/problem";
import { useT } from "../../i18n/i18n";
import { useKnowledgeBases } from "../knowledge/knowledgeQueries";
import { botQueryKey } from "./botQueries";

type Bot = Schemas["BotPublic"];

export default function BotSettingsPage({ bot }: { bot: Bot }) {
  const t = useT();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const knowledgeBases = useKnowledgeBases();
  const [name, setName] = useState(bot.name);
  const [description, setDescription] = useState(bot.description);
  const [model, setModel] = useState(bot.default_model ?? "");
  const [kbIds, setKbIds] = useState<string[]>(bot.knowledge_base_ids);
  const [useV2, setUseV2] = useState(bot.use_workflow_v2);
  const [rollout, setRollout] = useState<number>(bot.v2_rollout_percent);
  const [confirmOpen, confirm] = useDisclosure();

  const save = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.PATCH("/api/v1/bots/{bot_id}", {
          params: { path: { bot_id: bot.id } },
          body: {
            name,
            description,
            default_model: model.trim() || null,
            knowledge_base_ids: kbIds,
            use_workflow_v2: useV2,
            v2_rollout_percent: rollout,
          },
        }),
      ),
    onSuccess: (updated) => {
      queryClient.setQueryData(botQueryKey(bot.id), updated);
      void queryClient.invalidateQueries({ queryKey: ["bots"], exact: true });
      notifications.show({ message: t("common.saved"), color: "green" });
    },
  });
  const remove = useMutation({
    mutationFn: async () =>
      check(await api.DELETE("/api/v1/bots/{bot_id}", { params: { path: { bot_id: bot.id } } })),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ["bots"] });
      void navigate("/bots");
    },
  });

  function submit(event: SyntheticEvent) {
    event.preventDefault();
    save.mutate();
  }

  return (
    <Stack maw={640}>
      <Paper withBorder p="md">
        <form onSubmit={submit}>
          <Stack>
            <TextInput
              label={t("bots.name")}
              required
              value={name}
              onChange={(e) => {
                setName(e.currentTarget.value);
              }}
              error={fieldError(save.error, "name")}
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
            <TextInput
              label={t("settings.defaultModel")}
              description={t("settings.defaultModelHint")}
              placeholder="offline"
              value={model}
              onChange={(e) => {
                setModel(e.currentTarget.value);
              }}
              error={fieldError(save.error, "default_model")}
            />
            <MultiSelect
              label={t("settings.knowledgeBases")}
              description={t("settings.knowledgeBasesHint")}
              data={(knowledgeBases.data?.data ?? []).map((kb) => ({
                value: kb.id,
                label: kb.name,
              }))}
              value={kbIds}
              onChange={setKbIds}
              searchable
            />
            <Switch
              label={t("settings.useV2")}
              checked={useV2}
              onChange={(e) => {
                setUseV2(e.currentTarget.checked);
              }}
            />
            <NumberInput
              label={t("settings.rollout")}
              description={t("settings.rolloutHint")}
              min={0}
              max={100}
              suffix="%"
              value={rollout}
              onChange={(value) => {
                setRollout(typeof value === "number" ? value : 0);
              }}
              error={fieldError(save.error, "v2_rollout_percent")}
            />
            {save.isError && !(save.error instanceof ApiError && save.error.fieldProblems.length) && (
              <Text c="red" size="sm" role="alert">
                {describeError(save.error)}
              </Text>
            )}
            <Group>
              <Button type="submit" loading={save.isPending}>
                {t("common.save")}
              </Button>
            </Group>
          </Stack>
        </form>
      </Paper>
      <Paper withBorder p="md">
        <Group justify="space-between">
          <Text size="sm">{t("settings.deleteHint")}</Text>
          <Button color="red" variant="light" onClick={confirm.open}>
            {t("settings.delete")}
          </Button>
        </Group>
      </Paper>
      <Modal opened={confirmOpen} onClose={confirm.close} title={t("settings.delete")}>
        <Stack>
          <Text size="sm">{t("settings.deleteConfirm", { name: bot.name })}</Text>
          {remove.isError && (
            <Text c="red" size="sm" role="alert">
              {describeError(remove.error)}
            </Text>
          )}
          <Group justify="flex-end">
            <Button variant="default" onClick={confirm.close}>
              {t("common.cancel")}
            </Button>
            <Button color="red" loading={remove.isPending} onClick={() => remove.mutate()}>
              {t("settings.delete")}
            </Button>
          </Group>
        </Stack>
      </Modal>
    </Stack>
  );
}
