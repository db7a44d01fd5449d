/**
 * CPU the embedded event store spends per appended event, as the gateway runs it.
 *
 *   npm run bench:store-append [-- --sizes 200,500,1000] [-- --rounds 12] [-- --postgres] [-- --json out.json]
 *
 * One worker store (src/store/worker.ts: PGlite in its worker thread, each on a fresh
 * data directory) per batch size. Each round makes as many generated decision events
 * as the largest size (shaped as src/gateway/events.ts makes them: nine layers, a
 * 160-character excerpt, 40 principals with a skewed spread, 5% blocks, 2.5 events a
 * millisecond) and every store appends them in batches of its size, the stores taking
 * turns (the machine's noise falls on all alike). Measured per store and round: the
 * process's CPU time (process.cpuUsage: the gateway's thread, the worker thread and
 * V8's helpers) and, on Linux, the calling thread's alone (/proc schedstat), each per
 * event; the table gives the medians over the rounds after 4 warm-up rounds. Every
 * store's chain is verified at the end.
 *
 * --postgres: the same against a PostgreSQL server instead (BULWARK_BENCH_POSTGRES_URL, default
 * postgres://postgres@127.0.0.1:5432/test; a schema per batch size, dropped at the end). That store
 * runs on the calling thread; the server's own CPU is not counted.
 *
 * The writer (src/store/writer.ts) writes a batch when store.batchSize events are
 * waiting or, sooner, store.flushIntervalMs after the first waiting event: at 2,500
 * events a second (1,000 requests with 2.5 decisions each) batches of 200 fill in 80 ms.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { postgresDriver, redactUrl } from "../src/store/postgres.js";
import { SqlEventStore } from "../src/store/sql.js";
import type { DecisionEvent, EventStore } from "../src/store/types.js";
import { WorkerEventStore } from "../src/store/worker.js";
import { machine, seededRandom, table } from "./lib.js";

const args = process.argv.slice(2);
const option = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const SIZES = (option("--sizes") ?? "200,500,1000").split(",").map(Number);
const ROUNDS = Number(option("--rounds") ?? 12);
const WARMUP = 4;
const jsonOut = option("--json");
const POSTGRES = args.includes("--postgres") ? (process.env.BULWARK_BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test") : undefined;
const ROUND = Math.max(...SIZES);
if (SIZES.some((size) => !Number.isInteger(size) || size < 1 || ROUND % size !== 0)) throw new Error(`--sizes must be positive integers dividing the largest, got ${option("--sizes")}`);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds must be a positive integer, got ${option("--rounds")}`);

const random = seededRandom(5);
const WORDS = "the report shows revenue grew while costs stayed flat please summarise this document for the meeting on thursday translate paragraph keep tone formal".split(" ");
const LAYERS = ["size", "normalize", "secrets", "pii", "canary", "prompt-leak", "exfiltration", "heuristics", "classifier"];
const T0 = Date.UTC(2026, 10, 22, 3, 0, 0);
let n = 0;

function decision(): DecisionEvent {
  n++;
  const block = random() < 0.05;
  const output = n % 3 === 2;
  return {
    kind: "decision",
    id: `01JD${String(n).padStart(10, "0")}${Math.floor(random() * 1e9).toString(36).toUpperCase().padStart(8, "0")}`,
    time: new Date(T0 + n * 0.4).toISOString(),
    requestId: `req_${Math.floor(n / 2.5).toString(36)}`,
    principal: `team-${Math.floor(random() ** 2 * 40)}`,
    keyId: `key-${Math.floor(random() * 40)}`,
    route: "/v1/chat/completions",
    model: "gpt-4o-mini",
    stage: output ? "output" : "input",
    role: output ? "assistant" : "user",
    location: output ? "choices[0].message.content" : "messages[1].content",
    action: block ? "block" : "allow",
    categories: block ? ["prompt_injection"] : [],
    score: block ? 0.9312 : Math.round(random() * 1000) / 10000,
    findings: block ? [{ detector: "heuristics", category: "prompt_injection", score: 0.93, action: "block", ruleId: "ignore-previous" }] : [],
    layers: LAYERS.map((name) => ({ name, status: "ok", durationUs: Math.floor(random() * 200) })),
    degraded: false,
    policyName: "default",
    policyHash: "sha256:9f6da22c4b1e0a7d",
    latencyUs: 100 + Math.floor(random() * 400),
    excerpt: Array.from({ length: 25 }, () => WORDS[Math.floor(random() * WORDS.length)]).join(" ").slice(0, 160),
    textLength: 200 + Math.floor(random() * 3000),
    script: "latin",
  };
}

/** The calling thread's CPU time in microseconds (Linux), or undefined. */
const schedstat = `/proc/self/task/${process.pid}/schedstat`;
const threadCpuUs = (): number | undefined => (existsSync(schedstat) ? Number(readFileSync(schedstat, "utf8").split(" ")[0]) / 1000 : undefined);

