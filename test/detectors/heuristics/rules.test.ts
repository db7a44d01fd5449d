/**
 * The rules' own test cases, the rules files' validity, and the anchored
 * engine's agreement with the plain patterns (anchors that miss a match would
 * silently switch a rule off).
 */
import { describe, expect, it } from "vitest";
import { BUILTIN_RULES, loadRules, type CompiledRule } from "../../../src/detectors/heuristics/index.js";
import { RULE_CATEGORIES } from "../../../src/detectors/heuristics/rules.js";
import { buildAnchorIndex, prepareView, scan, type RuleMatch } from "../../../src/detectors/heuristics/scan.js";
import { mulberry32 } from "../../../src/util/random.js";
import { worstCaseFor } from "./worst-case.js";

function engineMatches(rule: CompiledRule, text: string): RuleMatch[] {
  const out: RuleMatch[] = [];
  scan(prepareView(text), buildAnchorIndex([rule], new Map()), new Uint8Array(1), out);
  return out;
}

function plainMatches(rule: CompiledRule, text: string): boolean {
  return new RegExp(rule.source, "g").test(prepareView(text));
}

describe("heuristics rules: data", () => {
  it("loads a substantial rule set with unique ids in every category", () => {
    expect(BUILTIN_RULES.length).toBeGreaterThanOrEqual(90);
    expect(new Set(BUILTIN_RULES.map((rule) => rule.id)).size).toBe(BUILTIN_RULES.length);
    for (const category of RULE_CATEGORIES) expect(BUILTIN_RULES.some((rule) => rule.category === category)).toBe(true);
  });

  it("covers the core phrasings in at least nine languages", () => {
    const languages = new Set(BUILTIN_RULES.map((rule) => /^multilingual\.([a-z]{2})\./.exec(rule.id)?.[1]).filter(Boolean));
    for (const language of ["de", "fr", "es", "it", "pt", "nl", "ru", "zh", "ja"]) expect(languages).toContain(language);
  });

  it("loads the same rules again from disk (nothing depends on load order or state)", () => {
    expect(loadRules().map((rule) => rule.id)).toEqual(BUILTIN_RULES.map((rule) => rule.id));
  });

  it("expands every macro (no %name% left in a compiled pattern)", () => {
    for (const rule of BUILTIN_RULES) expect(rule.source, rule.id).not.toMatch(/%[a-z][a-z0-9_]*%/);
  });
});

describe.each(BUILTIN_RULES.map((rule) => [rule.id, rule] as const))("rule %s", (_id, rule) => {
  it.each(rule.tests.match)("matches %j", (text) => {
    expect(engineMatches(rule, text).length).toBe(1);
    expect(plainMatches(rule, text)).toBe(true);
  });
  if (rule.tests.noMatch.length > 0) {
    it.each(rule.tests.noMatch)("does not match %j", (text) => {
      expect(engineMatches(rule, text)).toEqual([]);
      expect(plainMatches(rule, text)).toBe(false);
    });
  }
  it("finds a match on its worst-case input exactly when the plain pattern does", () => {
    const text = worstCaseFor(rule, 4096);
    expect(engineMatches(rule, text).length > 0).toBe(plainMatches(rule, text));
  });
});

describe("heuristics prepareView", () => {
  // The definition it implements with a table: lower-case (unless that changes the length), then each letter
  // with diacritics to its base letter, curly quotes and primes to straight ones, one unit at a time.
  const reference = (text: string): string => {
    const lowered = text.toLowerCase();
    const folded = lowered.length === text.length ? lowered : text;
    return folded.replace(/[\u00c0-\u024f\u0400-\u04ff\u1e00-\u1eff\u2018\u2019\u201a\u201b\u201c\u201d\u02bc\u00b4\u2032]/g, (unit) => {
      if ("\u2018\u2019\u201a\u201b\u02bc\u00b4\u2032".includes(unit)) return "'";
      if ("\u201c\u201d".includes(unit)) return '"';
      const decomposed = unit.normalize("NFD");
      const base = decomposed.length > 1 && /^\p{M}+$/u.test(decomposed.slice(1)) ? decomposed.charAt(0).toLowerCase() : unit;
      return base.length === 1 ? base : unit;
    });
  };

  it("folds every UTF-16 unit, alone and among others, as the per-unit definition does", () => {
    for (let code = 0; code < 0x10000; code++) {
      const unit = String.fromCharCode(code);
      for (const text of [unit, `X${unit}y`]) if (prepareView(text) !== reference(text)) expect(prepareView(text), code.toString(16)).toBe(reference(text));
    }
  });

  it("lower-cases in context as the whole-string lower case does (final sigma, İ, letters beyond the BMP)", () => {
    const pieces = ["Σ", "σ", "ς", "ΑΣ ", "ΟΔΟΣ", "İ", "I", "ı", "ЖЁЛТЫЙ", "É", "ß", "ẞ", "ǅ", "\u{10400}", "\u{10428}", " ", ".", "A", "Ⅻ", "’", "\u0301", "\u212a", "\ud800"];
    const random = mulberry32(11);
    for (let round = 0; round < 3000; round++) {
      let text = "";
      const count = 1 + Math.floor(random() * 10);
      for (let k = 0; k < count; k++) text += pieces[Math.floor(random() * pieces.length)];
      expect(prepareView(text), text).toBe(reference(text));
    }
  });

  it("keeps offsets: Russian, Turkish, Greek and lone surrogates", () => {
    for (const text of ["Привет, КАК дела? Всё хорошо.", "İstanbul ÇAĞRI", "ΣΑΣ ΟΔΟΣ", "‘quoted’ “double” déjà vu ǅ ẞ", "\ud800Ä\udc00"]) {
      expect(prepareView(text)).toBe(reference(text));
      expect(prepareView(text).length).toBe(text.length);
    }
  });
});
