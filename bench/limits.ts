/**
 * Cost of the limits on the request path.
 *
 *   npm run bench:limits [-- --seconds 5] [-- --rate 1000] [-- --stores memory,redis] [-- --parts limiter,anomaly]
 *                        [-- --redis redis://127.0.0.1:6379] [-- --json out.json]
 *
 * Limiter: RateLimits.admit() with four rules in force (requests per
 * principal, requests per IP, tokens per key, a daily cost budget per
 * principal), paced at 1,000 requests a second for --seconds, each request
 * followed by its recordUsage() (not awaited, as in the gateway). Reported:
 * p50/p99/max of the admit() call, from the call to its answer, in
 * milliseconds, and the process's CPU time per request (admit, release and
 * recordUsage, measured on 2,000 requests one after another; the figure a
 * loaded machine distorts least); first in memory, then over Redis (BULWARK_TEST_REDIS_URL, or
 * --redis; skipped with a notice when none answers), where every admit is one
 * pipelined round trip. Targets: 0.2 ms in memory, 1 ms over Redis on loopback.
 *
 * Anomaly update: observeRequest() + observeTokens() per request over 1,000
 * principals, with prompts of about 300 characters and of 2,000 (the
 * fingerprint reads at most 2,048), in microseconds; and the quarantine check.
 */
import { writeFileSync } from "node:fs";
import type { Redis } from "ioredis";
import { AnomalyDetector, QuarantineList, RateLimits, connectLimitsRedis, whenReady, type LimitStore, type LimitSubject } from "../src/limits/index.js";
import { seeded, syntheticPrompts } from "../scripts/anomaly-traffic.js";

const args = process.argv.slice(2);
const option = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const seconds = Number(option("--seconds") ?? 5);
const redisUrl = option("--redis") ?? process.env.BULWARK_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const jsonOut = option("--json");
const RATE = Number(option("--rate") ?? 1_000);
const stores = (option("--stores") ?? "memory,redis").split(",");
const parts = (option("--parts") ?? "limiter,anomaly").split(",");

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summary(samples: Float64Array): { p50: number; p99: number; max: number } {
  const sorted = samples.slice().sort();
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1]! };
}

const policy = {
  rate: {
    enabled: true,
    rules: [
      { scope: "principal" as const, requests: 1_000_000, windowSeconds: 60 },
      { scope: "ip" as const, requests: 1_000_000, windowSeconds: 60 },
      { scope: "key" as const, tokens: 1_000_000_000, windowSeconds: 3600 },
    ],
  },
  budget: { enabled: true, rules: [{ scope: "principal" as const, period: "day" as const, usd: 1_000_000 }], prices: { "gpt-4o*": { input: 2.5, output: 10 } } },
};

