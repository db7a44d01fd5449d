/** Renderers: a ThreatReport in each output format. Pure functions of the report; same report, same bytes. */
import type { ThreatReport } from "../report.js";
import { renderHtml } from "./html.js";
import { renderMarkdown } from "./markdown.js";
import { renderMermaid } from "./mermaid.js";
import { renderSarif } from "./sarif.js";

export const FORMATS = ["md", "html", "json", "sarif", "mermaid"] as const;
export type ThreatFormat = (typeof FORMATS)[number];

export function renderReport(report: ThreatReport, format: ThreatFormat): string {
  switch (format) {
    case "md":
      return renderMarkdown(report);
    case "html":
      return renderHtml(report);
    case "json":
      return JSON.stringify(report, null, 2) + "\n";
    case "sarif":
      return renderSarif(report);
    case "mermaid":
      return renderMermaid(report);
  }
}

export { renderHtml, renderMarkdown, renderMermaid, renderSarif };
export { SarifLogSchema } from "./sarif-schema.js";
