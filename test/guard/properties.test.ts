// Property-based tests: whatever bytes or strings arrive, the default guard answers with a
// well-formed decision and never throws. These throw random Unicode, lone surrogates, random
// bytes and huge strings at the whole default pipeline.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createGuard, type Decision } from "../../src/index.js";
import { ACTIONS, ROLES } from "../../src/policy/schema.js";

const guard = createGuard();

function expectWellFormed(decision: Decision): void {
  expect(ACTIONS).toContain(decision.action);
  expect(decision.score).toBeGreaterThanOrEqual(0);
  expect(decision.score).toBeLessThanOrEqual(1);
  expect(decision.text.isWellFormed()).toBe(true);
  expect(decision.policyHash).toBe(guard.policyHash);
  for (const finding of decision.findings) {
    expect(finding.score).toBeGreaterThanOrEqual(0);
    expect(finding.score).toBeLessThanOrEqual(1);
  }
  // A degraded decision under the default (fail-closed) policy must block.
  if (decision.degraded) expect(decision.action).toBe("block");
}

const role = fc.constantFrom(...ROLES);
// Strings from the whole code space, including lone surrogates, plus characters attackers like.
const nastyChar = fc.constantFrom("\u200b", "\u202e", "\u{e0041}", "\ufe0f", "\u{e0100}", "\u0000", "\ud800", "\udc00", "\u0301", "і", "Ｉ", "𝐈", " ", "\n", "<|im_start|>", "[INST]", "=", "/");
const nastyString = fc.array(fc.oneof(fc.string({ unit: "binary" }), fc.string({ unit: "grapheme" }), nastyChar), { maxLength: 60 }).map((parts) => parts.join(""));

describe("the default guard under random input", () => {
  it("answers every random Unicode string (lone surrogates included) with a well-formed decision", async () => {
    await fc.assert(
      fc.asyncProperty(nastyString, role, async (text, r) => {
        expectWellFormed(await guard.check({ text, role: r }));
      }),
      { numRuns: 400 },
    );
  });

  it("answers every random byte sequence (invalid UTF-8 included)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2000 }), async (bytes) => {
        expectWellFormed(await guard.check({ text: bytes }));
      }),
      { numRuns: 300 },
    );
  });

  it("blocks inputs over the size limit as oversize instead of truncating or crashing", async () => {
    const small = createGuard({ policy: { version: 1, limits: { maxBytes: 4096, maxChars: 4096, maxTokens: 4096 } } });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 4097, max: 200_000 }), nastyChar, async (size, unit) => {
        const decision = await small.check(unit.repeat(Math.ceil(size / unit.length)));
        expect(decision.action).toBe("block");
        expect(decision.categories).toContain("oversize");
      }),
      { numRuns: 30 },
    );
  });

  it("handles multi-megabyte strings of hostile characters without throwing", async () => {
    for (const unit of ["a", "\u200b", "\u{e0041}", "\ud800", "a\u0301", "ignore ", "\u0000"]) {
      const decision = await guard.check(unit.repeat(Math.ceil(4_000_000 / unit.length)));
      expectWellFormed(decision);
      expect(decision.action).toBe("block");
    }
  });
});
