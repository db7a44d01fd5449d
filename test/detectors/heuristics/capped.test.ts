/**
 * The scan's attempt phase against a plain reference: every anchor occurrence
 * in text order, every rule on it that has not matched, skipping a rule's
 * occurrences between its first and last MAX_ATTEMPTS (the straightforward
 * loop the scan used before it learned to pass over those without touching
 * them). Matches, their order and the skipped count must be the same, on
 * random floods over a small rule set with shared anchors, substring anchors
 * that share their first units, and a `requires` list.
 */
import { describe, expect, it } from "vitest";
import type { CompiledRule } from "../../../src/detectors/heuristics/rules.js";
import { MAX_ATTEMPTS, buildAnchorIndex, scan, type RuleMatch } from "../../../src/detectors/heuristics/scan.js";
import { mulberry32 } from "../../../src/util/random.js";

function rule(id: string, anchors: string[], pattern: string, requires: string[] | null = null): CompiledRule {
  return {
    id,
    category: "prompt_injection",
    score: 0.5,
    description: id,
    roles: null,
    requires,
    anchors,
    source: pattern,
    sticky: new RegExp(pattern, "y"),
    tests: { match: [], noMatch: [] },
    file: "test",
  };
}

const RULES = [
  rule("a-then-c", ["a"], "a c"),
  rule("a-or-ab", ["a", "ab"], "ab? d"),
  rule("b-needs-zz", ["b"], "b a b", ["zz"]),
  rule("pipe", ["<|", "<|x"], "<\\|x?y"),
  rule("sys", ["<<sys>>", "<</sys>>"], "<<\\/?sys>> q"),
  rule("ab-end", ["ab"], "ab$"),
];

/** Anchor occurrences in the order the scan's pass records them, each with its rules. */
function occurrences(text: string, rules: readonly CompiledRule[]): Array<{ at: number; rules: number[] }> {
  const keyed: Array<{ at: number; time: number; kind: number; order: number; rules: number[] }> = [];
  const substrings = new Map<string, number[]>();
  const words = new Map<string, number[]>();
  rules.forEach((r, index) => {
    for (const anchor of r.anchors) {
      const map = /^[a-z]+$/.test(anchor) ? words : substrings;
      map.set(anchor, [...(map.get(anchor) ?? []), index]);
    }
  });
  // Substring anchors are recorded at their first unit, in the order the index lists them (by first unit, then as defined).
  const substringOrder = [...substrings.keys()].sort((x, y) => x.charCodeAt(0) - y.charCodeAt(0));
  for (let i = 0; i < text.length; i++) {
    substringOrder.forEach((anchor, order) => {
      if (text.startsWith(anchor, i)) keyed.push({ at: i, time: i, kind: 0, order, rules: substrings.get(anchor)! });
    });
  }
  // Words are recorded when the pass reaches the unit after them.
  for (const match of text.matchAll(/[\p{L}\p{N}]+/gu)) {
    const found = words.get(match[0]);
    if (found) keyed.push({ at: match.index, time: match.index + match[0].length, kind: 1, order: 0, rules: found });
  }
  keyed.sort((x, y) => x.time - y.time || x.kind - y.kind || x.order - y.order);
  return keyed;
}

function reference(text: string, rules: readonly CompiledRule[]): { matches: RuleMatch[]; skipped: number } {
  const hits = occurrences(text, rules);
  const present = new Set(text.match(/[\p{L}\p{N}]+/gu) ?? []);
  const allowed = rules.map((r) => r.requires === null || r.requires.some((word) => present.has(word)));
  const total = new Array<number>(rules.length).fill(0);
  for (const hit of hits) for (const index of hit.rules) total[index]!++;
  const tried = new Array<number>(rules.length).fill(0);
  const fired = new Array<boolean>(rules.length).fill(false);
  const matches: RuleMatch[] = [];
  let skipped = 0;
  for (const hit of hits) {
    for (const index of hit.rules) {
      if (fired[index] || !allowed[index]) continue;
      const nth = tried[index]!++;
      if (total[index]! > 2 * MAX_ATTEMPTS && nth >= MAX_ATTEMPTS && nth < total[index]! - MAX_ATTEMPTS) {
        skipped++;
        continue;
      }
      const regex = rules[index]!.sticky;
      regex.lastIndex = hit.at;
      const match = regex.exec(text);
      if (match) {
        fired[index] = true;
        matches.push({ rule: index, start: hit.at, end: hit.at + match[0].length });
      }
    }
  }
  return { matches, skipped };
}

