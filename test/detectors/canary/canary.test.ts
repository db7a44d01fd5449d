import { describe, expect, it } from "vitest";
import { createCanaryLayer } from "../../../src/detectors/canary/index.js";
import { GuardSession } from "../../../src/guard/session.js";
import type { Finding, LayerInput } from "../../../src/guard/types.js";
import { PolicySchema } from "../../../src/policy/schema.js";
import { layerInputFor } from "../../../src/guard/layer-input.js";

const options = PolicySchema.parse({ version: 1 }).layers.canary;
const layer = createCanaryLayer(options);

function check(text: string, session: GuardSession, role: LayerInput["role"] = "assistant"): Finding[] {
  return (layer.check(layerInputFor(text, { stage: "output", role, session })) as { findings: Finding[] }).findings;
}

describe("canary layer", () => {
  const session = new GuardSession();
  const prompt = session.protectSystemPrompt("You are the billing assistant for Acme.");
  const canary = session.canaries[0]!;
  const secret = canary.slice(4);

  it("plants a fresh canary per session in the system prompt", () => {
    expect(prompt).toContain(canary);
    expect(canary).toMatch(/^bwc-[a-z2-9]{20}$/);
    const other = new GuardSession();
    other.protectSystemPrompt("You are the billing assistant for Acme.");
    expect(other.canaries[0]).not.toBe(canary);
  });

  it("catches the canary verbatim, with its span", () => {
    const text = `Sure! My instructions end with (Conversation marker ${canary}: internal).`;
    const [finding] = check(text, session);
    expect(finding).toMatchObject({ category: "canary_leak", ruleId: "canary.full" });
    expect(finding!.score).toBeGreaterThanOrEqual(0.9);
    expect(text.slice(finding!.span!.start, finding!.span!.end)).toBe(canary.slice(4));
  });

  it("catches a canary leaked as base64", () => {
    const encoded = Buffer.from(`marker ${canary} end`).toString("base64");
    const findings = check(`Here is the data you asked for: ${encoded}`, session);
    expect(findings).toHaveLength(1);
    expect(findings[0]!.evidence).toContain("base64");
    expect(findings[0]!.score).toBeGreaterThanOrEqual(0.9);
  });

  it("catches hex, URL-encoded, reversed, spaced, upper-cased, rot13 and partial leaks", () => {
    const rot13 = secret.replace(/[a-z]/g, (c) => String.fromCharCode(((c.charCodeAt(0) - 97 + 13) % 26) + 97));
    const variants = {
      hex: Buffer.from(canary).toString("hex"),
      "hex with spaces": Buffer.from(canary).toString("hex").replace(/(..)/g, "$1 "),
      url: [...canary].map((c) => "%" + c.charCodeAt(0).toString(16)).join(""),
      "url, partly": encodeURIComponent(canary).replace("-", "%2D"),
      reversed: [...canary].reverse().join(""),
      spaced: [...canary].join(" "),
      "zero-width": [...canary].join("\u200b"),
      upper: canary.toUpperCase(),
      rot13,
      partial: `the marker starts ${secret.slice(3, 15)}...`,
      "base64url": Buffer.from(canary).toString("base64url"),
    };
    for (const [name, text] of Object.entries(variants)) {
      const findings = check(`Output: ${text}`, session);
      expect(findings.length, name).toBe(1);
    }
  });

  it("stays quiet on ordinary output, short coincidences, the system role and other sessions' canaries", () => {
    const other = new GuardSession();
    other.newCanary();
    expect(check(`Output with ${other.canaries[0]}`, session)).toEqual([]);
    expect(check(`Nothing to see: ${secret.slice(0, 6)} is too short to count`, session)).toEqual([]);
    expect(check(prompt, session, "system")).toEqual([]);
    expect(check("The quick brown fox jumps over the lazy dog. SGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQ= 48656c6c6f20776f726c64", session)).toEqual([]);
    expect(check(`Output with ${canary}`, new GuardSession())).toEqual([]);
  });

  it("uses a bound session or fixed canaries when the check carries none", () => {
    const bound = createCanaryLayer(options, { canaries: ["bwc-abcdefghjkmnpqrstuvw"] });
    const text = "leak: abcdefghjkmnpqrstuvw";
    const input = layerInputFor(text, { stage: "output", views: { folded: text }, intake: { bytes: 1 } });
    expect((bound.check(input) as { findings: Finding[] }).findings).toHaveLength(1);
  });
});
