/**
 * docs/limits.md stays runnable: its policy and configuration load, and its
 * library example prints what its comments say.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/gateway/config.js";
import { parsePolicy } from "../../src/policy/load.js";
import { packagePath } from "../../src/util/paths.js";

const doc = readFileSync(packagePath("docs", "limits.md"), "utf8");
const blocks = (lang: string): string[] => [...doc.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((match) => match[1]!);

describe("docs/limits.md", () => {
  it("has a policy that loads, with the rules and budgets it describes", () => {
    const { policy } = parsePolicy(blocks("yaml")[0]!, "docs/limits.md");
    expect(policy.limits.rate.rules.map((rule) => rule.id ?? rule.scope)).toEqual(["per-key", "principal", "per-ip", "model-list"]);
    expect(policy.limits.budget.rules).toHaveLength(2);
    expect(policy.limits.quarantine.automatic).toEqual(["extraction", "escalation"]);
  });

  it("has a gateway configuration with Redis that loads", () => {
    const { config } = parseConfig(blocks("yaml")[1]!, "docs/limits.md", process.cwd());
    expect(config.redis).toEqual({ url: "redis://127.0.0.1:6379", keyPrefix: "bulwark:", commandTimeoutMs: 100 });
  });

  it("has a library example that prints what its comments say", () => {
    const example = blocks("ts")[0]!;
    const dir = mkdtempSync(join(tmpdir(), "bulwark-limits-doc-"));
    try {
      const file = join(dir, "example.mts");
      writeFileSync(file, example.replace(/from "bulwark"/g, `from ${JSON.stringify(packagePath("src", "index.ts"))}`));
      const output = execFileSync(process.execPath, ["--import", "tsx", file], { cwd: packagePath(), encoding: "utf8" });
      expect(output.trim().split("\n")).toEqual(["true  1", "true  0", "false rate_limit_exceeded 0", "{ id: 'principal-day', usd: 0.012, limitUsd: 5 }", "extraction high", "anomaly.extraction"]);
      const comments = [...example.matchAll(/\/\/ (true {2}1|true {2}0|false rate_limit_exceeded 0|\{ id: .*\}|extraction high|anomaly\.extraction)$/gm)].map((match) => match[1]);
      expect(comments).toEqual(output.trim().split("\n"));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
