import { Alert, Button, Group } from "@mantine/core";
import type { UseQueryResult } from "@tanstack/react-query";
import type { ReactNode } from "react";

import { describeError } from "../api/problem";
import { useT } from "../i18n/i18n";
import { PageLoader } from "../layout/PageLoader";

/** Loading and error states of a query, so each page renders only its data. */
export function QueryState<T>({
  query,
  children,
}: {
  query: UseQueryResult<T>;
  children: (data: T) => ReactNode;
}) {
  const t = useT();
  if (query.isPending) return <PageLoader />;
  if (query.isError) {
    return (
      <Alert color="red" role="alert" title={t("common.loadFailed")}>
        <Group justify="space-between" wrap="nowrap">
          <span style={{ whiteSpace: "pre-wrap" }}>{describeError(query.error)}</span>
          <Button size="xs" variant="light" onClick={() => void query.refetch()}>
            {t("common.retry")}
          </Button>
        </Group>
      </Alert>
    );
  }
  return <>{children(query.data)}</>;
}
