/**
 * `npm run bench:scan`: scanner throughput and memory, bounded by the target,
 * not by the scanner. The target is a local mock that answers at once:
 *   - over HTTP (an OpenAI-compatible server on loopback, keep-alive), the
 *     realistic case (target: >= 200 cases/s);
 *   - in-process (a function), the scanner's own ceiling, run to 100,000
 *     attempts to show memory stays bounded (results streamed to disk).
 * Options: --http-cases N (default 5000), --inprocess-cases N (default 100000), --json FILE.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadCatalogue } from "../src/redteam/catalogue.js";
import { writeReports } from "../src/redteam/reports/write.js";
import { planFingerprint, runScan } from "../src/redteam/runner.js";
import { createFunctionTarget } from "../src/redteam/targets/function.js";
import { createOpenAiTarget } from "../src/redteam/targets/http.js";
import type { Target } from "../src/redteam/targets/types.js";
import { machine, table } from "./lib.js";

const arg = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
};
const jsonOut = process.argv.includes("--json") ? process.argv[process.argv.indexOf("--json") + 1] : undefined;

const catalogue = await loadCatalogue();
const basePlan = { seed: 1, mutatorsPerCase: 2, strategies: ["single", "crescendo"] as ("single" | "crescendo")[] };
const REPLY = "I'm sorry, I can't help with that.";

async function measure(label: string, target: Target, cases: number, concurrency: number): Promise<Array<string | number>> {
  const perRound = planFingerprint(catalogue, { ...basePlan, capabilities: target.capabilities }).total;
  const repeat = Math.max(1, Math.round(cases / perRound));
  const out = mkdtempSync(join(tmpdir(), "bulwark-bench-scan-"));
  let peakRss = 0;
  let peakHeap = 0;
  let peakLive = 0;
  let ticks = 0;
  // With --expose-gc, every second the heap is also measured right after a full collection: the live set, which is what must stay bounded.
  const gc = (globalThis as { gc?: () => void }).gc;
  const sampler = setInterval(() => {
    const usage = process.memoryUsage();
    peakRss = Math.max(peakRss, usage.rss);
    peakHeap = Math.max(peakHeap, usage.heapUsed);
    if (gc && ++ticks % 20 === 0) {
      gc();
      peakLive = Math.max(peakLive, process.memoryUsage().heapUsed);
    }
  }, 50);
  const started = performance.now();
  const run = await runScan({ target, catalogue, plan: { ...basePlan, repeat }, outDir: out, concurrency, timeoutMs: 30_000, retries: 0, transcripts: "failed", worstCount: 20 });
  const scanSeconds = (performance.now() - started) / 1000;
  const reportStart = performance.now();
  await writeReports(run, catalogue, out);
  const reportSeconds = (performance.now() - reportStart) / 1000;
  clearInterval(sampler);
  rmSync(out, { recursive: true, force: true });
  const rate = run.summary.total / scanSeconds;
  console.error(`${label}: ${run.summary.total} attempts in ${scanSeconds.toFixed(1)} s`);
  return [label, run.summary.total, concurrency, `${rate.toFixed(0)}/s`, `${scanSeconds.toFixed(1)} s`, `${reportSeconds.toFixed(1)} s`, `${(peakRss / 2 ** 20).toFixed(0)} MB`, `${(peakHeap / 2 ** 20).toFixed(0)} MB`, gc ? `${(peakLive / 2 ** 20).toFixed(0)} MB` : "(run with --expose-gc)"];
}

const server = createServer((request, response) => {
  // Drain the body (some attempts upload 600 KB) and answer at once.
  request.resume();
  request.on("end", () => {
    const body = JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content: REPLY }, finish_reason: "stop" }] });
    response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    response.end(body);
  });
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const port = (server.address() as AddressInfo).port;
const http = createOpenAiTarget({ baseUrl: `http://127.0.0.1:${port}/v1`, model: "mock", tools: true, canaries: ["BLWK-0123456789abcdef"], connections: 32 });
const inProcess = createFunctionTarget(() => REPLY, { name: "mock function", tools: true, canaries: ["BLWK-0123456789abcdef"], raw: () => REPLY });

const rows = [
  await measure("HTTP mock (loopback, OpenAI-compatible)", http, arg("--http-cases", 5000), 32),
  await measure("in-process mock function", inProcess, arg("--inprocess-cases", 100_000), 32),
];
await http.close?.();
server.close();

const head = ["target", "attempts", "concurrency", "throughput", "scan time", "reports time", "peak RSS", "peak heap", "peak live heap (after GC)"];
console.log(`bulwark scan throughput (${machine()})\n`);
console.log(table(head, rows));
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ machine: machine(), rows: rows.map((r) => Object.fromEntries(head.map((h, i) => [h, r[i]]))) }, null, 2));
