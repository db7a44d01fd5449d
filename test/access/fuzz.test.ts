/** No input crashes the checks: arbitrary calls, arguments, messages and completions get decisions, never exceptions. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { analyzeConversation, authorizeToolCalls, completionCalls, messageCalls, rewriteMessage, spotlight, type BulwarkToolReport } from "../../src/access/index.js";
import { resolvePolicy } from "../../src/policy/load.js";

const policy = resolvePolicy({
  version: 1,
  access: {
    tools: {
      mail: { effect: "external", schema: { type: "object", properties: { to: { type: "string" } } }, allow: [{ argument: "to", emailDomains: ["example.com"] }, { argument: "cc.*", emailDomains: ["example.com"] }] },
      fetch: { effect: "external", allow: [{ argument: "url", hosts: ["example.com"] }] },
      file: { effect: "write", allow: [{ argument: "path", pathPrefixes: ["/srv"] }] },
    },
    roles: { r: { tools: ["*"] } },
    maxArgumentChars: 2000,
  },
}).policy;

const names = fc.oneof(fc.constantFrom("mail", "fetch", "file", "", "nope", "__proto__", "constructor"), fc.string());
const values = fc.jsonValue({ maxDepth: 4 });
const argumentsArb = fc.oneof(
  fc.string(),
  fc.json(),
  fc.record({ to: fc.oneof(fc.string(), values), cc: values, url: fc.oneof(fc.webUrl(), fc.string(), values), path: fc.oneof(fc.string(), values) }).map((o) => JSON.stringify(o)),
);
const message = fc.record({ role: fc.constantFrom("system", "user", "assistant", "tool", "function", "developer", "other"), content: fc.oneof(fc.string(), values, fc.array(fc.record({ type: fc.constantFrom("text", "image_url", "x"), text: fc.oneof(fc.string(), values), bulwark_role: fc.constantFrom("document", "tool", "user", "bogus", undefined) }))), bulwark_role: fc.constantFrom("document", "tool", "user", 7, undefined) }, { requiredKeys: ["role"] });

describe("fuzzing the access checks", () => {
  it("decides every call, whatever its name and arguments, in any conversation", () => {
    fc.assert(
      fc.property(fc.array(fc.record({ name: names, arguments: argumentsArb, id: fc.option(fc.string(), { nil: undefined }) }), { maxLength: 8 }), fc.array(message, { maxLength: 6 }), (calls, messages) => {
        const result = authorizeToolCalls(policy, { roles: ["r"], calls: calls.map((c) => (c.id === undefined ? { name: c.name, arguments: c.arguments } : c)), messages: messages as never });
        expect(result.verdicts).toHaveLength(calls.length);
        for (const verdict of result.verdicts) {
          expect(["allow", "deny", "approval"]).toContain(verdict.outcome);
          expect(typeof verdict.message).toBe("string");
        }
      }),
      { numRuns: 300, seed: 6006 },
    );
  });

  it("reads, spotlights and rewrites arbitrary messages and completions without throwing", () => {
    fc.assert(
      fc.property(fc.array(message, { maxLength: 6 }), values, (messages, completion) => {
        analyzeConversation(messages as never).isTrusted("x@example.com");
        spotlight(messages as never, { mode: "datamark" });
        spotlight(messages as never, { mode: "delimit" });
        const calls = completionCalls({ choices: [{ message: completion }, completion] });
        for (const call of calls) expect(typeof call.call.arguments).toBe("string");
        if (completion && typeof completion === "object" && !Array.isArray(completion)) {
          const target = completion as Record<string, unknown>;
          const proposed = messageCalls(target);
          const { verdicts } = authorizeToolCalls(policy, { roles: ["r"], calls: proposed.map((p) => p.call) });
          const report: BulwarkToolReport = { denied: [], pending: [] };
          rewriteMessage(target, proposed, verdicts.map((verdict) => ({ verdict })), "tool_calls", "replace", report);
        }
      }),
      { numRuns: 300, seed: 6007 },
    );
  });
});
