/** Shared wording for the renderers, so every format says the same thing the same way. */
import type { ReportedThreat, ThreatReport } from "../report.js";

export const STRIDE_NAMES: Record<ReportedThreat["stride"], string> = {
  spoofing: "Spoofing",
  tampering: "Tampering",
  repudiation: "Repudiation",
  information_disclosure: "Information disclosure",
  denial_of_service: "Denial of service",
  elevation_of_privilege: "Elevation of privilege",
};

export const EVIDENCE_NAMES: Record<ReportedThreat["evidence"]["status"], string> = {
  tested_held: "held",
  tested_failed: "FAILED",
  untested: "untested",
};

export const RISK_NAMES: Record<ReportedThreat["risk"]["status"], string> = {
  open: "open",
  accepted: "accepted",
  mitigated: "mitigated",
  false_positive: "false positive",
};

export function evidenceText(threat: ReportedThreat): string {
  const e = threat.evidence;
  if (e.status === "untested") return e.errors > 0 ? `untested (${e.errors} errored)` : "untested";
  return `${EVIDENCE_NAMES[e.status]} (${e.failed} failed, ${e.held} held)`;
}

export function scoreText(s: { likelihood: number; impact: number; score: number; severity: string }): string {
  return `${s.severity} ${s.score} (${s.likelihood}×${s.impact})`;
}

export function provenanceLines(report: ThreatReport): string[] {
  return [
    `Model: ${report.model.source} (${report.model.sha256})`,
    `Library: ${report.library.name} ${report.library.version}, ${report.library.rules} rules, MITRE ATLAS ${report.library.atlasVersion}${report.library.userRules.length ? `; user rules: ${report.library.userRules.map((r) => `${r.id} (${r.origin})`).join(", ")}` : ""}`,
    report.policy ? `Guard policy: ${report.policy.source} (${report.policy.hash})` : "Guard policy: none given, so Bulwark controls are unassessed (pass --policy)",
    report.evidence ? `Evidence: ${report.evidence.source} (${report.evidence.sha256}), ${report.evidence.cases} cases, ${report.evidence.matchedCases} matching a threat` : "Evidence: none given, so every threat is untested (pass --evidence results.json)",
    `Bulwark ${report.tool.version}${report.generatedAt ? `, generated ${report.generatedAt}` : ""}`,
  ];
}

export function elementText(threat: ReportedThreat): string {
  return `${threat.element.name} (${threat.element.type})`;
}

export function locationText(report: ThreatReport, threat: ReportedThreat): string {
  return threat.element.line ? `${report.model.source}:${threat.element.line}` : `${report.model.source} ${threat.element.path}`;
}