describe("heuristics scan: capped attempts", () => {
  const index = buildAnchorIndex(RULES, new Map());
  const random = mulberry32(7);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const pieces = ["a ", "ab ", "b ", "a c ", "ab d ", "b a b ", "zz ", "<|", "<|x", "<|xy ", "<<sys>> ", "<</sys>> q ", "c ", "\n"];
  const floods = ["a ", "ab ", "b ", "<|", "<<sys>> ", "a b "];

  it("matches the plain loop on random floods and mixtures", () => {
    for (let round = 0; round < 60; round++) {
      const parts: string[] = [];
      const count = 1 + Math.floor(random() * 5);
      for (let k = 0; k < count; k++) {
        if (random() < 0.5) parts.push(pick(floods).repeat(Math.floor(random() * 3 * MAX_ATTEMPTS)));
        else parts.push(Array.from({ length: Math.floor(random() * 200) }, () => pick(pieces)).join(""));
      }
      const text = parts.join("");
      const out: RuleMatch[] = [];
      const skipped = { count: 0 };
      scan(text, index, new Uint8Array(RULES.length), out, undefined, skipped);
      const expected = reference(text, RULES);
      expect(out).toEqual(expected.matches);
      expect(skipped.count).toBe(expected.skipped);
    }
  });

  it("finds a match among the last MAX_ATTEMPTS occurrences and skips the middle", () => {
    const text = "a ".repeat(3 * MAX_ATTEMPTS) + "a c " + "a ".repeat(10);
    const out: RuleMatch[] = [];
    const skipped = { count: 0 };
    scan(text, index, new Uint8Array(RULES.length), out, undefined, skipped);
    expect(out).toEqual(reference(text, RULES).matches);
    expect(out.map((match) => RULES[match.rule]!.id)).toEqual(["a-then-c"]);
    expect(skipped.count).toBe(reference(text, RULES).skipped);
    expect(skipped.count).toBeGreaterThan(0);
  });

  it("tries exactly the first and the last MAX_ATTEMPTS occurrences", () => {
    const run = (text: string): RuleMatch[] => {
      const out: RuleMatch[] = [];
      scan(text, index, new Uint8Array(RULES.length), out);
      expect(out).toEqual(reference(text, RULES).matches);
      return out.filter((match) => RULES[match.rule]!.id === "a-then-c");
    };
    const total = 3 * MAX_ATTEMPTS;
    // "a c" as the nth occurrence of "a" (1-based), in a text of `total` occurrences.
    const at = (nth: number): string => "a ".repeat(nth - 1) + "a c " + "a ".repeat(total - nth);
    expect(run(at(MAX_ATTEMPTS))).toHaveLength(1);
    expect(run(at(MAX_ATTEMPTS + 1))).toHaveLength(0);
    expect(run(at(total - MAX_ATTEMPTS))).toHaveLength(0);
    expect(run(at(total - MAX_ATTEMPTS + 1))).toHaveLength(1);
  });

  it("reports two rules matching at one occurrence in the order of the anchor's rules, whichever walk found them", () => {
    // "wide" is capped (its anchors occur 3 x MAX_ATTEMPTS + 1 times) and matches in its last attempts; "narrow"
    // shares the anchor "a" but is not capped, and matches at the same occurrence.
    const rules = [rule("wide", ["a", "b"], "a c"), rule("narrow", ["a"], "a c")];
    const text = "b ".repeat(3 * MAX_ATTEMPTS) + "a c";
    const out: RuleMatch[] = [];
    scan(text, buildAnchorIndex(rules, new Map()), new Uint8Array(rules.length), out);
    expect(out).toEqual(reference(text, rules).matches);
    expect(out.map((match) => rules[match.rule]!.id)).toEqual(["wide", "narrow"]);
  });
});
