/**
 * The dashboard's queries over 10 million events in PostgreSQL.
 *
 *   npm run bench:store [-- --events N] [-- --runs N] [-- --json out.json]
 *
 * Database: BULWARK_BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test),
 * schema BULWARK_BENCH_SCHEMA (default bulwark_bench_<N>) created by the store's own
 * migrations. Events are generated deterministically from their sequence number
 * (30 days, about 2 000 principals with a Zipf-like spread, four routes, 4% blocks,
 * 0.3% degraded decisions, 1% signal events), chained with the store's own hash
 * chain (src/store/chain.ts link()) and loaded in COPYs of 200 000 rows
 * with COPY (through psql, which must be on the PATH); secondary indexes are dropped
 * during the load and rebuilt after it, then the roll-ups are rebuilt
 * (rebuildAllStatements, as migrations 4 and 5 backfill) and the tables analysed.
 *
 * Resumable: the chain head records how far the load got; a rerun continues
 * from there, and a complete schema is reused as it is (only the timings run).
 * The chain is verifiable afterwards (bulwark audit verify against the schema).
 *
 * Then each dashboard query runs --runs times (default 9) after one warm-up,
 * and the table gives p50 and p95 in milliseconds against the 200 ms target.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { GENESIS_HASH, link } from "../src/store/chain.js";
import { postgresDriver } from "../src/store/postgres.js";
import { AGGREGATE_COLUMNS, aggregateColumns, rebuildAllStatements } from "../src/store/sql-aggregates.js";
import { SqlEventStore } from "../src/store/sql.js";
import { indexedColumns } from "../src/store/columns.js";
import type { AuditEvent, DecisionEvent, EventStore, SignalEvent } from "../src/store/types.js";
import { mulberry32 } from "../src/util/random.js";

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? args[index + 1] : undefined;
};
const TOTAL = Number(option("events") ?? process.env.BULWARK_BENCH_EVENTS ?? 10_000_000);
const RUNS = Number(option("runs") ?? 9);
const JSON_OUT = option("json");
const URL_ = process.env.BULWARK_BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const SCHEMA = process.env.BULWARK_BENCH_SCHEMA ?? `bulwark_bench_${TOTAL >= 1_000_000 && TOTAL % 1_000_000 === 0 ? `${TOTAL / 1_000_000}m` : TOTAL}`;
const S = `"${SCHEMA}"`;
const BATCH = 20_000;
if (!Number.isInteger(TOTAL) || TOTAL < 1000) throw new Error(`--events must be an integer of at least 1000, got ${option("events")}`);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`--runs must be a positive integer, got ${option("runs")}`);

const START = Date.UTC(2026, 9, 1); // 30 days of events from here
const SPAN_MS = 30 * 86_400_000;
const END = START + SPAN_MS;

// ---------------------------------------------------------------------------
// Deterministic event generation: everything about event `seq` follows from seq.

const rng = mulberry32;

const PRINCIPALS = 2_000;
const ROUTES = ["/v1/chat/completions", "/v1/chat/completions", "/v1/chat/completions", "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses"];
const LAYERS = ["size", "normalize", "secrets", "pii", "heuristics", "classifier"];
const BLOCK_CATEGORIES = ["prompt_injection", "jailbreak", "secret", "system_prompt_leak", "exfiltration", "toxicity", "canary_leak", "tool_abuse"];
const WORDS = "the report shows revenue grew while costs stayed flat please summarise this document for the meeting on thursday translate paragraph keep tone formal".split(" ");
const SIGNALS: Array<[string, SignalEvent["severity"]]> = [
  ["anomaly.rate", "medium"],
  ["limit.exceeded", "low"],
  ["tool.denied", "medium"],
  ["drift.score", "medium"],
  ["slo.breach", "high"],
  ["quarantine.added", "high"],
];

function eventAt(seq: number): AuditEvent {
  const r = rng(seq * 2654435761);
  const time = new Date(START + Math.floor(((seq - 1) / TOTAL) * SPAN_MS)).toISOString();
  // Zipf-like: a few principals carry much of the traffic.
  const principal = `principal-${String(Math.floor(PRINCIPALS * r() ** 3)).padStart(4, "0")}`;
  const id = `${String(seq).padStart(12, "0")}BENCH${Math.floor(r() * 1e9).toString(36).toUpperCase().padStart(6, "0")}`;
  const route = ROUTES[Math.floor(r() * ROUTES.length)]!;
  if (r() < 0.01) {
    const [type, severity] = SIGNALS[Math.floor(r() * SIGNALS.length)]!;
    return { kind: "signal", id, time, type, severity, principal, route, summary: `${type} for ${principal}`, detail: { observed: Math.round(r() * 1000) / 10, threshold: 50 } };
  }
  const stage = r() < 0.6 ? "input" : "output";
  const roll = r();
  const action: DecisionEvent["action"] = roll < 0.04 ? "block" : roll < 0.08 ? "flag" : roll < 0.1 ? "redact" : "allow";
  const categories =
    action === "block" || action === "flag" ? [BLOCK_CATEGORIES[Math.floor(r() ** 2 * BLOCK_CATEGORIES.length)]!] : action === "redact" ? [r() < 0.5 ? "pii" : "secret"] : [];
  const degraded = r() < 0.003;
  const failed = degraded ? LAYERS[4 + Math.floor(r() * 2)]! : "";
  const latencyUs = Math.round(Math.exp(5.5 + r() * 1.5 + (r() < 0.02 ? 2.5 : 0)));
  const layers = LAYERS.map((name) => ({ name, status: name === failed ? (r() < 0.5 ? "timeout" : "error") : "ok", durationUs: Math.round(latencyUs / 8 + r() * 20) }));
  const textLength = Math.round(Math.exp(3 + r() * 5));
  const excerpt = Array.from({ length: 6 + Math.floor(r() * 10) }, () => WORDS[Math.floor(r() * WORDS.length)]).join(" ");
  return {
    kind: "decision",
    id,
    time,
    requestId: `req-${seq}`,
    principal,
    keyId: `key-${principal.slice(-4)}`,
    route,
    model: "gpt-4o-mini",
    stage,
    role: stage === "input" ? "user" : "assistant",
    location: stage === "input" ? "messages[0].content" : "choices[0].message.content",
    action,
    categories,
    score: action === "allow" ? Math.round(r() * 30) / 100 : Math.round((0.6 + r() * 0.4) * 100) / 100,
    findings: categories.map((category) => ({ detector: "heuristics", category, score: 0.9, action, ruleId: `${category}.rule-${Math.floor(r() * 20)}` })),
    layers,
    degraded,
    policyName: "default",
    policyHash: "sha256:5f0c0a7e",
    latencyUs,
    excerpt,
    textLength,
    script: r() < 0.9 ? "latin" : r() < 0.5 ? "cyrillic" : "han",
  };
}

// ---------------------------------------------------------------------------
// Loading

const COLUMNS = ["seq", "id", "kind", "time", "principal", "action", "type", "payload", "prev_hash", "hash", ...AGGREGATE_COLUMNS];

/** A value in COPY's text format. */
function copyText(value: unknown): string {
  if (value === null || value === undefined) return "\\N";
  if (Array.isArray(value)) return copyText(`{${value.map((v: string) => `"${v.replace(/["\\]/g, "\\$&")}"`).join(",")}}`);
  if (typeof value === "boolean") return value ? "t" : "f";
  return String(value).replace(/[\\\t\n\r]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r"));
}

