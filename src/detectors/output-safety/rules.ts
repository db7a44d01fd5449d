/**
 * The output-safety rules: data/output-safety/rules.yaml, validated and
 * compiled once when this module loads (a malformed file is a build defect:
 * loading throws and the guard cannot start).
 */
import { readShippedYaml } from "../../util/data-file.js";
import { z } from "zod";

export const SINKS = ["html", "sql", "shell"] as const;
export type Sink = (typeof SINKS)[number];

const RuleSpec = z.strictObject({
  id: z.string().regex(/^[a-z]+\.[a-z0-9-]+$/),
  sink: z.enum(SINKS),
  description: z.string().min(1),
  keywords: z.array(z.string().min(1)).min(1),
  pattern: z.string().min(1),
  score: z.number().gt(0).max(1),
  tests: z.strictObject({ match: z.array(z.string()).min(1), noMatch: z.array(z.string()).default([]) }),
});

const RulesFile = z.strictObject({ version: z.literal(1), rules: z.array(RuleSpec).min(1) });

export interface OutputRule {
  readonly id: string;
  readonly sink: Sink;
  readonly description: string;
  readonly keywords: readonly string[];
  /** Global and case-insensitive, on the text as given (so spans stay exact). */
  readonly regex: RegExp;
  readonly score: number;
  readonly tests: { readonly match: readonly string[]; readonly noMatch: readonly string[] };
}

export const OUTPUT_RULES_FILE = new URL("../../../data/output-safety/rules.yaml", import.meta.url);

export function loadOutputRules(file: URL = OUTPUT_RULES_FILE): OutputRule[] {
  const result = RulesFile.safeParse(readShippedYaml(file));
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new Error(`data/output-safety/rules.yaml: invalid at ${issue?.path.join(".") ?? "?"}: ${issue?.message ?? "unknown"}`);
  }
  const seen = new Set<string>();
  return result.data.rules.map((spec) => {
    if (seen.has(spec.id)) throw new Error(`data/output-safety/rules.yaml: rule id ${spec.id} used twice`);
    seen.add(spec.id);
    let regex: RegExp;
    try {
      regex = new RegExp(spec.pattern, "gi");
    } catch (error) {
      throw new Error(`data/output-safety/rules.yaml: rule ${spec.id}: ${(error as Error).message}`, { cause: error });
    }
    return { ...spec, keywords: spec.keywords.map((keyword) => keyword.toLowerCase()), regex };
  });
}

export const BUILTIN_OUTPUT_RULES: readonly OutputRule[] = loadOutputRules();
