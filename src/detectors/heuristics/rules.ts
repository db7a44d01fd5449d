/**
 * The built-in rule set: YAML files in data/rules/heuristics/, validated with
 * zod and compiled once when this module loads. A malformed rules file is a
 * build defect, so loading throws (the guard then cannot start: fail closed).
 */
import { readdirSync } from "node:fs";
import { readShippedYaml } from "../../util/data-file.js";
import { z } from "zod";
import { ROLES, type Role } from "../../policy/schema.js";

export const RULE_CATEGORIES = ["prompt_injection", "indirect_injection", "jailbreak", "system_prompt_extraction", "obfuscation"] as const;
export type RuleCategory = (typeof RULE_CATEGORIES)[number];

const RuleSpec = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/),
  category: z.enum(RULE_CATEGORIES),
  /**
   * Where the pattern may start: whole words (looked up in one pass over the
   * text) or, for scripts without spaces and for punctuation, substrings.
   * The pattern is tried only at these positions, which keeps the layer linear.
   */
  anchors: z.array(z.string().min(1)).min(1),
  /** A JavaScript regular expression matched (sticky) at an anchor in the folded text; `%name%` expands a macro. */
  pattern: z.string().min(1),
  score: z.number().gt(0).max(1),
  /**
   * Words of which at least one must occur in the text for the rule to be
   * tried at all: a cheap filter for rules anchored on common words.
   */
  requires: z.array(z.string().regex(/^[\p{L}\p{N}]+$/u)).min(1).optional(),
  /** Only for these roles (for example instructions addressed to an AI inside a document). */
  roles: z.array(z.enum(ROLES)).min(1).optional(),
  description: z.string().min(1),
  tests: z.strictObject({
    match: z.array(z.string().min(1)).min(1),
    noMatch: z.array(z.string().min(1)).default([]),
  }),
});

const RulesFile = z.strictObject({
  version: z.literal(1),
  macros: z.record(z.string().regex(/^[a-z][a-z0-9_]*$/), z.string().min(1)).optional(),
  /** Shared anchor lists, referenced with YAML aliases inside the same file. */
  "x-anchors": z.record(z.string(), z.array(z.string())).optional(),
  rules: z.array(RuleSpec).default([]),
});

export type RuleSpec = z.output<typeof RuleSpec>;

export interface CompiledRule {
  readonly id: string;
  readonly category: RuleCategory;
  readonly score: number;
  readonly description: string;
  readonly roles: readonly Role[] | null;
  /** Lower-cased words of which one must occur for the rule to be tried; null when unconditional. */
  readonly requires: readonly string[] | null;
  /** Lower-cased anchors. */
  readonly anchors: readonly string[];
  /** The pattern with macros expanded, as checked for backtracking. */
  readonly source: string;
  /** Sticky: tried at one position at a time. */
  readonly sticky: RegExp;
  readonly tests: { readonly match: readonly string[]; readonly noMatch: readonly string[] };
  /** File the rule came from, for error messages and tests. */
  readonly file: string;
}

export const RULES_DIRECTORY = new URL("../../../data/rules/heuristics/", import.meta.url);

/** Parse, validate and compile every rules file in a directory. Throws with the file and path on any problem. */
export function loadRules(directory: URL = RULES_DIRECTORY): CompiledRule[] {
  const files = readdirSync(directory)
    .filter((name) => name.endsWith(".yaml") || name.endsWith(".yml"))
    .sort();
  const parsed = files.map((name) => {
    const result = RulesFile.safeParse(readShippedYaml(new URL(name, directory)));
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new Error(`data/rules/heuristics/${name}: invalid rules file at ${issue?.path.join(".") ?? "?"}: ${issue?.message ?? "unknown"}`);
    }
    return { name, file: result.data };
  });

  const macros = new Map<string, string>();
  for (const { name, file } of parsed) {
    for (const [key, value] of Object.entries(file.macros ?? {})) {
      if (macros.has(key)) throw new Error(`data/rules/heuristics/${name}: macro %${key}% defined twice`);
      macros.set(key, value);
    }
  }

  const seen = new Set<string>();
  const rules: CompiledRule[] = [];
  for (const { name, file } of parsed) {
    for (const spec of file.rules) {
      if (seen.has(spec.id)) throw new Error(`data/rules/heuristics/${name}: rule id ${spec.id} used twice`);
      seen.add(spec.id);
      const source = expandMacros(spec.pattern, macros, `${name}: ${spec.id}`);
      let sticky: RegExp;
      try {
        sticky = new RegExp(source, "y");
      } catch (error) {
        throw new Error(`data/rules/heuristics/${name}: rule ${spec.id}: ${(error as Error).message}`, { cause: error });
      }
      rules.push({
        id: spec.id,
        category: spec.category,
        score: spec.score,
        description: spec.description,
        roles: spec.roles ?? null,
        requires: spec.requires ? [...new Set(spec.requires.map((word) => word.toLowerCase()))] : null,
        anchors: [...new Set(spec.anchors.map((anchor) => anchor.toLowerCase()))],
        source,
        sticky,
        tests: spec.tests,
        file: name,
      });
    }
  }
  return rules;
}

function expandMacros(pattern: string, macros: ReadonlyMap<string, string>, where: string): string {
  return pattern.replace(/%([a-z][a-z0-9_]*)%/g, (_whole, name: string) => {
    const value = macros.get(name);
    if (value === undefined) throw new Error(`data/rules/heuristics/${where}: unknown macro %${name}%`);
    return value;
  });
}

/** The built-in rules, loaded once. */
export const BUILTIN_RULES: readonly CompiledRule[] = loadRules();
