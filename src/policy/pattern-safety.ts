/**
 * Regular expressions from policies run against attacker-controlled text, so a
 * pattern that backtracks catastrophically is a denial-of-service hole. Every
 * pattern is compiled and checked with recheck (an exhaustive ReDoS checker)
 * before it is accepted.
 */
import { createRequire } from "node:module";
import type * as Recheck from "recheck";

// Loaded on first use: most policies have no custom patterns, and recheck is heavy to load.
let recheck: typeof Recheck | undefined;
const load = (): typeof Recheck => (recheck ??= createRequire(import.meta.url)("recheck") as typeof Recheck);

export type PatternVerdict = { readonly safe: true } | { readonly safe: false; readonly reason: string };

export function checkPatternSafety(pattern: string, flags: string): PatternVerdict {
  try {
    new RegExp(pattern, flags);
  } catch (error) {
    return { safe: false, reason: `an invalid regular expression (${(error as Error).message})` };
  }
  const diagnostics = load().checkSync(pattern, flags);
  if (diagnostics.status === "safe") return { safe: true };
  if (diagnostics.status === "vulnerable") {
    const attack = diagnostics.attack.pattern;
    return {
      safe: false,
      reason: `a pattern with ${diagnostics.complexity.type} backtracking (attack string: ${attack.length > 60 ? attack.slice(0, 57) + "..." : attack}); rewrite it without nested or overlapping quantifiers`,
    };
  }
  return { safe: false, reason: `a pattern the ReDoS checker could not prove safe (${diagnostics.error.kind}); simplify it` };
}
