import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.js";
import { packagePath } from "../../src/util/paths.js";

const dir = mkdtempSync(join(tmpdir(), "bulwark-threats-"));
const example = (file: string) => packagePath("docs", "examples", file);

async function run(...args: string[]): Promise<{ code: number; stderr: string }> {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  process.exitCode = undefined;
  try {
    const code = await main(["node", "bulwark", "threats", ...args]);
    return { code, stderr: lines.join("") };
  } finally {
    spy.mockRestore();
    process.exitCode = undefined;
  }
}

afterEach(() => vi.restoreAllMocks());

describe("bulwark threats", () => {
  it("renders a model with policy and evidence to a file", async () => {
    const out = join(dir, "report.json");
    const result = await run(example("support-bot.model.yaml"), "--policy", example("support-bot.policy.yaml"), "--evidence", example("support-bot.results.json"), "--format", "json", "--out", out);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/^13 threats \(11 open; residual/);
    const report = JSON.parse(readFileSync(out, "utf8")) as { policy: { source: string }; evidence: { cases: number } };
    expect(report.evidence.cases).toBe(12);
  });

  it("exits 2 with every problem and its line for an invalid model", async () => {
    const broken = join(dir, "broken.yaml");
    writeFileSync(broken, readFileSync(example("support-bot.model.yaml"), "utf8").replace("boundary: model-vendor", "boundary: model-vender"));
    const result = await run(broken, "--format", "md", "--out", join(dir, "x.md"));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/line \d+, column \d+: components\.\d+\.boundary: expected the id of a trust boundary .*found unknown trust boundary "model-vender"/);
  });

  it("exits 2 for a missing model, policy problems or unreadable evidence", async () => {
    expect((await run(join(dir, "nope.yaml"))).code).toBe(2);
    const badEvidence = join(dir, "results.json");
    writeFileSync(badEvidence, '{"schemaVersion": 1, "cases": [{"id": "x"}]}');
    const result = await run(example("support-bot.model.yaml"), "--evidence", badEvidence, "--out", join(dir, "y.md"));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/cases\.0\.category|manifest/);
  });

  it("--diff with --fail-on fails only on new threats at or above the severity", async () => {
    const baseline = join(dir, "baseline.json");
    expect((await run(example("support-bot.model.yaml"), "--format", "json", "--out", baseline)).code).toBe(0);
    expect((await run(example("support-bot.model.yaml"), "--diff", baseline, "--fail-on", "low", "--out", join(dir, "same.md"))).code).toBe(0);
    const changed = join(dir, "changed.yaml");
    writeFileSync(changed, readFileSync(example("support-bot.model.yaml"), "utf8").replace("    humanApproval: true\n", ""));
    const result = await run(changed, "--diff", baseline, "--fail-on", "high", "--format", "sarif", "--out", join(dir, "changed.sarif"));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("excessive-agency.unapproved-actions@support-llm");
    expect(readFileSync(join(dir, "changed.sarif"), "utf8")).toContain('"baselineState": "new"');
  });

  it("without --diff, --fail-on counts every open threat", async () => {
    expect((await run(example("coding-agent.model.yaml"), "--fail-on", "critical", "--format", "mermaid", "--out", join(dir, "d.mmd"))).code).toBe(1);
  });
});
