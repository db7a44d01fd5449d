/**
 * The built-in secret rules: data/secrets/rules.yaml, validated with zod and
 * compiled once when this module loads. A malformed rules file is a build
 * defect, so loading throws (the guard then cannot start: fail closed).
 */
import { readShippedYaml } from "../../util/data-file.js";
import { z } from "zod";

const RuleSpec = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
  description: z.string().min(1),
  keywords: z.array(z.string().min(1)).min(1),
  pattern: z.string().min(1),
  flags: z.string().regex(/^[imsu]*$/).default(""),
  score: z.number().gt(0).max(1),
  minEntropy: z.number().min(0).max(8).optional(),
  check: z.enum(["placeholder", "jwt"]).optional(),
  allow: z.string().optional(),
  /** Uses the policy's entropy settings (minLength, minBitsPerChar) and can be switched off with them. */
  generic: z.boolean().default(false),
  tests: z.strictObject({ match: z.array(z.string()).min(1), noMatch: z.array(z.string()).default([]) }),
});

const RulesFile = z.strictObject({ version: z.literal(1), rules: z.array(RuleSpec).min(1) });

export type SecretRuleSpec = z.output<typeof RuleSpec>;

export interface SecretRule {
  readonly id: string;
  readonly description: string;
  /** Lower-cased; the pattern runs only when the lower-cased text contains one. */
  readonly keywords: readonly string[];
  /** Global, with match indices (d) for the `secret` group. Scans reset lastIndex. */
  readonly regex: RegExp;
  readonly score: number;
  readonly minEntropy: number | null;
  readonly check: "placeholder" | "jwt" | null;
  readonly allow: RegExp | null;
  readonly generic: boolean;
  readonly tests: { readonly match: readonly string[]; readonly noMatch: readonly string[] };
}

export const SECRET_RULES_FILE = new URL("../../../data/secrets/rules.yaml", import.meta.url);

export function loadSecretRules(file: URL = SECRET_RULES_FILE): SecretRule[] {
  const result = RulesFile.safeParse(readShippedYaml(file));
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new Error(`data/secrets/rules.yaml: invalid at ${issue?.path.join(".") ?? "?"}: ${issue?.message ?? "unknown"}`);
  }
  const seen = new Set<string>();
  return result.data.rules.map((spec) => {
    if (seen.has(spec.id)) throw new Error(`data/secrets/rules.yaml: rule id ${spec.id} used twice`);
    seen.add(spec.id);
    let regex: RegExp;
    let allow: RegExp | null = null;
    try {
      regex = new RegExp(spec.pattern, "gd" + spec.flags);
      if (spec.allow) allow = new RegExp(spec.allow);
    } catch (error) {
      throw new Error(`data/secrets/rules.yaml: rule ${spec.id}: ${(error as Error).message}`, { cause: error });
    }
    return {
      id: spec.id,
      description: spec.description,
      keywords: [...new Set(spec.keywords.map((keyword) => keyword.toLowerCase()))],
      regex,
      score: spec.score,
      minEntropy: spec.minEntropy ?? null,
      check: spec.check ?? null,
      allow,
      generic: spec.generic,
      tests: spec.tests,
    };
  });
}

export const BUILTIN_SECRET_RULES: readonly SecretRule[] = loadSecretRules();