/** Paced at RATE per second: request i starts at start + i ms; its admit() time is recorded. */
async function pacedLimiter(store: LimitStore): Promise<{ p50: number; p99: number; max: number; count: number; refused: number; cpuUsPerRequest: number }> {
  const limits = new RateLimits(policy, store);
  const principals = Array.from({ length: 200 }, (_, i): LimitSubject => ({ key: `key-${i}`, principal: `principal-${i}`, ip: `10.0.${i >> 8}.${i & 255}`, route: "/v1/chat/completions" }));
  // Warm up: the JIT, the Lua scripts' first load, the connection.
  for (let i = 0; i < 500; i++) await limits.admit(principals[i % principals.length]!, "gpt-4o");
  const count = Math.round(seconds * RATE);
  const samples = new Float64Array(count);
  let refused = 0;
  const pending: Array<Promise<void>> = [];
  const launch = (i: number): void => {
    const subject = principals[i % principals.length]!;
    const began = performance.now();
    pending.push(
      limits.admit(subject, "gpt-4o").then((admission) => {
        samples[i] = performance.now() - began;
        if (!admission.allowed) refused++;
        admission.release();
        void limits.recordUsage(subject, "gpt-4o", 350, 200);
      }),
    );
  };
  // Paced: every millisecond tick launches the requests that are due (one per ms at 1,000/s).
  const start = performance.now();
  let next = 0;
  while (next < count) {
    const due = Math.min(count, Math.floor(((performance.now() - start) * RATE) / 1000) + 1);
    while (next < due) launch(next++);
    if (pending.length >= 512) await Promise.all(pending.splice(0));
    await new Promise<void>((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(pending);
  // CPU per request, measured apart from the pacing (whose timer wake-ups would count too): requests one after another.
  const sequential = 2_000;
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < sequential; i++) {
    const subject = principals[i % principals.length]!;
    const admission = await limits.admit(subject, "gpt-4o");
    admission.release();
    void limits.recordUsage(subject, "gpt-4o", 350, 200);
  }
  const cpu = process.cpuUsage(cpuBefore);
  return { ...summary(samples), count, refused, cpuUsPerRequest: (cpu.user + cpu.system) / sequential };
}

function anomalyCost(promptChars: number): { meanUs: number; p99Us: number } {
  const rng = seeded(3);
  const source = syntheticPrompts(3);
  const prompts: string[] = [];
  while (prompts.length < 2_000) {
    let text = source.normal(rng);
    while (text.length < promptChars) text += ` ${source.passage(rng)}`;
    prompts.push(text.slice(0, promptChars));
  }
  const detector = new AnomalyDetector();
  const principals = Array.from({ length: 1_000 }, (_, i) => `principal-${i}`);
  const t0 = Date.UTC(2026, 0, 5);
  const n = 100_000;
  // Warm up the JIT and every principal's ring (allocated on first prompt).
  for (let i = 0; i < 20_000; i++) detector.observeRequest(principals[i % 1_000]!, t0 + i * 10, prompts[i % 2_000]!, false);
  const samples = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const principal = principals[(i * 7) % 1_000]!;
    const now = t0 + 200_000 + i * 10;
    const began = performance.now();
    detector.observeRequest(principal, now, prompts[i % 2_000]!, i % 97 === 0);
    detector.observeTokens(principal, now, 550);
    const took = performance.now() - began;
    samples[i] = took;
    total += took;
  }
  const sorted = samples.sort();
  return { meanUs: (total / n) * 1000, p99Us: percentile(sorted, 99) * 1000 };
}

function quarantineCheck(): number {
  const list = new QuarantineList();
  for (let i = 0; i < 1_000; i++) void list.add({ principal: `bad-${i}`, reason: "bench", by: "bench", since: 0, until: null });
  const n = 1_000_000;
  let hits = 0;
  const began = performance.now();
  for (let i = 0; i < n; i++) if (list.get(i % 2 ? `bad-${i % 1_000}` : "principal-7") !== undefined) hits++;
  const ns = ((performance.now() - began) * 1e6) / n;
  if (hits !== n / 2) throw new Error("quarantine check miscounted");
  return ns;
}

const fmt = (ms: number): string => ms.toFixed(3);
console.log(`Limits on the request path (Node ${process.version}, ${seconds} s paced at ${RATE}/s per store)`);
console.log("");
const memory = stores.includes("memory") && parts.includes("limiter") ? await pacedLimiter({ kind: "memory" }) : null;
if (memory) console.log(`limiter admit(), memory  p50 ${fmt(memory.p50)} ms  p99 ${fmt(memory.p99)} ms  max ${fmt(memory.max)} ms  CPU ${memory.cpuUsPerRequest.toFixed(1)} µs/request  (${memory.count} requests, 3 rules + 1 budget; target 0.2 ms: p99 ${memory.p99 <= 0.2 ? "met" : "NOT met"})`);

let redisResult: Awaited<ReturnType<typeof pacedLimiter>> | null = null;
const client: Redis = connectLimitsRedis({ url: redisUrl, commandTimeoutMs: 1_000 });
client.on("error", () => undefined);
if (!stores.includes("redis") || !parts.includes("limiter")) {
  // not asked for
} else if (await whenReady(client, 2_000)) {
  const keyPrefix = `bulwark-bench-${process.pid}:`;
  redisResult = await pacedLimiter({ kind: "redis", client, keyPrefix });
  console.log(
    `limiter admit(), Redis   p50 ${fmt(redisResult.p50)} ms  p99 ${fmt(redisResult.p99)} ms  max ${fmt(redisResult.max)} ms  CPU ${redisResult.cpuUsPerRequest.toFixed(1)} µs/request  (${redisUrl.replace(/\/\/[^@]*@/, "//")}, one pipelined round trip per admit; target 1 ms: p99 ${redisResult.p99 <= 1 ? "met" : "NOT met"})`,
  );
  const keys = await client.keys(`${keyPrefix}*`);
  if (keys.length) await client.del(...keys);
} else {
  console.warn(`limiter admit(), Redis   skipped: no Redis answered at ${redisUrl} (set BULWARK_TEST_REDIS_URL or --redis)`);
}
client.disconnect();

const anomaly = parts.includes("anomaly") ? { short: anomalyCost(300), long: anomalyCost(2_000) } : null;
if (anomaly) {
  console.log(`anomaly update            ${anomaly.short.meanUs.toFixed(2)} µs mean, ${anomaly.short.p99Us.toFixed(2)} µs p99 per request (300-character prompts, 1,000 principals)`);
  console.log(`                          ${anomaly.long.meanUs.toFixed(2)} µs mean, ${anomaly.long.p99Us.toFixed(2)} µs p99 per request (2,000-character prompts)`);
}
const quarantineNs = parts.includes("anomaly") ? quarantineCheck() : null;
if (quarantineNs !== null) console.log(`quarantine check          ${quarantineNs.toFixed(0)} ns (local copy of the list; never waits for Redis)`);

if (jsonOut) {
  writeFileSync(jsonOut, JSON.stringify({ node: process.version, seconds, rate: RATE, memory, redis: redisResult, anomaly, quarantineNs }, null, 2));
  console.log(`\nwritten ${jsonOut}`);
}
