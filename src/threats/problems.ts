/**
 * Problems in a threat model or library file, each with its path, what was
 * expected, what was found, and its line and column; and parsing YAML so that
 * any path in the parsed value can be traced back to its position. The problem
 * shape and message are shared with policy loading (src/util/problems.ts).
 */
import { LineCounter, parseDocument, isNode, type Document } from "yaml";
import type { z } from "zod";
import { ProblemsError, type Problem } from "../util/problems.js";

export type { Problem };

export type Locate = (path: readonly PropertyKey[]) => { line: number; column: number } | undefined;

export class ThreatModelError extends ProblemsError {
  constructor(source: string, problems: readonly Problem[], what = "threat model") {
    super(source, problems, what);
    this.name = "ThreatModelError";
  }
}

export interface ParsedYaml {
  readonly value: unknown;
  readonly locate: Locate;
}

/** Parses YAML (which includes JSON). Syntax errors and duplicate keys come back as problems with positions. */
export function parseYaml(text: string): ParsedYaml | { problems: Problem[] } {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    return {
      problems: document.errors.map((error) => {
        const pos = lineCounter.linePos(error.pos[0]);
        const duplicate = error.code === "DUPLICATE_KEY";
        return {
          path: "",
          expected: duplicate ? "each key once per mapping" : "valid YAML or JSON",
          found: duplicate ? "a duplicate key" : (error.message.split("\n")[0] ?? error.code),
          line: pos.line,
          column: pos.col,
        };
      }),
    };
  }
  return { value: document.toJS({ maxAliasCount: 100 }) as unknown, locate: locator(document, lineCounter) };
}

function locator(document: Document, lineCounter: LineCounter): Locate {
  return (path) => {
    // Walk up until a node exists: a missing key is reported at its parent.
    for (let depth = path.length; depth >= 0; depth--) {
      const node: unknown = depth === 0 ? document.contents : document.getIn(path.slice(0, depth), true);
      if (isNode(node) && node.range) {
        const pos = lineCounter.linePos(node.range[0]);
        return { line: pos.line, column: pos.col };
      }
    }
    return undefined;
  };
}

/** Adds the position of `where` (default: the problem's own path) to a problem. */
export function located(problem: Omit<Problem, "line" | "column">, locate: Locate | undefined, where?: readonly PropertyKey[]): Problem {
  const position = locate?.(where ?? pathKeys(problem.path));
  return position ? { ...problem, line: position.line, column: position.column } : problem;
}

export function pathKeys(path: string): PropertyKey[] {
  return path === "" ? [] : path.split(".").map((k) => (/^\d+$/.test(k) ? Number(k) : k));
}

/** zod issues as problems; unions and nested issues are flattened to their leaves. */
export function problemsFromIssues(issues: readonly z.core.$ZodIssue[], locate: Locate | undefined, prefix: readonly PropertyKey[] = []): Problem[] {
  return issues.flatMap((issue) => problemsFromIssue(issue, locate, prefix));
}

function problemsFromIssue(issue: z.core.$ZodIssue, locate: Locate | undefined, prefix: readonly PropertyKey[]): Problem[] {
  const keys = [...prefix, ...issue.path];
  const path = keys.map(String).join(".");
  const at = (p: Omit<Problem, "line" | "column">, where: readonly PropertyKey[] = keys): Problem => located(p, locate, where);
  switch (issue.code) {
    case "unrecognized_keys":
      return issue.keys.map((key) => at({ path: path ? `${path}.${key}` : key, expected: "no such key (check the spelling; see docs/threat-modeling.md)", found: `unknown key ${JSON.stringify(key)}` }, [...keys, key]));
    case "invalid_type":
      return [at({ path, expected: issue.expected, found: describeValue(issue.input) })];
    case "invalid_value":
      return [at({ path, expected: `one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}`, found: describeValue(issue.input) })];
    case "invalid_union": {
      // The branch with the fewest problems is the one the author most likely meant.
      const best = [...issue.errors].sort((a, b) => a.length - b.length)[0];
      return best && best.length > 0 ? problemsFromIssues(best, locate, keys) : [at({ path, expected: "a valid value", found: describeValue(issue.input) })];
    }
    case "too_small":
    case "too_big":
    case "invalid_format":
    case "not_multiple_of":
    case "invalid_key":
    case "invalid_element":
    case "custom":
      return [at({ path, expected: issue.message.replace(/^(Too small|Too big|Invalid [a-z ]+): (expected )?/i, ""), found: describeValue(issue.input) })];
  }
}

export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing (the field is missing)";
  const json = JSON.stringify(value);
  const shown = json === undefined ? String(value) : json.length > 60 ? json.slice(0, 57) + "..." : json;
  return `${Array.isArray(value) ? "array" : value === null ? "null" : typeof value} ${shown}`;
}
