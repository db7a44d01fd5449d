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
  const schemaProblems = result.success ? [] : result.error.issues.flatMap((issue) => problemsFromIssue(issue, locate));
  // Custom rules and entities are checked even when the schema rejected something else (in the input as
  // written), so that one round of fixes is enough; a pattern or id the schema already rejected is not reported twice.
  const reported = new Set(schemaProblems.map((problem) => problem.path));
  const patternProblems = checkCustomPatterns(result.success ? result.data : input)
    .filter((problem) => !reported.has(problem.path))
    .map((problem) => ({ ...problem, ...locate?.(problem.path.split(".").map((k) => (/^\d+$/.test(k) ? Number(k) : k))) }));
  if (!result.success || patternProblems.length > 0) throw new PolicyError(source, [...schemaProblems, ...patternProblems]);
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

/**
 * Duplicate names and unsafe patterns among the policy's custom heuristic rules and PII entities. Reads the
 * policy as written when the schema rejected it, so it takes nothing for granted: entries without a string
 * pattern, or with flags other than i, m, s and u, are left to the schema's own problems.
 */
function checkCustomPatterns(policy: unknown): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const check = (list: unknown, base: string, keyField: "id" | "name", what: string): void => {
    const seen = new Set<unknown>();
    entriesOf(list).forEach((entry, index) => {
      const path = `${base}.${index}`;
      const key = entry[keyField];
      if (typeof key === "string") {
        if (seen.has(key)) problems.push({ path: `${path}.${keyField}`, expected: `${what} not used before`, found: JSON.stringify(key) });
        seen.add(key);
      }
      const { pattern, flags = "" } = entry;
      if (typeof pattern !== "string" || typeof flags !== "string" || !/^[imsu]*$/.test(flags)) return;
      const verdict = checkPatternSafety(pattern, flags);
      if (!verdict.safe) problems.push({ path: `${path}.pattern`, expected: "a regular expression that runs in linear time", found: verdict.reason });
    });
  };
  check(fieldAt(policy, "layers", "heuristics", "customRules"), "layers.heuristics.customRules", "id", "a rule id");
  check(fieldAt(policy, "layers", "pii", "customEntities"), "layers.pii.customEntities", "name", "an entity name");
  return problems;
}

/** The value at a path of object keys, or undefined where the path leaves objects. */
function fieldAt(value: unknown, ...keys: string[]): unknown {
  let at = value;
  for (const key of keys) at = typeof at === "object" && at !== null ? (at as Record<string, unknown>)[key] : undefined;
  return at;
}

/** The elements of an array as records (a non-object element as an empty one, so indexes stay those of the input). */
function entriesOf(list: unknown): Array<Record<string, unknown>> {
  if (!Array.isArray(list)) return [];
  return list.map((item: unknown) => (typeof item === "object" && item !== null ? (item as Record<string, unknown>) : {}));
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