async function load(store: EventStore, driver: ReturnType<typeof postgresDriver>): Promise<boolean> {
  // The events are the truth: a load interrupted after a COPY committed but before the head was updated resumes after it.
  const [last] = await driver.query<{ seq: string; hash: string }>(`select seq, hash from ${S}.events order by seq desc limit 1`);
  let seq = last ? Number(last.seq) : 0;
  let hash = last ? last.hash : GENESIS_HASH;
  await driver.query(`update ${S}.chain_head set seq = $1, hash = $2 where id = 1`, [seq, hash]);
  if (seq >= TOTAL) return false;
  await driver.query(`create table if not exists ${S}.bench_indexes (name text primary key, def text not null)`);
  // Secondary indexes slow a bulk load several times over: keep their definitions, drop them, rebuild after.
  await driver.query(
    `insert into ${S}.bench_indexes select indexname, indexdef from pg_indexes where schemaname = $1 and tablename = 'events'
       and indexname not in ('events_pkey') and indexdef not like '%UNIQUE%' on conflict do nothing`,
    [SCHEMA],
  );
  for (const { name } of await driver.query<{ name: string }>(`select name from ${S}.bench_indexes`)) await driver.query(`drop index if exists ${S}."${name}"`);
  const started = performance.now();
  const from = seq;
  while (seq < TOTAL) {
    // One COPY (psql, text format) per 200 000 events: the bulk path PostgreSQL parses fastest.
    const upto = Math.min(seq + 10 * BATCH, TOTAL);
    const copy = spawn("psql", [URL_, "-v", "ON_ERROR_STOP=1", "-q", "-c", `copy ${S}.events (${COLUMNS.join(", ")}) from stdin`], { stdio: ["pipe", "inherit", "inherit"] });
    const done = new Promise<void>((resolve, reject) => {
      copy.on("error", reject);
      copy.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`psql copy exited with code ${code}`))));
    });
    while (seq < upto) {
      const count = Math.min(BATCH, upto - seq);
      const events = Array.from({ length: count }, (_, i) => eventAt(seq + 1 + i));
      const links = link(events, seq, hash);
      const lines = events.map((event, i) => {
        const l = links[i]!;
        const indexed = indexedColumns(event);
        return [l.seq, event.id, event.kind, event.time, indexed.principal, indexed.action, indexed.type, l.payload, l.prevHash, l.hash, ...aggregateColumns(event)].map(copyText).join("\t");
      });
      if (!copy.stdin.write(lines.join("\n") + "\n")) await new Promise((resolve) => copy.stdin.once("drain", resolve));
      seq = links[links.length - 1]!.seq;
      hash = links[links.length - 1]!.hash;
    }
    copy.stdin.end();
    await done;
    await driver.query(`update ${S}.chain_head set seq = $1, hash = $2 where id = 1`, [seq, hash]);
    const rate = (seq - from) / ((performance.now() - started) / 1000);
    process.stderr.write(`  loaded ${seq.toLocaleString("en")} / ${TOTAL.toLocaleString("en")} events (${Math.round(rate).toLocaleString("en")}/s)\n`);
  }
  void store;
  return true;
}

