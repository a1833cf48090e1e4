import { createTheme } from "@mantine/core";

export const theme = createTheme({
  fontFamily: "var(--console-font)",
  headings: { fontFamily: "var(--console-font)" },
  primaryColor: "blue",
  defaultRadius: "md",
});
