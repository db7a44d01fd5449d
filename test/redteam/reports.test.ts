import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import { describe, expect, it } from "vitest";
import { compareToBaseline, parseGate, tallyCases, viewOf } from "../../src/redteam/baseline.js";
import { loadCatalogue } from "../../src/redteam/catalogue.js";
import { parseScanResults, type ScanCaseResult, type ScanResultsData } from "../../src/redteam/results.js";
import { runScan } from "../../src/redteam/runner.js";
import { writeReports } from "../../src/redteam/reports/write.js";
import { htmlEscape } from "../../src/redteam/reports/html.js";
import { rateIncreasePValue, wilson } from "../../src/redteam/stats.js";
import { createDemoTarget } from "../../src/redteam/targets/function.js";
import { packagePath } from "../../src/util/paths.js";

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

function sarifValidator(path: string) {
  const schema = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  // The SARIF schema is draft-04 ("id"); ajv 8 reads it as draft-07 once the id keyword is renamed. No draft-04-only keyword is used in it.
  delete schema.$schema;
  schema.$id = schema.id;
  delete schema.id;
  // The schema's language-tag pattern is not valid with the u flag; it was written for non-Unicode regular expressions.
  const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: false });
  addFormats(ajv);
  return ajv.compile(schema);
}

describe("reports", async () => {
  const catalogue = await loadCatalogue();
  const out = mkdtempSync(join(tmpdir(), "bulwark-reports-"));
  const run = await runScan({ target: createDemoTarget(7), catalogue, plan: { seed: 9, mutatorsPerCase: 1, strategies: ["single", "crescendo"] }, outDir: out, concurrency: 4 });
  const paths = await writeReports(run, catalogue, out);

  it("results.json validates against the documented schema and agrees with the run", () => {
    const results = parseScanResults(readFileSync(paths.json, "utf8"));
    expect(results.summary).toEqual(run.summary);
    expect(results.cases.length).toBe(run.summary.total);
    expect(results.cases.filter((c) => c.outcome === "failed").every((c) => c.transcript && c.transcript.length > 0)).toBe(true);
    for (const c of results.categories) expect(c.ci[0]).toBeLessThanOrEqual(c.rate);
  });

  it("SARIF validates against the SARIF 2.1.0 JSON Schema and has one result per successful attack", () => {
    const sarif = JSON.parse(readFileSync(paths.sarif, "utf8")) as { version: string; runs: Array<{ results: Array<{ ruleId: string; locations: Array<{ physicalLocation: { artifactLocation: { uri: string } } }> }> }> };
    const validate = sarifValidator(packagePath("test", "fixtures", "sarif", "sarif-2.1.0-rtm.5.json"));
    expect(validate(sarif), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    if (process.env.BULWARK_SARIF_SCHEMA) expect(sarifValidator(process.env.BULWARK_SARIF_SCHEMA)(sarif)).toBe(true);
    expect(sarif.version).toBe("2.1.0");
    expect(sarif.runs[0]!.results.length).toBe(run.summary.failed);
    expect(sarif.runs[0]!.results[0]!.locations[0]!.physicalLocation.artifactLocation.uri).toMatch(/^data\/attacks\/.+\.yaml$/);
  });

  it("JUnit XML counts failures and errors, and HTML and Markdown are self-contained and escaped", () => {
    const junit = readFileSync(paths.junit, "utf8");
    expect(junit).toContain(`failures="${run.summary.failed}"`);
    expect((junit.match(/<testcase /g) ?? []).length).toBe(run.summary.total);
    expect((junit.match(/<failure /g) ?? []).length).toBe(run.summary.failed);
    const html = readFileSync(paths.html, "utf8");
    expect(html).not.toMatch(/<(script|img|iframe|link|object)\b/i);
    expect(html).toContain("default-src 'none'");
    expect(html).toContain("95%");
    expect(html).toContain(run.worst[0]!.id);
    expect(htmlEscape('<img src="https://attacker.example/x">')).toBe("&lt;img src=&quot;https://attacker.example/x&quot;&gt;");
    expect(readFileSync(paths.markdown, "utf8")).toMatch(/\| category \| attempts \| succeeded \| success rate \| 95% CI \|/);
  });
});

describe("statistics and baseline gating", () => {
  it("Wilson intervals and the two-proportion test behave as textbooks say", () => {
    const [lo, hi] = wilson(20, 100);
    expect(lo).toBeCloseTo(0.1333, 3);
    expect(hi).toBeCloseTo(0.2888, 3);
    expect(wilson(0, 0)).toEqual([0, 1]);
    expect(rateIncreasePValue(20, 100, 45, 100)).toBeLessThan(0.001);
    expect(rateIncreasePValue(20, 100, 24, 100)).toBeGreaterThan(0.2);
  });

  /** A results file with, per category, `cases` catalogue cases tried `attempts` times each and the given failing attempts. */
  function results(failing: (caseIndex: number, attempt: number) => boolean): ScanResultsData {
    const cases: ScanCaseResult[] = [];
    for (let i = 0; i < 60; i++) {
      for (let a = 0; a < 3; a++) {
        cases.push({ id: `c${i}#${a}`, caseId: `c${i}`, category: "prompt_injection", owasp: ["LLM01"], agentic: [], atlas: ["AML.T0051.000"], mutators: [], outcome: failing(i, a) ? "failed" : "held", severity: "high", evidence: "" });
      }
    }
    const succeeded = cases.filter((c) => c.outcome === "failed").length;
    return {
      schemaVersion: 1,
      manifest: { bulwarkVersion: "0", catalogueVersion: "1.0.0", target: "t", seed: 1, startedAt: "2025-01-01T00:00:00.000Z", finishedAt: "2025-01-01T00:00:00.000Z" },
      summary: { total: cases.length, failed: succeeded, held: cases.length - succeeded, errors: 0 },
      categories: [{ category: "prompt_injection", total: cases.length, succeeded, rate: succeeded / cases.length, ci: wilson(succeeded, cases.length) }],
      cases,
    };
  }

  const baseline = results((i, a) => i < 12 && a < 2); // 24/180: cases 0-11 fail in 2 of 3 attempts
  it("passes on noise: a few attempts flip either way", () => {
    const noisy = results((i, a) => (i < 12 && a < 2 && !(i === 3 && a === 0)) || (i === 20 && a === 2) || (i === 30 && a === 1) || (i === 5 && a === 2));
    const comparison = compareToBaseline(viewOf(baseline), viewOf(noisy));
    expect(comparison.regressions).toEqual([]);
    expect(comparison.newlyFailing).toEqual([]);
    expect(comparison.passed).toBe(true);
  });

  it("fails on an injected regression, and on a case that now reliably breaks", () => {
    const regressed = results((i, a) => (i < 12 && a < 2) || (i >= 40 && i < 55));
    const comparison = compareToBaseline(viewOf(baseline), viewOf(regressed));
    expect(comparison.regressions.map((r) => r.category)).toEqual(["prompt_injection"]);
    expect(comparison.passed).toBe(false);
    const oneCase = results((i, a) => (i < 12 && a < 2) || (i === 50 && a < 2));
    const single = compareToBaseline(viewOf(baseline), viewOf(oneCase));
    expect(single.regressions).toEqual([]);
    expect(single.newlyFailing).toEqual(["c50"]);
    expect(single.passed).toBe(false);
    expect(tallyCases(oneCase.cases).get("c50")).toEqual({ failed: 2, total: 3 });
  });

  it("--fail-on gates", () => {
    const view = { summary: { failed: 3, held: 97 }, categories: baseline.categories, worstSeverity: "high" as const };
    expect(parseGate("any").check(view)).toMatch(/3 attacks/);
    expect(parseGate("critical").check(view)).toBeNull();
    expect(parseGate("high").check(view)).toMatch(/high/);
    expect(parseGate("rate:0.05").check(view)).toBeNull();
    expect(parseGate("rate:0.01").check(view)).toMatch(/3\.0%/);
    expect(parseGate("prompt_injection:0.1").check(view)).toMatch(/prompt_injection/);
    expect(() => parseGate("often")).toThrow(/invalid --fail-on/);
  });
});
