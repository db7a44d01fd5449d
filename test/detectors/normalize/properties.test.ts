import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createNormalizeLayer } from "../../../src/detectors/normalize/index.js";
import { findRepetition } from "../../../src/detectors/normalize/repetition.js";
import { scanText } from "../../../src/detectors/normalize/scan.js";
import type { LayerInput, LayerOutput } from "../../../src/guard/types.js";
import { PolicySchema } from "../../../src/policy/schema.js";
import { layerInputFor } from "../../../src/guard/layer-input.js";

const layer = createNormalizeLayer(PolicySchema.parse({ version: 1, limits: { maxBytes: 8 << 20, maxChars: 8 << 20, maxTokens: 8 << 20 } }))!;
const keepAll = createNormalizeLayer(
  PolicySchema.parse({ version: 1, limits: { maxBytes: 8 << 20, maxChars: 8 << 20, maxTokens: 8 << 20 }, layers: { normalize: { stripInvisible: false, stripControl: false } } }),
)!;

function inputFor(text: string): LayerInput {
  return layerInputFor(text);
}

/** Characters the layer treats specially, mixed with arbitrary UTF-16 units (lone surrogates included) and code points. */
const SPECIAL = [
  "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202e", "\u2066", "\u200f", "\ufe0f", "\ufe0e",
  "\u{e0041}", "\u{e0069}", "\u{e007f}", "\u{e0100}", "\u{1f3f4}", "\u{1f468}", "\u{1f3fd}", "\u0301", "\u0456",
  "\u043e", "\uff49", "\u{1d422}", "\ufdfa", "\u0130", "\u00df", "\x00", "\x1b", "\x85", "\t", "\n", " ", "a", "I",
  "\ud800", "\udc00",
];
const unit = fc.oneof(
  fc.constantFrom(...SPECIAL),
  fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
  fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)),
);
const hostile = fc.string({ unit, maxLength: 200 });

function isWellFormed(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    } else if (code >= 0xdc00 && code <= 0xdfff) return false;
  }
  return true;
}

function assertWellFormedOutput(source: string, output: LayerOutput): void {
  expect(output.text).toBeDefined();
  const text = output.text!;
  const views = output.views!;
  expect(isWellFormed(text)).toBe(true);
  expect(isWellFormed(views.folded)).toBe(true);
  expect(text.length).toBeLessThanOrEqual(source.length);
  const map = views.foldedToText;
  if (map === null) expect(views.folded.length).toBe(text.length);
  else {
    expect(map.length).toBe(views.folded.length + 1);
    expect(map[views.folded.length]).toBe(text.length);
    // One assertion for the whole map: expect() per element would dominate on megabyte inputs.
    let firstBad = -1;
    for (let i = 0; i < views.folded.length && firstBad < 0; i++) {
      const at = map[i]!;
      if (at < 0 || at >= text.length || map[i + 1]! < at) firstBad = i;
    }
    expect(firstBad).toBe(-1);
  }
  for (const finding of output.findings) {
    expect(finding.score).toBeGreaterThanOrEqual(0);
    expect(finding.score).toBeLessThanOrEqual(1);
    if (finding.span !== undefined) {
      expect(finding.span.start).toBeGreaterThanOrEqual(0);
      expect(finding.span.end).toBeGreaterThan(finding.span.start);
      expect(finding.span.end).toBeLessThanOrEqual(source.length);
    }
  }
  for (const hidden of views.hidden) expect(typeof hidden).toBe("string");
}

async function run(target: typeof layer, text: string): Promise<LayerOutput> {
  return await target.check(inputFor(text));
}

