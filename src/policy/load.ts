/**
 * Loading a policy: parse YAML or JSON, validate against the schema, check
 * user-supplied patterns, and hash the result. A policy is either accepted whole
 * or rejected with every problem listed; it is never half-applied.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { LineCounter, parseDocument, isNode } from "yaml";
import type { z } from "zod";
import { PolicySchema, type Policy, type PolicyInput } from "./schema.js";
import { checkPatternSafety } from "./pattern-safety.js";
import { formatProblem, ProblemsError, type Problem } from "../util/problems.js";

export type PolicyProblem = Problem;

export class PolicyError extends ProblemsError {
  constructor(source: string, problems: readonly PolicyProblem[]) {
    super(source, problems, "policy");
    this.name = "PolicyError";
  }
}

export { formatProblem };

export interface LoadedPolicy {
  readonly policy: Policy;
  /** `sha256:` followed by the hex digest of the resolved policy in canonical JSON. */
  readonly hash: string;
  /** Where it came from: a file path, or `built-in`. */
  readonly source: string;
}

/** Validate an already-parsed policy object. Throws PolicyError listing every problem. */
export function resolvePolicy(input: unknown, source = "policy", locate?: (path: readonly PropertyKey[]) => { line: number; column: number } | undefined): LoadedPolicy {
  const result = PolicySchema.safeParse(input, { reportInput: true });
  if (!result.success) {
    throw new PolicyError(source, result.error.issues.flatMap((issue) => problemsFromIssue(issue, locate)));
  }
  const patternProblems = checkCustomRules(result.data);
  if (patternProblems.length > 0) {
    throw new PolicyError(source, patternProblems.map((p) => ({ ...p, ...locate?.(p.path.split(".").map((k) => (/^\d+$/.test(k) ? Number(k) : k))) })));
  }
  return { policy: result.data, hash: hashPolicy(result.data), source };
}

/** Parse and validate policy text (YAML, which includes JSON). */
export function parsePolicy(text: string, source = "policy"): LoadedPolicy {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new PolicyError(
      source,
      document.errors.map((error) => {
        const pos = lineCounter.linePos(error.pos[0]);
        return { path: "", expected: "valid YAML or JSON", found: error.message.split("\n")[0] ?? error.code, line: pos.line, column: pos.col };
      }),
    );
  }
  const locate = (path: readonly PropertyKey[]): { line: number; column: number } | undefined => {
    // Walk up until a node exists (a missing key is reported at its parent).
    for (let depth = path.length; depth >= 0; depth--) {
      const node: unknown = depth === 0 ? document.contents : document.getIn(path.slice(0, depth), true);
      if (isNode(node) && node.range) {
        const pos = lineCounter.linePos(node.range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
    return undefined;
  };
  return resolvePolicy(document.toJS(), source, locate);
}

export async function loadPolicyFile(path: string): Promise<LoadedPolicy> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message;
    throw new PolicyError(path, [{ path: "", expected: "a readable policy file", found: reason }]);
  }
  return parsePolicy(text, path);
}

/** The built-in default policy: every layer on, fail-closed. */
export function defaultPolicy(): LoadedPolicy {
  const input: PolicyInput = { version: 1 };
  return { ...resolvePolicy(input, "built-in"), source: "built-in" };
}

export function hashPolicy(policy: Policy): string {
  return "sha256:" + createHash("sha256").update(canonicalJson(policy)).digest("hex");
}

/** JSON with object keys sorted, so equal policies hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

function checkCustomRules(policy: Policy): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const seen = new Set<string>();
  policy.layers.heuristics.customRules.forEach((rule, index) => {
    const path = `layers.heuristics.customRules.${index}`;
    if (seen.has(rule.id)) problems.push({ path: `${path}.id`, expected: "a rule id not used before", found: JSON.stringify(rule.id) });
    seen.add(rule.id);
    const verdict = checkPatternSafety(rule.pattern, rule.flags);
    if (!verdict.safe) problems.push({ path: `${path}.pattern`, expected: "a regular expression that runs in linear time", found: verdict.reason });
  });
  const entityNames = new Set<string>();
  policy.layers.pii.customEntities.forEach((entity, index) => {
    const path = `layers.pii.customEntities.${index}`;
    if (entityNames.has(entity.name)) problems.push({ path: `${path}.name`, expected: "an entity name not used before", found: JSON.stringify(entity.name) });
    entityNames.add(entity.name);
    const verdict = checkPatternSafety(entity.pattern, entity.flags);
    if (!verdict.safe) problems.push({ path: `${path}.pattern`, expected: "a regular expression that runs in linear time", found: verdict.reason });
  });
  return problems;
}

function problemsFromIssue(issue: z.core.$ZodIssue, locate?: (path: readonly PropertyKey[]) => { line: number; column: number } | undefined): PolicyProblem[] {
  const path = issue.path.map(String).join(".");
  const at = (p: Omit<PolicyProblem, "line" | "column">, where: readonly PropertyKey[] = issue.path): PolicyProblem => {
    const position = locate?.(where);
    return { ...p, ...(position ? { line: position.line, column: position.column } : {}) };
  };
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) =>
        at({ path: path ? `${path}.${key}` : key, expected: "no such key (check the spelling; see docs/policy.md)", found: `unknown key ${JSON.stringify(key)}` }, [...issue.path, key]),
      );
    case "invalid_type":
      return [at({ path, expected: issue.expected, found: describe(issue.input) })];
    case "invalid_value":
      return [at({ path, expected: `one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`, found: describe(issue.input) })];
    case "too_small":
    case "too_big":
    case "invalid_format":
    case "not_multiple_of":
    case "invalid_key":
    case "invalid_element":
    case "invalid_union":
    case "custom":
      return [at({ path, expected: issue.message.replace(/^(Too small|Too big|Invalid [a-z ]+): (expected )?/i, ""), found: describe(issue.input) })];
  }
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing (the field is missing)";
  const json = JSON.stringify(value);
  const shown = json === undefined ? String(value) : json.length > 60 ? json.slice(0, 57) + "..." : json;
  return `${Array.isArray(value) ? "array" : value === null ? "null" : typeof value} ${shown}`;
}
