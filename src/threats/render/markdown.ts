/** The Markdown report: summary, prioritised table, diagram, each threat with its reasoning, controls, baseline changes. */
import type { ReportedThreat, ThreatReport } from "../report.js";
import { SEVERITIES } from "../scoring.js";
import { renderMermaid } from "./mermaid.js";
import { elementText, evidenceText, locationText, provenanceLines, RISK_NAMES, scoreText, STRIDE_NAMES } from "./text.js";

/** Table cells: pipes and line breaks would end the cell or the row. */
const cell = (text: string): string => text.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/[\r\n]+/g, " ");
const row = (cells: readonly string[]): string => `| ${cells.map(cell).join(" | ")} |`;
const code = (text: string): string => "`" + text.replace(/`/g, "'") + "`";

export function renderMarkdown(report: ThreatReport): string {
  const out: string[] = [];
  out.push(`# Threat model: ${report.model.name}`, "");
  if (report.model.description) out.push(report.model.description, "");
  out.push(...provenanceLines(report).map((l) => `- ${l}`), "");

  out.push("## Summary", "");
  out.push(row(["", ...SEVERITIES.slice().reverse()]), row(["---", ...SEVERITIES.map(() => "---:")]));
  out.push(row(["inherent", ...SEVERITIES.slice().reverse().map((s) => String(report.summary.inherent[s]))]));
  out.push(row(["residual", ...SEVERITIES.slice().reverse().map((s) => String(report.summary.residual[s]))]), "");
  const r = report.summary.risk;
  const e = report.summary.evidence;
  out.push(`${report.summary.threats} threats: ${r.open} open, ${r.accepted} accepted, ${r.mitigated} mitigated, ${r.false_positive} false positive. Evidence: ${e.tested_failed} failed, ${e.tested_held} held, ${e.untested} untested.`, "");

  if (report.diff) out.push(...diffSection(report.diff), "");

  out.push("## Prioritised threats", "");
  out.push(...threatTable(report.threats.filter((t) => t.risk.status !== "false_positive")), "");
  const falsePositives = report.threats.filter((t) => t.risk.status === "false_positive");
  if (falsePositives.length > 0) {
    out.push("False positives (recorded in the model, not counted):", "");
    for (const t of falsePositives) out.push(`- ${code(t.id)}: ${t.risk.justification ?? ""} (${t.risk.date ?? ""})`);
    out.push("");
  }

  out.push("## Data-flow diagram", "", "Trust boundaries are subgraphs; dashed arrows cross a boundary; components are coloured by their worst open residual risk.", "");
  out.push("```mermaid", renderMermaid(report).trimEnd(), "```", "");

  out.push("## Threats in detail", "");
  for (const t of report.threats) out.push(...threatDetail(report, t), "");

  out.push("## Controls", "", row(["control", "kind", "status", "why", "mitigates"]), row(["---", "---", "---", "---", "---"]));
  for (const c of report.controls) out.push(row([`${c.name} (${code(c.id)})`, c.kind, c.status.replace("_", " "), c.reason, String(c.threats.length)]));
  out.push("", "Scoring: likelihood = round((exposure + ease + attacker) / 3); impact = max(rule base, asset sensitivity) + blast radius; residual likelihood subtracts credit for controls in place and tests that held. See docs/threat-modeling.md.", "");
  return out.join("\n");
}

export function threatTable(threats: readonly ReportedThreat[]): string[] {
  const lines = [row(["#", "threat", "element", "STRIDE", "OWASP", "ATLAS", "inherent", "controls", "evidence", "residual", "status"]), row(["---:", "---", "---", "---", "---", "---", "---", "---", "---", "---", "---"])];
  for (const t of threats) {
    lines.push(
      row([
        String(t.rank),
        `${t.title} (${code(t.id)})`,
        elementText(t),
        STRIDE_NAMES[t.stride],
        [...t.owasp, ...t.agentic].join(" ") || "-",
        t.atlas.map((a) => a.id).join(" ") || "-",
        scoreText(t.inherent),
        `${t.coverage.inPlace}/${t.coverage.total}`,
        evidenceText(t),
        scoreText(t.residual),
        `${RISK_NAMES[t.risk.status]}${t.baseline && t.baseline !== "unchanged" ? ` (${t.baseline})` : ""}`,
      ]),
    );
  }
  return lines;
}

function threatDetail(report: ThreatReport, t: ReportedThreat): string[] {
  const f = t.inherent.factors;
  const lines = [
    `### ${t.rank}. ${t.title}`,
    "",
    `${code(t.id)} · ${STRIDE_NAMES[t.stride]} · ${[...t.owasp, ...t.agentic].join(", ") || "no OWASP id"} · residual **${scoreText(t.residual)}** · ${RISK_NAMES[t.risk.status]}`,
    "",
    t.description,
    "",
    `- **Where**: ${elementText(t)}, ${code(locationText(report, t))}`,
    `- **MITRE ATLAS**: ${t.atlas.map((a) => `${a.id} ${a.name}`).join("; ") || "none"}`,
    `- **Attacker needs**: ${t.attack.access.join(" or ")} access, ${t.attack.knowledge.replace("_", "-")} knowledge; goals ${t.attack.goals.join(", ")}`,
    `- **Inherent**: likelihood ${t.inherent.likelihood} = round((exposure ${f.exposure.value} [${f.exposure.basis}] + ease ${f.ease.value} [${f.ease.basis}] + attacker ${f.attacker.value} [${f.attacker.basis}]) / 3); impact ${t.inherent.impact} = sensitivity ${f.sensitivity.value} [${f.sensitivity.basis}] + blast radius ${f.blastRadius.value} [${f.blastRadius.basis}]`,
    `- **Evidence**: ${evidenceText(t)}${t.evidence.cases.length ? `: ${t.evidence.cases.map(code).join(", ")}` : ""}`,
    `- **Residual**: ${t.residual.basis}`,
  ];
  if (t.risk.status !== "open") lines.push(`- **Decision**: ${RISK_NAMES[t.risk.status]} on ${t.risk.date ?? "?"}${t.risk.owner ? ` by ${t.risk.owner}` : ""}${t.risk.review ? `, review by ${t.risk.review}` : ""}: ${t.risk.justification ?? ""}`);
  lines.push("", row(["mitigation", "status", "why"]), row(["---", "---", "---"]));
  for (const m of t.mitigations) lines.push(row([`${m.name} (${code(m.id)})`, m.status.replace("_", " "), m.reason]));
  return lines;
}

function diffSection(diff: NonNullable<ThreatReport["diff"]>): string[] {
  const lines = [`## Changes since ${code(diff.baseline)}`, ""];
  if (diff.libraryChanged) lines.push("The baseline was made with another library version: some changes may come from the rules, not the model.", "");
  lines.push(`New: ${diff.added.length ? diff.added.map(code).join(", ") : "none"}`, "");
  lines.push(`Removed: ${diff.removed.length ? diff.removed.map((r) => `${code(r.id)} (${r.severity})`).join(", ") : "none"}`, "");
  lines.push(`Severity changed: ${diff.changed.length ? diff.changed.map((c) => `${code(c.id)} ${c.from} → ${c.to}`).join(", ") : "none"}`);
  return lines;
}
