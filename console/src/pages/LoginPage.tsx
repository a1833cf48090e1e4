import {
  Alert,
  Button,
  Center,
  Group,
  Paper,
  PasswordInput,
  SegmentedControl,
  Stack,
  Text,
  TextInput,
  Title,
} from "@mantine/core";
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import type { SyntheticEvent } from "react";
import { Navigate, useSearchParams } from "react-router";

import { api } from "../api/client";
import { ApiError, describeError, fieldError, unwrap } from "../api/problem";
import { setSession, useSession } from "../api/session";
import { useT } from "../i18n/i18n";
import { LanguageSelect } from "../layout/AppLayout";

type Mode = "login" | "register";

/** Only same-origin paths: `?next=https://elsewhere` must not become an open redirect. */
function safeNext(next: string | null): string {
  return next?.startsWith("/") && !next.startsWith("//") ? next : "/bots";
}

export function LoginPage() {
  const t = useT();
  const session = useSession();
  const [params] = useSearchParams();
  const [mode, setMode] = useState<Mode>("login");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  // Closed registration (SNAPAGENT_REGISTRATION=closed): no "Create account" to offer.
  const config = useQuery({
    queryKey: ["auth-config"],
    queryFn: async () => unwrap(await api.GET("/api/v1/auth/config")),
    staleTime: Infinity,
  });
  const registrationOpen = config.data?.registration_open ?? false;
  const minLength = config.data?.password_min_length ?? 8;

  if (session) return <Navigate to={safeNext(params.get("next"))} replace />;


  async function submit(event: SyntheticEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === "register") {
        unwrap(await api.POST("/api/v1/auth/register", { body: { email, password } }));
      }
      const token = unwrap(await api.POST("/api/v1/auth/login", { body: { email, password } }));
      setSession({ token: token.access_token, email, expiresAt: token.expires_at });
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Center mih="100vh" p="md">
      <Paper withBorder shadow="sm" p="xl" w={400} maw="100%">
        <form onSubmit={(e) => void submit(e)} noValidate>
          <Stack>
            <Group justify="space-between">
              <Title order={1} size="h3">
                SnapAgent
              </Title>
              <LanguageSelect />
            </Group>
            <Text size="sm" c="dimmed">
              {t("login.tagline")}
            </Text>
            {registrationOpen ? (
              <SegmentedControl
                value={mode}
                onChange={(value) => {
                  setMode(value);
                  setError(null);
                }}
                data={[
                  { value: "login", label: t("login.signIn") },
                  { value: "register", label: t("login.register") },
                ]}
              />
            ) : (
              config.isSuccess && (
                <Text size="xs" c="dimmed" data-testid="registration-closed">
                  {t("login.registrationClosed")}
                </Text>
              )
            )}
            <TextInput
              label={t("login.email")}
              type="email"
              autoComplete="email"
              required
              value={email}
              onChange={(e) => {
                setEmail(e.currentTarget.value);
              }}
              error={fieldError(error, "email")}
              data-testid="login-email"
            />
            <PasswordInput
              label={t("login.password")}
              autoComplete={mode === "login" ? "current-password" : "new-password"}
              required
              value={password}
              onChange={(e) => {
                setPassword(e.currentTarget.value);
              }}
              error={fieldError(error, "password")}
              description={mode === "register" ? t("login.passwordHint", { min: minLength }) : undefined}
              data-testid="login-password"
            />
            {error !== null && !(error instanceof ApiError && error.fieldProblems.length) && (
              <Alert color="red" role="alert">
                {describeError(error)}
              </Alert>
            )}
            <Button type="submit" loading={busy} data-testid="login-submit">
              {mode === "login" ? t("login.signIn") : t("login.createAccount")}
            </Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
