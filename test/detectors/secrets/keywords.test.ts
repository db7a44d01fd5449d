import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { KeywordSet, NON_ASCII_LOWERING_TO_ASCII } from "../../../src/detectors/secrets/keywords.js";
import { BUILTIN_SECRET_RULES } from "../../../src/detectors/secrets/index.js";
import { BUILTIN_OUTPUT_RULES } from "../../../src/detectors/output-safety/index.js";

/** The plain definition the automaton must agree with. */
function reference(keywords: readonly string[], text: string): number[] {
  const lower = text.toLowerCase();
  return keywords.map((keyword) => (lower.includes(keyword) ? 1 : 0));
}

describe("KeywordSet", () => {
  it("knows every character outside ASCII that lower-cases to something containing ASCII", () => {
    const found: number[] = [];
    for (let code = 0x80; code <= 0x10ffff; code++) {
      if (code >= 0xd800 && code <= 0xdfff) continue;
      if (/[\x00-\x7f]/.test(String.fromCodePoint(code).toLowerCase())) found.push(code);
    }
    expect(found).toEqual([...NON_ASCII_LOWERING_TO_ASCII]);
  });

  it("agrees with lower-case-and-includes on the shipped rule keywords", () => {
    const keywords = [...BUILTIN_SECRET_RULES, ...BUILTIN_OUTPUT_RULES].flatMap((rule) => rule.keywords);
    const set = new KeywordSet(keywords);
    const samples = [
      "",
      "nothing here",
      "GITHUB_TOKEN=ghp_abc and Password: x",
      "DROP TABLE users; -- <SCRIPT>",
      "\u212Aey = value, AK\u0130A, t\u0130ken",
      "sk-ant-api03 xoxb- hooks.slack.com PRIVATE KEY-----",
      ...keywords,
      ...keywords.map((keyword) => keyword.toUpperCase()),
    ];
    for (const text of samples) expect([...set.find(text)], text).toEqual(reference(keywords, text));
  });

  it("agrees with lower-case-and-includes on random keywords and texts", () => {
    const alphabet = fc.constantFrom("a", "b", "A", "B", "k", "K", "i", "-", " ", "\u212A", "\u0130", "\u0307", "é", "É", "ß", "😀", "\ud800");
    const word = fc.array(alphabet, { minLength: 0, maxLength: 5 }).map((chars) => chars.join(""));
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 8 }), fc.array(alphabet, { maxLength: 60 }), (keywords, chars) => {
        const text = chars.join("");
        expect([...new KeywordSet(keywords).find(text)]).toEqual(reference(keywords, text));
      }),
      { numRuns: 2000 },
    );
  });
});

describe("KeywordSet.of", () => {
  it("shares one automaton per keyword list, and tells lists apart exactly", () => {
    expect(KeywordSet.of(["key", "token"])).toBe(KeywordSet.of(["key", "token"]));
    expect(KeywordSet.of(["a\u0000", "b"])).not.toBe(KeywordSet.of(["a", "\u0000b"]));
    expect([...KeywordSet.of(["a\u0000", "b"]).find("a\u0000")]).toEqual([1, 0]);
    expect([...KeywordSet.of(["a", "\u0000b"]).find("a\u0000")]).toEqual([1, 0]);
  });
});
