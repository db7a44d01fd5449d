/** Audit excerpts: cut by code points, never splitting a character, whatever the text. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { truncateCodePoints } from "../../src/gateway/events.js";

/** The plain definition: the first max-1 code points and an ellipsis, when there are more than max. */
function reference(text: string, max: number): string {
  const points = Array.from(text);
  return points.length > max ? points.slice(0, max - 1).join("") + "…" : text;
}

describe("audit excerpt truncation", () => {
  it("agrees with cutting Array.from(text), for any string: emoji, combining marks, lone surrogates", () => {
    const unit = fc.oneof(fc.string({ unit: "grapheme", maxLength: 4 }), fc.constantFrom("\ud800", "\udfff", "👨‍👩‍👧", "a\u0301", "𝔘"));
    fc.assert(
      fc.property(fc.array(unit, { maxLength: 120 }), fc.integer({ min: 2, max: 40 }), (parts, max) => {
        const text = parts.join("");
        expect(truncateCodePoints(text, max)).toBe(reference(text, max));
      }),
      { numRuns: 2000 },
    );
  });
  it("reads only the start of a long text", () => {
    const long = "😀".repeat(1_000_000);
    expect(truncateCodePoints(long, 160)).toBe("😀".repeat(159) + "…");
  });
});
