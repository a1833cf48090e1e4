import { Anchor, AppShell, Burger, Group, NavLink, Select, Text, Button } from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { IconDatabase, IconKey, IconRobot } from "@tabler/icons-react";
import { Suspense } from "react";
import { Link, Outlet, useLocation } from "react-router";

import { setSession, useSession } from "../api/session";
import { LANGUAGES, useI18n } from "../i18n/i18n";
import { PageLoader } from "./PageLoader";

export function LanguageSelect() {
  const { language, setLanguage, t } = useI18n();
  return (
    <Select
      aria-label={t("layout.language")}
      data-testid="language-select"
      data={LANGUAGES.map((l) => ({ value: l.value, label: l.label }))}
      value={language}
      onChange={(value) => {
        if (value) setLanguage(value);
      }}
      allowDeselect={false}
      w={120}
      size="xs"
    />
  );
}

export function AppLayout() {
  const { t } = useI18n();
  const session = useSession();
  const location = useLocation();
  const [opened, { toggle, close }] = useDisclosure();
  const links = [
    { to: "/bots", label: t("nav.bots"), icon: IconRobot },
    { to: "/knowledge", label: t("nav.knowledge"), icon: IconDatabase },
    { to: "/account", label: t("nav.account"), icon: IconKey },
  ];
  return (
    <AppShell
      header={{ height: 52 }}
      navbar={{ width: 200, breakpoint: "sm", collapsed: { mobile: !opened } }}
      padding="md"
    >
      <AppShell.Header>
        <a className="skip-link" href="#main">
          {t("layout.skip")}
        </a>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="xs" wrap="nowrap">
            <Burger
              opened={opened}
              onClick={toggle}
              hiddenFrom="sm"
              size="sm"
              aria-label={t("layout.menu")}
            />
            <Anchor component={Link} to="/bots" fw={700} c="inherit" underline="never">
              SnapAgent
            </Anchor>
          </Group>
          <Group gap="xs" wrap="nowrap">
            <LanguageSelect />
            <Text size="sm" c="dimmed" visibleFrom="md">
              {session?.email}
            </Text>
            <Button
              variant="subtle"
              size="xs"
              onClick={() => {
                setSession(null);
              }}
            >
              {t("layout.signOut")}
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="xs" aria-label={t("layout.navigation")}>
        {links.map((link) => (
          <NavLink
            key={link.to}
            component={Link}
            to={link.to}
            label={link.label}
            leftSection={<link.icon size={18} stroke={1.6} />}
            active={location.pathname.startsWith(link.to)}
            onClick={close}
          />
        ))}
      </AppShell.Navbar>
      <AppShell.Main id="main">
        <Suspense fallback={<PageLoader />}>
          <Outlet />
        </Suspense>
      </AppShell.Main>
    </AppShell>
  );
}
