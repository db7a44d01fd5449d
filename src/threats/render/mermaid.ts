/**
 * The data-flow diagram as Mermaid: trust boundaries as nested subgraphs,
 * components shaped by type, flows that cross a boundary drawn dashed, entry
 * points as flags, and each component coloured by its worst open residual risk.
 */
import type { ReportedThreat, ThreatReport } from "../report.js";
import { SEVERITIES } from "../scoring.js";

const SHAPES: Record<string, [string, string]> = {
  llm: ["{{", "}}"],
  agent: ["{{", "}}"],
  tool: ["[[", "]]"],
  retrieval_store: ["[(", ")]"],
  vector_db: ["[(", ")]"],
  memory: ["[(", ")]"],
  data_store: ["[(", ")]"],
  dataset: ["[(", ")]"],
  human: ["([", "])"],
  system_prompt: ["[/", "/]"],
  model_artifact: ["[\\", "/]"],
  training_pipeline: ["[\\", "\\]"],
  external_api: ["(", ")"],
  web_app: ["[", "]"],
};

const nodeId = (prefix: string, id: string): string => `${prefix}_${id.replace(/[^A-Za-z0-9]/g, "_")}`;
/** Mermaid labels in double quotes: quotes and angle brackets become entities, so no label can break the syntax. */
const label = (...lines: string[]): string => `"${lines.map((text) => text.replace(/"/g, "#quot;").replace(/</g, "#lt;").replace(/>/g, "#gt;").replace(/[\r\n]+/g, " ")).join("<br/>")}"`;

export function renderMermaid(report: ThreatReport): string {
  const { boundaries, components, flows, entryPoints } = report.elements;
  const worst = worstOpenSeverity(report.threats);
  const lines = ["flowchart LR"];
  const childrenOf = (parent: string | undefined): typeof boundaries => boundaries.filter((b) => b.parent === parent);
  const emit = (boundary: (typeof boundaries)[number], depth: number): void => {
    const pad = "  ".repeat(depth);
    lines.push(`${pad}subgraph ${nodeId("b", boundary.id)}[${label(`${boundary.name} · ${boundary.trust}`)}]`);
    for (const c of components.filter((x) => x.boundary === boundary.id)) {
      const [open, close] = SHAPES[c.type] ?? ["[", "]"];
      lines.push(`${pad}  ${nodeId("c", c.id)}${open}${label(c.name, `${c.type}${c.threats ? ` · ${c.threats} threat${c.threats === 1 ? "" : "s"}` : ""}`)}${close}`);
    }
    for (const child of childrenOf(boundary.id)) emit(child, depth + 1);
    lines.push(`${pad}end`);
  };
  const known = new Set(boundaries.map((b) => b.id));
  for (const root of boundaries.filter((b) => b.parent === undefined || !known.has(b.parent))) emit(root, 1);
  for (const e of entryPoints) {
    lines.push(`  ${nodeId("e", e.id)}>${label(`${e.name} · ${e.kind}, ${e.exposure}`)}] -.-> ${nodeId("c", e.component)}`);
  }
  for (const f of flows) {
    const arrow = f.crossesBoundary ? "-.->" : "-->";
    lines.push(`  ${nodeId("c", f.from)} ${arrow}${f.label ? `|${label(f.label)}|` : ""} ${nodeId("c", f.to)}`);
  }
  lines.push(
    "  classDef critical fill:#f8d0d0,stroke:#a40000,stroke-width:2px,color:#000",
    "  classDef high fill:#fde2c4,stroke:#b35900,color:#000",
    "  classDef medium fill:#fff3bf,stroke:#8a6d00,color:#000",
    "  classDef low fill:#e3f1e3,stroke:#2f6b2f,color:#000",
    "  classDef entry fill:#e8e8ff,stroke:#3b3b9b,color:#000",
  );
  for (const severity of SEVERITIES) {
    const ids = components.filter((c) => worst.get(c.id) === severity).map((c) => nodeId("c", c.id));
    if (ids.length > 0) lines.push(`  class ${ids.join(",")} ${severity}`);
  }
  if (entryPoints.length > 0) lines.push(`  class ${entryPoints.map((e) => nodeId("e", e.id)).join(",")} entry`);
  return lines.join("\n") + "\n";
}

function worstOpenSeverity(threats: readonly ReportedThreat[]): Map<string, (typeof SEVERITIES)[number]> {
  const worst = new Map<string, (typeof SEVERITIES)[number]>();
  for (const t of threats) {
    if (t.element.kind !== "component" || t.risk.status !== "open") continue;
    const current = worst.get(t.element.id);
    if (!current || SEVERITIES.indexOf(t.residual.severity) > SEVERITIES.indexOf(current)) worst.set(t.element.id, t.residual.severity);
  }
  return worst;
}
