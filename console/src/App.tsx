import { MantineProvider } from "@mantine/core";
import { Notifications } from "@mantine/notifications";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { lazy, Suspense } from "react";
import { BrowserRouter, Navigate, Route, Routes, useLocation } from "react-router";

import { ApiError } from "./api/problem";
import { useSession } from "./api/session";
import { I18nProvider } from "./i18n/i18n";
import { AppLayout } from "./layout/AppLayout";
import { PageLoader } from "./layout/PageLoader";
import { LoginPage } from "./pages/LoginPage";
import { theme } from "./theme";

// Pages load on first visit: the editor and the charts are the heavy ones.
const BotsPage = lazy(() => import("./pages/bots/BotsPage"));
const BotPage = lazy(() => import("./pages/bots/BotPage"));
const KnowledgeBasesPage = lazy(() => import("./pages/knowledge/KnowledgeBasesPage"));
const KnowledgeBasePage = lazy(() => import("./pages/knowledge/KnowledgeBasePage"));
const AccountPage = lazy(() => import("./pages/account/AccountPage"));

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // A 4xx will not get better by asking again.
      retry: (count, error) => !(error instanceof ApiError && error.status < 500) && count < 2,
      refetchOnWindowFocus: false,
    },
  },
});

function RequireSession() {
  const session = useSession();
  const location = useLocation();
  if (!session) {
    const next = encodeURIComponent(location.pathname + location.search);
    return <Navigate to={`/login?next=${next}`} replace />;
  }
  return <AppLayout />;
}

export function App() {
  return (
    <I18nProvider>
      <MantineProvider theme={theme}>
        <Notifications position="top-right" />
        <QueryClientProvider client={queryClient}>
          <BrowserRouter>
            <Suspense fallback={<PageLoader />}>
              <Routes>
                <Route path="/login" element={<LoginPage />} />
                <Route element={<RequireSession />}>
                  <Route index element={<Navigate to="/bots" replace />} />
                  <Route path="/bots" element={<BotsPage />} />
                  <Route path="/bots/:botId/*" element={<BotPage />} />
                  <Route path="/knowledge" element={<KnowledgeBasesPage />} />
                  <Route path="/knowledge/:kbId" element={<KnowledgeBasePage />} />
                  <Route path="/account" element={<AccountPage />} />
                  <Route path="*" element={<Navigate to="/bots" replace />} />
                </Route>
              </Routes>
            </Suspense>
          </BrowserRouter>
        </QueryClientProvider>
      </MantineProvider>
    </I18nProvider>
  );
}
