/**
 * SARIF 2.1.0 for code-scanning views: one rule per library rule, one result
 * per threat, located at the element's line in the model file. Risk decisions
 * become suppressions (the decision lives in the model, so `inSource`), the
 * baseline comparison becomes baselineState, and the residual score becomes
 * GitHub's `security-severity` (0-10).
 */
import type { ReportedThreat, ThreatReport } from "../report.js";
import { STRIDE_NAMES } from "./text.js";

const LEVELS: Record<ReportedThreat["residual"]["severity"], "error" | "warning" | "note"> = { critical: "error", high: "error", medium: "warning", low: "note" };

export function renderSarif(report: ThreatReport): string {
  const ruleIds = [...new Set(report.threats.map((t) => t.rule))].sort();
  const firstOf = new Map<string, ReportedThreat>();
  for (const t of report.threats) if (!firstOf.has(t.rule)) firstOf.set(t.rule, t);
  const uri = report.model.source.replace(/\\/g, "/");
  const rules = ruleIds.map((id) => {
    const t = firstOf.get(id) as ReportedThreat;
    return {
      id,
      name: id.split(/[.-]/).map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(""),
      shortDescription: { text: t.title.replace(t.element.name, "an element") },
      fullDescription: { text: t.description },
      help: { text: `Mitigations: ${t.mitigations.map((m) => `${m.name} (${m.id})`).join("; ")}.`, markdown: t.mitigations.map((m) => `- ${m.name} (\`${m.id}\`)`).join("\n") },
      properties: {
        tags: ["security", "threat-model", STRIDE_NAMES[t.stride], ...t.owasp, ...t.agentic, ...t.atlas.map((a) => a.id)],
        stride: t.stride,
        owasp: t.owasp,
        agentic: t.agentic,
        atlas: t.atlas,
      },
    };
  });
  const results = report.threats.map((t) => ({
    ruleId: t.rule,
    ruleIndex: ruleIds.indexOf(t.rule),
    kind: "fail",
    level: LEVELS[t.residual.severity],
    message: { text: `${t.title}. Residual ${t.residual.severity} (${t.residual.score}/25; inherent ${t.inherent.score}/25). ${t.coverage.inPlace} of ${t.coverage.total} controls in place; evidence: ${t.evidence.status.replace("_", " ")}.` },
    locations: [
      {
        physicalLocation: { artifactLocation: { uri, index: 0 }, region: { startLine: t.element.line ?? 1, startColumn: t.element.column ?? 1 } },
        logicalLocations: [{ name: t.element.id, fullyQualifiedName: t.element.path, kind: t.element.kind === "flow" ? "dataFlow" : "component" }],
      },
    ],
    partialFingerprints: { "bulwarkThreatId/v1": t.id },
    ...(t.baseline ? { baselineState: t.baseline } : {}),
    ...(t.risk.status !== "open" ? { suppressions: [{ kind: "inSource", status: "accepted", justification: `${t.risk.status.replace("_", " ")} on ${t.risk.date ?? "?"}: ${t.risk.justification ?? ""}` }] } : {}),
    properties: {
      "security-severity": (t.residual.score * 0.4).toFixed(1),
      threatId: t.id,
      rank: t.rank,
      inherent: { likelihood: t.inherent.likelihood, impact: t.inherent.impact, score: t.inherent.score, severity: t.inherent.severity },
      residual: { likelihood: t.residual.likelihood, impact: t.residual.impact, score: t.residual.score, severity: t.residual.severity },
      evidence: t.evidence.status,
      missingControls: t.mitigations.filter((m) => m.status === "missing" || m.status === "not_declared" || m.status === "unassessed").map((m) => m.id),
    },
  }));
  const log = {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: { driver: { name: "bulwark-threats", version: report.tool.version, semanticVersion: report.tool.version, rules, properties: { library: `${report.library.name} ${report.library.version}`, atlas: report.library.atlasVersion } } },
        artifacts: [{ location: { uri } }],
        columnKind: "unicodeCodePoints",
        results,
        properties: { model: report.model, policy: report.policy, evidence: report.evidence, removedSinceBaseline: report.diff?.removed ?? [] },
      },
    ],
  };
  return JSON.stringify(log, null, 2) + "\n";
}
