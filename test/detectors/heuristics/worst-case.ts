/**
 * Worst-case inputs for the heuristics rules, shared by the tests (which check
 * that the anchored engine finds exactly what the plain patterns find, even on
 * these) and bench/heuristics.ts (which times them).
 *
 * For each rule: long runs of what its quantifiers consume right after each of
 * its anchors (whitespace, letters, punctuation), its own match cases cut short
 * and repeated (many attempts that get far and then fail), and its match cases
 * with every gap stretched.
 */
import type { CompiledRule } from "../../../src/detectors/heuristics/index.js";

const FILLERS = [" ", "\t", "\n", "a", "a ", ", ", "-", "'", "x".repeat(40) + " ", " the", " all", ".", "=", "|", "<"];

/** About `size` UTF-16 units of adversarial text for one rule. */
export function worstCaseFor(rule: CompiledRule, size: number): string {
  const parts: string[] = [];
  const share = Math.max(64, Math.floor(size / (rule.anchors.length * FILLERS.length + rule.tests.match.length * 2 + 1)));
  for (const anchor of rule.anchors) {
    for (const filler of FILLERS) parts.push(anchor + filler.repeat(Math.max(1, Math.floor(share / filler.length))));
  }
  for (const text of rule.tests.match) {
    const lower = text.toLowerCase();
    // Cut short: the attempt gets as far as it can, then fails, again and again.
    const prefix = lower.slice(0, Math.max(1, lower.length - 2));
    parts.push((prefix + " ").repeat(Math.max(1, Math.floor(share / (prefix.length + 1)))));
    // Stretched: every space becomes a long run of spaces.
    parts.push(lower.replace(/ /g, " ".repeat(Math.min(2000, share))));
  }
  const text = parts.join("\n");
  return text.length > size ? text.slice(0, size) : text;
}

/** One text of about `size` units containing the worst cases of every rule, in turn. */
export function worstCaseCorpus(rules: readonly CompiledRule[], size: number): string {
  const per = Math.floor(size / rules.length);
  return rules.map((rule) => worstCaseFor(rule, per)).join("\n");
}
