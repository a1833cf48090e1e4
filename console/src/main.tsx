import "@mantine/core/styles.css";
import "@mantine/notifications/styles.css";
import "@mantine/charts/styles.css";
import "@xyflow/react/dist/style.css";
// Korean and Latin glyphs from this origin: the console renders Korean on machines without a
// Korean system font, and loads no font from the internet. Subsets load only when used.
import "pretendard/dist/web/variable/pretendardvariable-dynamic-subset.css";
import "./styles.css";

import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

import { App } from "./App";

const root = document.getElementById("root");
if (!root) throw new Error("no #root element");
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
