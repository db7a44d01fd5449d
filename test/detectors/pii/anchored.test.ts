import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { anchoredMatches } from "../../../src/detectors/pii/anchored.js";

/** Patterns whose every match contains the anchor within `reach` characters of its start. */
const CASES: Array<{ pattern: RegExp; anchor: string; reach: number; alphabet: string[] }> = [
  { pattern: /(?<![\d.])\d{1,3}\.\d{1,3}(?:\.\d{1,3})?/g, anchor: ".", reach: 3, alphabet: ["1", "2", "9", ".", " ", "a"] },
  { pattern: /\b(?:https?|ws):\/\/[a-z]{1,6}/gi, anchor: "://", reach: 5, alphabet: ["h", "t", "p", "s", "w", ":", "/", "://", "x", " ", "H"] },
  { pattern: /(?<!!)\[[^[\]]{0,8}\]\([a-z]{0,4}\)/g, anchor: "[", reach: 0, alphabet: ["[", "]", "(", ")", "!", "a", " "] },
];

const plain = (text: string, pattern: RegExp) => [...text.matchAll(pattern)].map((match) => [match.index, match[0]]);
const anchored = (text: string, pattern: RegExp, anchor: string, reach: number) => anchoredMatches(text, pattern, anchor, reach).map((match) => [match.index, match[0]]);

describe("anchoredMatches", () => {
  for (const { pattern, anchor, reach, alphabet } of CASES) {
    it(`finds exactly what matchAll finds for ${pattern}`, () => {
      fc.assert(
        fc.property(fc.array(fc.constantFrom(...alphabet), { maxLength: 80 }), (chars) => {
          const text = chars.join("");
          expect(anchored(text, pattern, anchor, reach)).toEqual(plain(text, pattern));
        }),
        { numRuns: 500 },
      );
    });

    it(`stays exact when anchors are dense enough to hand over to the global search (${pattern})`, () => {
      fc.assert(
        fc.property(fc.array(fc.constantFrom(...alphabet), { minLength: 2000, maxLength: 3000 }), (chars) => {
          const text = chars.join("");
          expect(anchored(text, pattern, anchor, reach)).toEqual(plain(text, pattern));
        }),
        { numRuns: 20 },
      );
    });
  }
});
