import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseScanResults, scanResultsJsonSchema } from "../../src/redteam/results.js";
import { packagePath } from "../../src/util/paths.js";

const valid = {
  schemaVersion: 1,
  manifest: { bulwarkVersion: "0.1.0", catalogueVersion: "1.0.0", target: "demo", seed: 1, startedAt: "2025-01-01T00:00:00.000Z", finishedAt: "2025-01-01T00:00:01.000Z" },
  summary: { total: 1, failed: 1, held: 0, errors: 0 },
  categories: [{ category: "prompt_injection", total: 1, succeeded: 1, rate: 1, ci: [0.2, 1] }],
  cases: [{ id: "a", caseId: "a", category: "prompt_injection", owasp: ["LLM01"], agentic: ["ASI01"], atlas: ["AML.T0051.000"], mutators: [], outcome: "failed", severity: "high", evidence: "x" }],
};

describe("results.json schema", () => {
  it("the published JSON Schema is generated from the zod schema (run `npm run schema` after changing it)", () => {
    expect(JSON.parse(readFileSync(packagePath("schema", "scan-results.schema.json"), "utf8"))).toEqual(scanResultsJsonSchema());
  });

  it("accepts the documented shape and rejects wrong categories, outcomes and ids with their paths", () => {
    expect(parseScanResults(JSON.stringify(valid)).cases[0]!.outcome).toBe("failed");
    const bad = structuredClone(valid) as Record<string, unknown> & typeof valid;
    (bad.cases[0] as Record<string, unknown>).outcome = "pwned";
    (bad.cases[0] as Record<string, unknown>).atlas = ["T0051"];
    expect(() => parseScanResults(JSON.stringify(bad))).toThrow(/cases\.0\.atlas\.0[\s\S]*cases\.0\.outcome/);
    expect(() => parseScanResults("{")).toThrow(/not valid JSON/);
    expect(() => parseScanResults(JSON.stringify({ ...valid, schemaVersion: 2 }))).toThrow(/schemaVersion/);
  });
});
