/**
 * Evidence: what scan results (`bulwark scan`'s results.json) say about each
 * threat. The file is validated with the scanner's own schema
 * (src/redteam/results.ts), so both sides agree on one contract.
 *
 * Matching rule (docs/threat-modeling.md): a case is evidence for a threat when
 *   1. its category is one of the threat's categories, or
 *   2. it shares an ATLAS technique with the threat (a case tagged with a
 *      sub-technique matches a threat tagged with the parent technique) and
 *      also shares an OWASP LLM or OWASP Agentic id.
 * A threat with a failed case is tested_failed; otherwise with a held case
 * tested_held; otherwise untested (cases that ended in error test nothing).
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { ScanResults, type ScanCaseResult } from "../redteam/results.js";
import type { Rule } from "./library-schema.js";
import { describeValue, ThreatModelError, type Problem } from "./problems.js";
import type { EvidenceStatus } from "./report.js";

/** The fields evidence matching reads from each case of the scanner's results.json (src/redteam/results.ts). */
export type ScanCase = Pick<ScanCaseResult, "id" | "category" | "owasp" | "agentic" | "atlas" | "outcome">;

export interface LoadedEvidence {
  readonly source: string;
  readonly sha256: string;
  readonly cases: readonly ScanCase[];
}

export async function loadEvidenceFile(path: string): Promise<LoadedEvidence> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message;
    throw new ThreatModelError(path, [{ path: "", expected: "a readable scan results file (results.json)", found: reason }], "scan results");
  }
  return parseEvidence(bytes.toString("utf8"), path, createHash("sha256").update(bytes).digest("hex"));
}

export function parseEvidence(text: string, source = "results.json", sha256 = createHash("sha256").update(text).digest("hex")): LoadedEvidence {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ThreatModelError(source, [{ path: "", expected: "JSON", found: (error as Error).message }], "scan results");
  }
  const result = ScanResults.safeParse(value, { reportInput: true });
  if (!result.success) {
    const problems: Problem[] = result.error.issues.slice(0, 50).map((issue) => ({
      path: issue.path.map(String).join("."),
      expected: issue.code === "invalid_value" ? `one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}` : issue.code === "invalid_type" ? issue.expected : issue.message,
      found: describeValue((issue as { input?: unknown }).input),
    }));
    throw new ThreatModelError(source, problems, "scan results");
  }
  return { source, sha256: `sha256:${sha256}`, cases: result.data.cases };
}

export interface ThreatEvidence {
  readonly status: EvidenceStatus;
  readonly held: number;
  readonly failed: number;
  readonly errors: number;
  readonly cases: string[];
}

const MAX_LISTED_CASES = 20;

export function caseMatches(rule: Pick<Rule, "categories" | "atlas" | "owasp" | "agentic">, scanCase: ScanCase): boolean {
  if (rule.categories.includes(scanCase.category)) return true;
  const sharesTechnique = scanCase.atlas.some((technique) => rule.atlas.includes(technique) || rule.atlas.includes(technique.replace(/\.\d{3}$/, "")));
  if (!sharesTechnique) return false;
  return scanCase.owasp.some((id) => (rule.owasp as readonly string[]).includes(id)) || scanCase.agentic.some((id) => (rule.agentic as readonly string[]).includes(id));
}

export function evidenceFor(rule: Pick<Rule, "categories" | "atlas" | "owasp" | "agentic">, cases: readonly ScanCase[]): ThreatEvidence {
  const matched = cases.filter((c) => caseMatches(rule, c));
  const failed = matched.filter((c) => c.outcome === "failed");
  const held = matched.filter((c) => c.outcome === "held");
  const errors = matched.length - failed.length - held.length;
  const byId = (a: ScanCase, b: ScanCase): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const listed = [...failed.sort(byId), ...held.sort(byId)].slice(0, MAX_LISTED_CASES).map((c) => c.id);
  const status: EvidenceStatus = failed.length > 0 ? "tested_failed" : held.length > 0 ? "tested_held" : "untested";
  return { status, held: held.length, failed: failed.length, errors, cases: listed };
}