async function finish(driver: ReturnType<typeof postgresDriver>, loaded: boolean): Promise<void> {
  const defs = await driver.query<{ name: string; def: string }>(`select name, def from ${S}.bench_indexes`).catch(() => []);
  for (const { name, def } of defs) {
    const [exists] = await driver.query(`select 1 from pg_indexes where schemaname = $1 and indexname = $2`, [SCHEMA, name]);
    if (exists) continue;
    process.stderr.write(`  building index ${name}\n`);
    await driver.query(`set maintenance_work_mem = '512MB'`);
    await driver.query(def);
  }
  const [rollups] = await driver.query<{ n: string }>(`select least((select count(*) from ${S}.agg_minute), (select count(*) from ${S}.agg_policy_hour)) n`);
  if (loaded || Number(rollups!.n) === 0) {
    process.stderr.write("  rebuilding roll-ups\n");
    await driver.transaction(async (tx) => {
      await tx.query(`set local work_mem = '256MB'`);
      for (const statement of rebuildAllStatements(S)) await tx.query(statement);
    });
    process.stderr.write("  analysing\n");
    await driver.query(`vacuum analyze ${S}.events`);
  }
  // Roll-up rows of one hour sit together when appends write them; a bulk rebuild (or a backfilling migration)
  // scatters them. Cluster on the key to get the layout a running gateway produces, and give them statistics.
  for (const table of ["agg_minute", "agg_hour", "agg_latency_minute", "agg_latency_5min", "agg_latency_hour", "agg_principal_hour", "agg_principal_day", "agg_category_hour", "agg_fault_hour", "agg_signal_hour", "agg_policy_hour"]) {
    await driver.query(`cluster ${S}.${table} using ${table}_pkey`);
    await driver.query(`analyze ${S}.${table}`);
  }
}

