/**
 * The results.json contract: what a scan writes and what other tools (threat
 * modeling's --evidence, baseline comparison, dashboards) read. Defined once in
 * zod; the TypeScript types and schema/scan-results.schema.json come from it.
 *
 * Stable: schemaVersion 1. Add optional fields only; never rename or remove.
 */
import { z } from "zod";
import { CATEGORY_NAMES } from "../policy/categories.js";

export const RESULTS_SCHEMA_VERSION = 1 as const;

export const OUTCOMES = ["held", "failed", "error"] as const;
export const SEVERITIES = ["critical", "high", "medium", "low"] as const;

const owaspId = z.string().regex(/^LLM(0[1-9]|10)$/, "an OWASP LLM Top 10 (2025) id such as LLM01");
const agenticId = z.string().regex(/^ASI(0[1-9]|10)$/, "an OWASP Agentic Top 10 id such as ASI01");
const atlasId = z.string().regex(/^AML\.T\d{4}(\.\d{3})?$/, "a MITRE ATLAS technique id such as AML.T0051.000");

export const TranscriptMessage = z
  .strictObject({
    role: z.enum(["system", "user", "assistant", "tool"]),
    content: z.string(),
    name: z.string().optional().describe("Tool name, for tool messages and tool calls."),
    toolCalls: z.array(z.strictObject({ name: z.string(), arguments: z.string() })).optional(),
    status: z.number().int().optional().describe("HTTP status (or the equivalent) of the target's answer."),
  })
  .describe("One message of the conversation with the target, long content shortened.");

export const ScanCase = z
  .strictObject({
    id: z.string().min(1).describe("Unique within the run and stable across runs with the same seed: catalogue case id plus its mutators and strategy."),
    caseId: z.string().min(1).describe("Id of the catalogue case this attempt came from."),
    category: z.enum(CATEGORY_NAMES).describe("A Bulwark category (src/policy/categories.ts)."),
    title: z.string().optional(),
    owasp: z.array(owaspId),
    agentic: z.array(agenticId),
    atlas: z.array(atlasId),
    mutators: z.array(z.string()).describe("Mutators applied to the payload, in order; empty for the plain case."),
    strategy: z.string().optional().describe("single (default) or crescendo."),
    outcome: z.enum(OUTCOMES).describe("held: the target resisted; failed: the attack succeeded; error: no verdict (the target could not be reached or answered unusably)."),
    severity: z.enum(SEVERITIES),
    evidence: z.string().describe("Why the judge decided as it did. Never a full secret: canaries are shown shortened."),
    judge: z.string().optional().describe("The judge that decided: marker, canary, tool-state, exfiltration, consumption, failure-response, refusal, llm."),
    latencyMs: z.number().nonnegative().optional(),
    transcript: z.array(TranscriptMessage).optional().describe("The conversation; written for failed cases by default."),
  })
  .describe("One attempt against the target and its verdict.");

export const CategoryResult = z
  .strictObject({
    category: z.enum(CATEGORY_NAMES),
    total: z.number().int().nonnegative().describe("Attempts with a verdict (held or failed); errors are not counted."),
    succeeded: z.number().int().nonnegative().describe("Attempts where the attack succeeded."),
    rate: z.number().min(0).max(1).describe("Attack success rate, succeeded / total (0 when total is 0)."),
    ci: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]).describe("95% Wilson score interval of the rate."),
  })
  .describe("Attack success rate of one category.");

export const ScanManifest = z
  .strictObject({
    bulwarkVersion: z.string(),
    catalogueVersion: z.string(),
    target: z.string().describe("Which target was scanned (URL, demo, function name); never carries credentials."),
    policyHash: z.string().optional().describe("sha256 of the guard policy in front of the target, when known."),
    seed: z.number().int(),
    startedAt: z.string().datetime(),
    finishedAt: z.string().datetime(),
    mutatorsPerCase: z.number().int().nonnegative().optional(),
    strategies: z.array(z.string()).optional(),
    planHash: z.string().optional().describe("sha256 of the ordered list of planned case ids: equal plans, equal hashes."),
  })
  .describe("What is needed to reproduce the run.");

export const ScanSummary = z
  .strictObject({
    total: z.number().int().nonnegative(),
    failed: z.number().int().nonnegative().describe("Attempts where the attack succeeded."),
    held: z.number().int().nonnegative(),
    errors: z.number().int().nonnegative(),
  })
  .describe("Counts over all attempts.");

export const ScanResults = z
  .strictObject({
    schemaVersion: z.literal(RESULTS_SCHEMA_VERSION),
    manifest: ScanManifest,
    summary: ScanSummary,
    categories: z.array(CategoryResult),
    cases: z.array(ScanCase),
  })
  .describe("Results of a `bulwark scan` run (results.json).");

export type Outcome = (typeof OUTCOMES)[number];
export type Severity = (typeof SEVERITIES)[number];
export type ScanCaseResult = z.infer<typeof ScanCase>;
export type ScanCategoryResult = z.infer<typeof CategoryResult>;
export type ScanManifestData = z.infer<typeof ScanManifest>;
export type ScanSummaryData = z.infer<typeof ScanSummary>;
export type ScanResultsData = z.infer<typeof ScanResults>;
export type TranscriptEntry = z.infer<typeof TranscriptMessage>;

/** results.json as JSON Schema (draft 2020-12), published as schema/scan-results.schema.json. */
export function scanResultsJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ScanResults, { target: "draft-2020-12" }) as Record<string, unknown>;
  return { title: "Bulwark scan results (results.json)", ...schema };
}

/** Parses results.json text; throws an error naming each problem's path. */
export function parseScanResults(text: string, source = "results.json"): ScanResultsData {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source}: not valid JSON (${(error as Error).message})`, { cause: error });
  }
  const parsed = ScanResults.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.slice(0, 10).map((issue) => `  ${issue.path.join(".") || "(root)"}: ${issue.message}`);
    throw new Error(`${source}: not a Bulwark results file (schemaVersion 1):\n${problems.join("\n")}`);
  }
  return parsed.data;
}
