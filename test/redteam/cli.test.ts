import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScanResults } from "../../src/redteam/results.js";
import { wilson } from "../../src/redteam/stats.js";
import { packagePath } from "../../src/util/paths.js";

function bulwark(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [packagePath("bin", "bulwark.js"), ...args], { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

const tmp = mkdtempSync(join(tmpdir(), "bulwark-scan-cli-"));
const scope = ["--category", "exfiltration", "--category", "secret"];

describe("bulwark scan", () => {
  it("scans the demo, writes every report, reproduces the same cases with the same seed, and gates on a baseline", async () => {
    const first = await bulwark(["scan", "--target", "demo", "--out", join(tmp, "a"), "--seed", "4", ...scope]);
    expect(first.code, first.stderr).toBe(0);
    for (const file of ["results.json", "report.html", "results.sarif", "junit.xml", "summary.md"]) expect(existsSync(join(tmp, "a", file)), file).toBe(true);
    const a = parseScanResults(readFileSync(join(tmp, "a", "results.json"), "utf8"));
    expect(a.manifest.target).toMatch(/demo/);
    expect(a.summary.failed).toBeGreaterThan(0);

    const second = await bulwark(["scan", "--target", "demo", "--out", join(tmp, "b"), "--seed", "4", ...scope, "--baseline", join(tmp, "a", "results.json")]);
    expect(second.code, second.stderr).toBe(0);
    const b = parseScanResults(readFileSync(join(tmp, "b", "results.json"), "utf8"));
    expect(b.cases.map((c) => c.id)).toEqual(a.cases.map((c) => c.id));
    expect(b.manifest.planHash).toBe(a.manifest.planHash);
    expect(second.stderr).toMatch(/no significant regression/);

    // Inject a regression: a baseline in which nothing ever got through.
    const clean = structuredClone(a);
    for (const c of clean.cases) if (c.outcome === "failed") c.outcome = "held";
    clean.summary = { ...clean.summary, failed: 0, held: clean.summary.failed + clean.summary.held };
    clean.categories = clean.categories.map((c) => ({ ...c, succeeded: 0, rate: 0, ci: wilson(0, c.total) }));
    writeFileSync(join(tmp, "clean.json"), JSON.stringify(clean));
    const gated = await bulwark(["scan", "--target", "demo", "--out", join(tmp, "c"), "--seed", "4", ...scope, "--baseline", join(tmp, "clean.json"), "--fail-on", "critical"]);
    expect(gated.code).toBe(1);
    expect(gated.stderr).toMatch(/NEWLY FAILING case|REGRESSION/);
    expect(gated.stderr).toMatch(/GATE --fail-on critical/);
  }, 120_000);

  it("rejects bad usage with exit 2 and a message", async () => {
    const bad = await bulwark(["scan", "--target", "ftp://x", "--out", join(tmp, "e")]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown target/);
  }, 60_000);
});