// ---------------------------------------------------------------------------
// Timing

interface Row {
  readonly query: string;
  readonly p50: number;
  readonly p95: number;
  readonly result: string;
}

async function time(name: string, fn: () => Promise<unknown>, describe: (value: never) => string, runs = RUNS): Promise<Row> {
  let value = await fn(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    value = await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const pick = (p: number): number => times[Math.min(times.length - 1, Math.ceil(p * times.length) - 1)]!;
  return { query: name, p50: pick(0.5), p95: pick(0.95), result: describe(value as never) };
}

async function main(): Promise<void> {
  const driver = postgresDriver(URL_, () => undefined);
  const store = new SqlEventStore(driver, SCHEMA, "bench");
  await store.init();
  process.stderr.write(`store-scale: ${TOTAL.toLocaleString("en")} events in schema ${SCHEMA}\n`);
  const loaded = await load(store, driver);
  await finish(driver, loaded);
  const [{ n }] = (await driver.query<{ n: string }>(`select count(*) n from ${S}.events`)) as [{ n: string }];
  const [{ size }] = (await driver.query<{ size: string }>(`select pg_size_pretty(pg_total_relation_size('${S}.events')) size`)) as [{ size: string }];
  // "Now" is the end of the generated month, 17 minutes past an hour so windows have ragged edges.
  const now = END - 43 * 60_000;
  const ago = (ms: number): string => new Date(now - ms).toISOString();
  const until = new Date(now).toISOString();
  const H = 3_600_000;
  const D = 24 * H;
  const buckets = (value: Array<{ total: number }>): string => `${value.length} buckets, ${value.reduce((s, b) => s + b.total, 0).toLocaleString("en")} decisions`;
  const rows: Row[] = [];
  rows.push(await time("decisions over time, last hour, 1 min buckets", () => store.decisionSeries({ since: ago(H), until, bucketSeconds: 60 }), buckets));
  rows.push(await time("decisions over time, last 24 h, 5 min buckets", () => store.decisionSeries({ since: ago(D), until, bucketSeconds: 300 }), buckets));
  rows.push(await time("decisions over time, last 7 days, 1 h buckets", () => store.decisionSeries({ since: ago(7 * D), until, bucketSeconds: 3600 }), buckets));
  rows.push(await time("decisions over time, 30 days, 6 h buckets", () => store.decisionSeries({ since: ago(30 * D), until, bucketSeconds: 21_600 }), buckets));
  const top = (value: Array<{ principal: string; decisions: number }>): string => `${value[0]?.principal}: ${value[0]?.decisions.toLocaleString("en")}`;
  rows.push(await time("top principals, last 24 h", () => store.topPrincipals({ since: ago(D), until, limit: 10 }), top));
  rows.push(await time("top principals by blocks, last 7 days", () => store.topPrincipals({ since: ago(7 * D), until, limit: 10, by: "blocks" }), top));
  rows.push(await time("top principals, 30 days", () => store.topPrincipals({ since: ago(30 * D), until, limit: 10 }), top));
  const cats = (value: Array<{ category: string; decisions: number }>): string => `${value.length} categories`;
  rows.push(await time("counts by category, last 24 h", () => store.categoryCounts({ since: ago(D), until }), cats));
  rows.push(await time("counts by category, 30 days", () => store.categoryCounts({ since: ago(30 * D), until }), cats));
  rows.push(
    await time("degraded decisions by layer, 7 days", () => store.containment({ since: ago(7 * D), until }), (value: { degraded: number; byLayer: unknown[] }) => `${value.degraded} degraded, ${value.byLayer.length} layer faults`),
  );
  rows.push(await time("policy versions, 30 days", () => store.policyVersions({ since: ago(30 * D), until }), (value: unknown[]) => `${value.length} versions`));
  rows.push(await time("latency percentiles, 7 days", () => store.latency({ since: ago(7 * D), until }), (value: { p95: number } | null) => `p95 ${value?.p95} us`));
  rows.push(await time("signal counts by type, 7 days", () => store.signalCounts({ since: ago(7 * D), until }), (value: unknown[]) => `${value.length} types`));
  const page = (value: { events: unknown[]; nextBeforeSeq: number | null }): string => `${value.events.length} events${value.nextBeforeSeq ? ", more" : ""}`;
  rows.push(await time("recent events, newest page", () => store.searchEvents({ limit: 50 }), page));
  rows.push(await time("recent events, one principal", () => store.searchEvents({ principal: "principal-1500", limit: 50 }), page));
  rows.push(await time("recent events, blocks in the last 24 h", () => store.searchEvents({ action: "block", since: ago(D), until, limit: 50 }), page));
  rows.push(await time("recent events, category canary_leak", () => store.searchEvents({ category: "canary_leak", limit: 50 }), page));
  rows.push(await time("recent events, principal + category + 7 days", () => store.searchEvents({ principal: "principal-0000", category: "jailbreak", since: ago(7 * D), until, limit: 50 }), page));
  rows.push(await time("recent events, signals anomaly.*", () => store.searchEvents({ kind: "signal", type: "anomaly.", limit: 50 }), page));
  rows.push(await time("recent events, page 100 deep (beforeSeq)", () => store.searchEvents({ beforeSeq: TOTAL - 5_000, limit: 50 }), page));
  // Not dashboard queries: the monitor's drift baseline, read once an hour (src/monitor/drift.ts); no 200 ms target.
  const monitorRows: Row[] = [];
  monitorRows.push(await time("drift baseline: score histograms, 7 days", () => store.distribution({ since: ago(7 * D + H), until: ago(H), metric: "score" }), (value: unknown[]) => `${value.length} rows`, 3));
  monitorRows.push(await time("drift window: score histograms, last hour", () => store.distribution({ since: ago(H), until, metric: "score" }), (value: unknown[]) => `${value.length} rows`));
  monitorRows.push(await time("drift baseline: script and block mix, 7 days", () => store.mix({ since: ago(7 * D + H), until: ago(H) }), (value: unknown[]) => `${value.length} rows`, 3));
  await store.close();

  const width = Math.max(...[...rows, ...monitorRows].map((r) => r.query.length));
  console.log(`\nEvent store at scale: ${Number(n).toLocaleString("en")} events (events table ${size}), PostgreSQL, schema ${SCHEMA}; ${RUNS} runs after a warm-up\n`);
  console.log(`${"query".padEnd(width)}  ${"p50 ms".padStart(8)}  ${"p95 ms".padStart(8)}  within 200 ms  result`);
  for (const row of rows) {
    console.log(`${row.query.padEnd(width)}  ${row.p50.toFixed(1).padStart(8)}  ${row.p95.toFixed(1).padStart(8)}  ${(row.p95 <= 200 ? "yes" : "NO").padEnd(13)}  ${row.result}`);
  }
  console.log("\nmonitor (hourly, no target):");
  for (const row of monitorRows) console.log(`${row.query.padEnd(width)}  ${row.p50.toFixed(1).padStart(8)}  ${row.p95.toFixed(1).padStart(8)}  ${"".padEnd(13)}  ${row.result}`);
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ events: Number(n), schema: SCHEMA, runs: RUNS, rows, monitorRows }, null, 2));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
