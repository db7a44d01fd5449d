/**
 * `bulwark demo`: what Bulwark changes, measured. Scans the gateway's offline
 * demo assistant directly and then through the Bulwark gateway (in-process, on
 * 127.0.0.1, default policy), and the in-process simulated shop agent (stateful
 * mock tools) directly and wrapped in-process by the guard; prints what got
 * through without Bulwark and with it. Fully offline; reports go to --out.
 */
import { join } from "node:path";
import type { Command } from "commander";
import { loadCatalogue } from "../redteam/catalogue.js";
import { runScan, type ScanRun } from "../redteam/runner.js";
import { writeReports } from "../redteam/reports/write.js";
import { createDemoTarget } from "../redteam/targets/function.js";
import { createGuardedTarget } from "../redteam/targets/guarded.js";
import { startDemoTarget, startGuardedDemoTarget } from "../redteam/targets/demo.js";
import type { Target } from "../redteam/targets/types.js";
import { renderTable, stderr, writeOut } from "./output.js";

export interface DemoComparison {
  readonly title: string;
  readonly without: ScanRun;
  readonly with: ScanRun;
}

export function register(program: Command): void {
  program
    .command("demo")
    .summary("show what the guard changes: scan the offline demo apps without and with Bulwark")
    .option("-o, --out <dir>", "directory for the four scans' reports", ".bulwark/demo")
    .option("--seed <n>", "seed", "1")
    .option("--json", "print the comparison as JSON on stdout")
    .action(async (options: { out: string; seed: string; json?: boolean }) => {
      const comparisons = await runDemo(options.out, Number(options.seed) || 1);
      if (options.json) {
        await writeOut(JSON.stringify(comparisons.map((c) => ({ title: c.title, without: { summary: c.without.summary, categories: c.without.categories }, with: { summary: c.with.summary, categories: c.with.categories } }))) + "\n");
        return;
      }
      for (const comparison of comparisons) await writeOut(renderComparison(comparison) + "\n\n");
      stderr(`Reports (results.json, report.html, results.sarif, junit.xml, summary.md) are in ${options.out}/.`);
    });
}

async function scanOnce(target: Target, outDir: string, seed: number): Promise<ScanRun> {
  const catalogue = await loadCatalogue();
  const run = await runScan({ target, catalogue, plan: { seed, mutatorsPerCase: 2, strategies: ["single", "crescendo"] }, outDir, concurrency: 8, timeoutMs: 10_000, retries: 0 });
  await writeReports(run, catalogue, outDir);
  return run;
}

export async function runDemo(out: string, seed: number): Promise<DemoComparison[]> {
  stderr("1/2 The gateway's offline demo assistant, directly and through the Bulwark gateway (127.0.0.1, default policy)...");
  const direct = await startDemoTarget();
  const without = await scanOnce(direct.target, join(out, "gateway-demo-direct"), seed).finally(() => direct.close());
  const gateway = await startGuardedDemoTarget();
  const withGateway = await scanOnce(gateway.target, join(out, "gateway-demo-through-gateway"), seed).finally(() => gateway.close());

  stderr("2/2 The simulated shop agent (stateful mock tools, in-process), directly and wrapped in-process by the guard...");
  const agent = createDemoTarget(seed);
  const agentWithout = await scanOnce(agent, join(out, "shop-agent-direct"), seed);
  const agentWith = await scanOnce(createGuardedTarget(createDemoTarget(seed)), join(out, "shop-agent-guarded"), seed);
  return [
    { title: "Gateway demo assistant: direct vs through the Bulwark gateway", without, with: withGateway },
    { title: "Simulated shop agent (tools): direct vs wrapped in-process by the guard (createGuard input + output checks)", without: agentWithout, with: agentWith },
  ];
}

export function renderComparison(comparison: DemoComparison): string {
  const pct = (s: number, n: number): string => (n === 0 ? "-" : `${((s / n) * 100).toFixed(0)}%`);
  const categories = [...new Set([...comparison.without.categories.map((c) => c.category), ...comparison.with.categories.map((c) => c.category)])];
  const rows = categories.map((category) => {
    const a = comparison.without.categories.find((c) => c.category === category);
    const b = comparison.with.categories.find((c) => c.category === category);
    return [category, a ? `${a.succeeded}/${a.total} (${pct(a.succeeded, a.total)})` : "-", b ? `${b.succeeded}/${b.total} (${pct(b.succeeded, b.total)})` : "-"];
  });
  const w = comparison.without.summary;
  const g = comparison.with.summary;
  rows.push(["ALL", `${w.failed}/${w.failed + w.held} (${pct(w.failed, w.failed + w.held)})`, `${g.failed}/${g.failed + g.held} (${pct(g.failed, g.failed + g.held)})`]);
  return `${comparison.title}\nattacks that got through:\n${renderTable(["category", "without Bulwark", "with Bulwark"], rows)}`;
}