async function main(): Promise<void> {
  // One cluster made once (initdb in WebAssembly takes seconds), copied for each store.
  const root = mkdtempSync(join(tmpdir(), "bulwark-bench-append-"));
  const template = join(root, "template");
  if (!POSTGRES) await (await PGlite.create({ dataDir: template })).close();
  const schemas = SIZES.map((size) => `bulwark_bench_append_${size}_${process.pid}`);
  const stores = SIZES.map((size, index) => {
    let store: EventStore;
    if (POSTGRES) store = new SqlEventStore(postgresDriver(POSTGRES, () => undefined), schemas[index]!, redactUrl(POSTGRES));
    else {
      const dir = join(root, `store-${index}`);
      cpSync(template, dir, { recursive: true });
      store = new WorkerEventStore(dir, "bulwark", `pglite:${dir}`);
    }
    return { size, store, cpu: [] as number[], thread: [] as number[] };
  });
  try {
    for (const { store } of stores) await store.init();
    for (let round = 0; round < WARMUP + ROUNDS; round++) {
      const events = Array.from({ length: ROUND }, decision);
      for (let turn = 0; turn < stores.length; turn++) {
        const entry = stores[(round + turn) % stores.length]!;
        const batches = Array.from({ length: ROUND / entry.size }, (_, i) => structuredClone(events.slice(i * entry.size, (i + 1) * entry.size)));
        const thread0 = threadCpuUs();
        const cpu0 = process.cpuUsage();
        for (const batch of batches) await entry.store.append(batch);
        const cpu = process.cpuUsage(cpu0);
        const thread1 = threadCpuUs();
        if (round < WARMUP) continue;
        entry.cpu.push((cpu.user + cpu.system) / ROUND);
        if (thread0 !== undefined && thread1 !== undefined) entry.thread.push((thread1 - thread0) / ROUND);
      }
    }
    const median = (values: number[]): number | undefined => (values.length ? [...values].sort((a, b) => a - b)[values.length >> 1] : undefined);
    const rows = [];
    for (const entry of stores) {
      const verified = await entry.store.verify();
      if (!verified.ok) throw new Error(`the chain of the store with batches of ${entry.size} does not verify: ${verified.reason}`);
      rows.push({ batchSize: entry.size, events: verified.events, cpuUsPerEvent: median(entry.cpu)!, gatewayThreadUsPerEvent: median(entry.thread) });
    }
    const us = (value: number | undefined): string => (value === undefined ? "n/a" : `${value.toFixed(1)} µs`);
    const what = POSTGRES ? `Event store on PostgreSQL (${redactUrl(POSTGRES)}), this process's CPU` : "Embedded event store (PGlite in its worker thread), CPU";
    console.log(`${what} per appended decision event. ${machine()}\n`);
    console.log(
      table(
        ["batch size", "CPU per event (all threads)", "of it on the calling thread", "events appended, chain verified"],
        rows.map((row) => [row.batchSize, us(row.cpuUsPerEvent), us(row.gatewayThreadUsPerEvent), row.events]),
      ),
    );
    console.log(`\nMedians over ${ROUNDS} rounds of ${ROUND} events per store, after ${WARMUP} warm-up rounds.`);
    if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ machine: machine(), rounds: ROUNDS, roundEvents: ROUND, rows }, null, 2));
  } finally {
    if (POSTGRES) {
      const driver = postgresDriver(POSTGRES, () => undefined);
      for (const schema of schemas) await driver.query(`drop schema if exists "${schema}" cascade`).catch(() => undefined);
      await driver.close();
    }
    for (const { store } of stores) await store.close().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