describe("normalize never breaks on hostile input", () => {
  it("returns well-formed text, in-range spans and a monotone offset map for arbitrary strings", async () => {
    await fc.assert(
      fc.asyncProperty(hostile, async (text) => {
        assertWellFormedOutput(text, await run(layer, text));
        assertWellFormedOutput(text, await run(keepAll, text));
      }),
      { numRuns: 400 },
    );
  });

  it("keeps every character when nothing is to be stripped, lone surrogates aside", async () => {
    await fc.assert(
      fc.asyncProperty(hostile, async (text) => {
        const output = await run(keepAll, text);
        expect(output.text).toBe(text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd"));
      }),
      { numRuns: 200 },
    );
  });

  it("takes plain ASCII and plain letters in tight loops with the result of the unit-by-unit path", () => {
    // Look-alike-only words (сор, ехо) fold or not by the Latin and other letters counted so far (привет, дом).
    const word = fc.constantFrom("Ignore", "all", "PREVIOUS", "x1", "42", "caf", "a", "I", "ok", "The", "сор", "ехо", "привет", "дом", "é", "ДОМ2", "中文", "ελληνικά", "हिन्दी", "한국어", "\u00a0", "—", "іgnоrе", "Ignоre", "a\u0301\u0302", "\u0301", "е\u0301", "o\u0301\u0302\u0303\u0304\u0305", "\u200b\u200b\u2060", "\u200b".repeat(9), "café", "Über", "ÉTÉ", "naïve", "straße", "Привет", "cafоr", "Ёж", "ǅ");
    // Where the Latin letters counted so far (accented ones too) decide whether a look-alike-only word folds.
    for (const text of ["привет été été сор", "привет ÉTÉ ÉTÉ сор", "дом café сор", "дом École сор", "дом Über сор"]) {
      expect(scanText(text, { stripInvisible: true, stripControl: true }), text).toEqual(scanText(text, { stripInvisible: true, stripControl: true, unitByUnit: true }));
    }
    const piece = fc.oneof(word, word, fc.constantFrom(" ", ", ", ".", "\n", "\t", "\r\n", "<|", "!!"), unit);
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), fc.boolean(), (pieces, strip) => {
        const text = pieces.join("");
        const options = { stripInvisible: strip, stripControl: strip };
        expect(scanText(text, options)).toEqual(scanText(text, { ...options, unitByUnit: true }));
      }),
      { numRuns: 2000 },
    );
  });

  it("is idempotent on its own output's detection view for plain folded text", async () => {
    // Random seed each run (fast-check prints it on failure; replay with BULWARK_FC_SEED=<n>).
    const seed = process.env.BULWARK_FC_SEED === undefined ? undefined : Number(process.env.BULWARK_FC_SEED);
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "grapheme", maxLength: 100 }), async (text) => {
        const once = await run(layer, text);
        const twice = await run(layer, once.views!.folded);
        expect(twice.views!.folded).toBe(once.views!.folded);
      }),
      { numRuns: 400, ...(seed === undefined ? {} : { seed }) },
    );
  });

  it("folds look-alikes that an expansion puts next to Latin letters, with offsets into the text", async () => {
    // ℉ folds to "°f" and ㎧ to "m/s": the Greek η after them then sits in a Latin word, as a rescan sees it.
    for (const [text, folded] of [["℉ἠ", "°fn"], ["⻳㎧ἠ", "\u9f9fm/sn"], ["ж℉ο", "ж°fo"]] as const) {
      const once = await run(layer, text);
      expect(once.views!.folded).toBe(folded);
      expect((await run(layer, folded)).views!.folded).toBe(folded);
      const map = once.views!.foldedToText!;
      expect(map.length).toBe(folded.length + 1);
      for (let k = 1; k < map.length; k++) expect(map[k]!).toBeGreaterThanOrEqual(map[k - 1]!);
      expect(map[folded.length - 1]).toBe(text.length - 1); // the folded η comes from the last character
      expect(map[folded.length]).toBe(text.length);
    }
  });

  it("folds in one pass what decomposes into further foldable characters (㎛, 𝚤, Ⓐ next to a word)", async () => {
    for (const [text, folded] of [["5 ㎛", "5 mm"], ["𝚤", "i"], ["ἠⒶ", "na"], ["2 ㎕ of water", "2 ml of water"]] as const) {
      const once = await run(layer, text);
      expect(once.views!.folded).toBe(folded);
      expect((await run(layer, folded)).views!.folded).toBe(folded);
    }
  });

  it("handles huge inputs of each hostile kind", async () => {
    const huge = 1 << 18; // megabyte inputs are timed in bench/normalize.ts
    const cases = [
      "\u200b".repeat(huge),
      "\ud800".repeat(huge),
      "\u0301".repeat(huge),
      "\u{e0041}".repeat(huge / 2),
      "\u{e0100}".repeat(huge / 2),
      "\u0456gn\u043er\u0435".repeat(huge / 6),
      "ab".repeat(huge / 2),
      "\x00".repeat(huge),
    ];
    for (const text of cases) assertWellFormedOutput(text, await run(layer, text));
  });
});

describe("repetition finder", () => {
  it("finds the runs a unit-by-unit walk finds, on long floods with breaks", () => {
    // The straightforward extension, one unit at a time (findRepetition compares blocks of units first).
    const reference = (text: string, maxRepeats: number, maxUnitLength: number) => {
      const runs: Array<{ start: number; end: number; unitLength: number; repeats: number }> = [];
      for (let unit = 1; unit <= maxUnitLength; unit++) {
        if (text.length < (maxRepeats + 1) * unit) break;
        const stride = maxRepeats * unit;
        let sample = stride;
        while (sample < text.length) {
          const covering = runs.find((run) => sample >= run.start && sample < run.end);
          if (covering !== undefined) {
            sample = covering.end + stride;
            continue;
          }
          if (text.charCodeAt(sample) !== text.charCodeAt(sample - unit)) {
            sample += stride;
            continue;
          }
          let first = sample;
          while (first - 1 >= unit && text.charCodeAt(first - 1) === text.charCodeAt(first - 1 - unit)) first--;
          let end = sample + 1;
          while (end < text.length && text.charCodeAt(end) === text.charCodeAt(end - unit)) end++;
          const start = first - unit;
          const repeats = Math.floor((end - start) / unit);
          if (repeats > maxRepeats) {
            runs.push({ start, end, unitLength: unit, repeats });
            if (runs.length >= 8) return runs;
          }
          sample = end + stride;
        }
      }
      return runs.sort((a, b) => a.start - b.start);
    };
    const piece = fc.tuple(fc.string({ unit: fc.constantFrom("a", "b", "é", "\u{1f600}"), minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 1500 }), fc.string({ maxLength: 3 }));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 6 }), fc.integer({ min: 2, max: 300 }), fc.integer({ min: 1, max: 16 }), (pieces, limit, maxUnit) => {
        const text = pieces.map(([unitText, times, gap]) => unitText.repeat(times) + gap).join("");
        expect(findRepetition(text, limit, maxUnit)).toEqual(reference(text, limit, maxUnit));
      }),
      { numRuns: 400 },
    );
  });

  it("agrees with a brute-force search on small strings", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom("a", "b", "c"), maxLength: 120 }), fc.integer({ min: 2, max: 6 }), (text, limit) => {
        const runs = findRepetition(text, limit, 4);
        for (const run of runs) {
          const unitText = text.slice(run.start, run.start + run.unitLength);
          expect(text.slice(run.start, run.start + run.repeats * run.unitLength)).toBe(unitText.repeat(run.repeats));
          expect(run.repeats).toBeGreaterThan(limit);
        }
        // Every single-character run longer than the limit is found.
        const longest = /(.)\1*/g;
        for (const match of text.matchAll(longest)) {
          if (match[0].length > limit) expect(runs.some((run) => run.start <= match.index && run.end >= match.index + match[0].length)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });
});
