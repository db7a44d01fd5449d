/**
 * SARIF 2.1.0 for code-scanning views. Rules are the catalogue's cases (plus
 * `failure-response`); results are the failed attempts, located at the case's
 * definition in data/attacks/ so a code-scanning view can show what was sent.
 */
import { VERSION } from "../../version.js";
import type { Catalogue } from "../catalogue.js";
import type { ScanCaseResult, Severity } from "../results.js";
import type { ScanRun } from "../runner.js";

export interface SarifRule {
  readonly id: string;
  readonly name: string;
  readonly shortDescription: { text: string };
  readonly fullDescription: { text: string };
  readonly defaultConfiguration: { level: "error" | "warning" | "note" };
  readonly properties: { tags: string[]; "security-severity": string; category: string };
}

const LEVEL: Record<Severity, "error" | "warning" | "note"> = { critical: "error", high: "error", medium: "warning", low: "note" };
const SECURITY_SEVERITY: Record<Severity, string> = { critical: "9.5", high: "8.0", medium: "5.5", low: "3.0" };

export function sarifRules(catalogue: Catalogue): SarifRule[] {
  const rules: SarifRule[] = catalogue.cases.map((c) => ({
    id: c.id,
    name: c.id.replace(/[^A-Za-z0-9]+(.)?/g, (_, ch: string | undefined) => (ch ? ch.toUpperCase() : "")),
    shortDescription: { text: c.title },
    fullDescription: { text: `${c.title} (${c.category}; OWASP ${c.owasp.join(", ")}${c.agentic.length ? `; Agentic ${c.agentic.join(", ")}` : ""}; ATLAS ${c.atlas.join(", ")})` },
    defaultConfiguration: { level: LEVEL[c.severity] },
    properties: { tags: ["security", c.category, ...c.owasp, ...c.agentic, ...c.atlas], "security-severity": SECURITY_SEVERITY[c.severity], category: c.category },
  }));
  rules.push({
    id: "failure-response",
    name: "FailureResponse",
    shortDescription: { text: "The target failed unsafely (5xx, timeout, stack trace, inconsistent status)" },
    fullDescription: { text: "A failure response is a finding of its own: it shows the target does not degrade safely or leaks internal details." },
    defaultConfiguration: { level: "warning" },
    properties: { tags: ["security", "failure_response", "LLM02", "ASI08", "AML.T0029"], "security-severity": SECURITY_SEVERITY.medium, category: "failure_response" },
  });
  return rules;
}

/** Everything up to the opening of `results`: the caller streams the results and closes with `]}]}`. */
export function sarifHeader(run: ScanRun, rules: readonly SarifRule[]): string {
  const log = {
    $schema: "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: { driver: { name: "bulwark-scan", semanticVersion: VERSION, version: VERSION, rules } },
        invocations: [{ executionSuccessful: !run.aborted, startTimeUtc: run.manifest.startedAt, endTimeUtc: run.manifest.finishedAt }],
        properties: { target: run.manifest.target, seed: run.manifest.seed, catalogueVersion: run.manifest.catalogueVersion, summary: run.summary },
        results: [],
      },
    ],
  };
  const text = JSON.stringify(log);
  return text.slice(0, text.length - "[]}]}".length) + "[";
}

export function sarifResult(record: ScanCaseResult, ruleIndex: number, location?: { file: string; line: number }): Record<string, unknown> {
  const ruleId = record.category === "failure_response" && record.id.endsWith("::failure-response") ? "failure-response" : record.caseId;
  return {
    ruleId,
    ruleIndex,
    level: LEVEL[record.severity],
    message: { text: `${record.title ?? record.caseId}: attack succeeded${record.mutators.length ? ` (mutators: ${record.mutators.join("+")})` : ""}. ${record.evidence}` },
    locations: [{ physicalLocation: { artifactLocation: { uri: location?.file ?? "data/attacks/catalogue.yaml" }, region: { startLine: location?.line ?? 1 } } }],
    partialFingerprints: { bulwarkAttempt: record.id },
    properties: { attempt: record.id, category: record.category, owasp: record.owasp, agentic: record.agentic, atlas: record.atlas, severity: record.severity },
  };
}
