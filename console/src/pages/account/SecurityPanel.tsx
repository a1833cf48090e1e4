// The account's security: change the password (every older access token stops working; the
// answer's fresh token keeps this tab signed in), sign out everywhere, and - when registration is
// closed - create an account for a teammate (register with this account's Authorization).
import { Alert, Button, Group, Paper, PasswordInput, Stack, Text, TextInput, Title } from "@mantine/core";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import type { SyntheticEvent } from "react";

import { api } from "../../api/client";
import { ApiError, check, describeError, fieldError, unwrap } from "../../api/problem";
import { getSession, setSession } from "../../api/session";
import { useT } from "../../i18n/i18n";

/** The alert for an error no field explains. */
function FormError({ error }: { error: unknown }) {
  if (error === null || (error instanceof ApiError && error.fieldProblems.length > 0)) return null;
  return (
    <Alert color="red" role="alert" p="xs">
      {describeError(error)}
    </Alert>
  );
}

function PasswordForm({ minLength }: { minLength: number }) {
  const t = useT();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const change = useMutation({
    mutationFn: async () =>
      unwrap(
        await api.POST("/api/v1/auth/password", {
          body: { current_password: current, new_password: next },
        }),
      ),
    onSuccess: (token) => {
      const session = getSession();
      if (session) setSession({ ...session, token: token.access_token, expiresAt: token.expires_at });
      setCurrent("");
      setNext("");
    },
  });
  function submit(event: SyntheticEvent) {
    event.preventDefault();
    change.mutate();
  }
  return (
    <form onSubmit={submit} noValidate data-testid="password-form">
      <Stack gap="xs">
        <PasswordInput
          label={t("account.currentPassword")}
          autoComplete="current-password"
          value={current}
          onChange={(e) => setCurrent(e.currentTarget.value)}
          error={fieldError(change.error, "current_password")}
          data-testid="password-current"
        />
        <PasswordInput
          label={t("account.newPassword")}
          description={t("login.passwordHint", { min: minLength })}
          autoComplete="new-password"
          value={next}
          onChange={(e) => setNext(e.currentTarget.value)}
          error={fieldError(change.error, "new_password")}
          data-testid="password-new"
        />
        <FormError error={change.error} />
        {change.isSuccess && (
          <Text size="sm" c="teal" role="status" data-testid="password-changed">
            {t("account.passwordChanged")}
          </Text>
        )}
        <Group>
          <Button type="submit" loading={change.isPending} data-testid="password-submit">
            {t("account.changePassword")}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

function TeammateForm({ minLength }: { minLength: number }) {
  const t = useT();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const create = useMutation({
    mutationFn: async () => unwrap(await api.POST("/api/v1/auth/register", { body: { email, password } })),
    onSuccess: () => {
      setPassword("");
    },
  });
  function submit(event: SyntheticEvent) {
    event.preventDefault();
    create.mutate();
  }
  return (
    <form onSubmit={submit} noValidate data-testid="teammate-form">
      <Stack gap="xs">
        <Text size="sm" c="dimmed">
          {t("account.teammateHint")}
        </Text>
        <Group align="flex-start" grow>
          <TextInput
            label={t("login.email")}
            type="email"
            value={email}
            onChange={(e) => setEmail(e.currentTarget.value)}
            error={fieldError(create.error, "email")}
          />
          <PasswordInput
            label={t("login.password")}
            description={t("login.passwordHint", { min: minLength })}
            autoComplete="new-password"
            value={password}
            onChange={(e) => setPassword(e.currentTarget.value)}
            error={fieldError(create.error, "password")}
          />
        </Group>
        <FormError error={create.error} />
        {create.isSuccess && (
          <Text size="sm" c="teal" role="status">
            {t("account.teammateCreated", { email: create.data.email })}
          </Text>
        )}
        <Group>
          <Button type="submit" variant="light" loading={create.isPending}>
            {t("account.createTeammate")}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}

export function SecurityPanel() {
  const t = useT();
  const config = useQuery({
    queryKey: ["auth-config"],
    queryFn: async () => unwrap(await api.GET("/api/v1/auth/config")),
    staleTime: Infinity,
  });
  const minLength = config.data?.password_min_length ?? 8;
  const everywhere = useMutation({
    mutationFn: async () => check(await api.POST("/api/v1/auth/logout-everywhere")),
    onSuccess: () => setSession(null),
  });
  return (
    <>
      <Paper withBorder p="md">
        <Title order={2} size="h4" mb="xs">
          {t("account.password")}
        </Title>
        <PasswordForm minLength={minLength} />
        <Group mt="md" gap="xs">
          <Button
            variant="subtle"
            color="red"
            size="xs"
            loading={everywhere.isPending}
            onClick={() => everywhere.mutate()}
            data-testid="logout-everywhere"
          >
            {t("account.logoutEverywhere")}
          </Button>
          <Text size="xs" c="dimmed">
            {t("account.logoutEverywhereHint")}
          </Text>
        </Group>
      </Paper>
      {config.data && !config.data.registration_open && (
        <Paper withBorder p="md">
          <Title order={2} size="h4" mb="xs">
            {t("account.teammate")}
          </Title>
          <TeammateForm minLength={minLength} />
        </Paper>
      )}
    </>
  );
}
