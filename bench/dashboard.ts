/**
 * The dashboard's endpoints end to end over HTTP, on the 10-million-event
 * PostgreSQL schema that `npm run bench:store` builds (run that first): a
 * real gateway with that store, the page's own requests (overview over 1 hour
 * to 30 days, decisions with and without filters, signals), each timed as the
 * browser sees it: authentication, every store query, JSON.
 *
 *   npm run bench:dashboard [-- --runs N] [-- --json out.json]
 *
 * Database: BULWARK_BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test),
 * schema BULWARK_BENCH_SCHEMA (default bulwark_bench_10m). The schema is only read:
 * the gateway gets the store without init(), so no migration runs on it.
 * Target: the page's requests answer within 200 ms (issue 9).
 */
import { writeFileSync } from "node:fs";
import { pino } from "pino";
import { resolveConfig } from "../src/gateway/config.js";
import { generateKey, hashKey } from "../src/gateway/identity.js";
import { createGateway } from "../src/gateway/server.js";
import { postgresDriver } from "../src/store/postgres.js";
import { MIGRATIONS, SqlEventStore } from "../src/store/sql.js";
import { machine, summarize, table } from "./lib.js";

const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? args[index + 1] : undefined;
};
const RUNS = Number(option("runs") ?? 9);
const JSON_OUT = option("json");
const URL_ = process.env.BULWARK_BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const SCHEMA = process.env.BULWARK_BENCH_SCHEMA ?? "bulwark_bench_10m";
const TARGET_MS = 200;
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`--runs must be a positive integer, got ${option("runs")}`);

const driver = postgresDriver(URL_, (error) => process.stderr.write(`postgres: ${error.message}\n`));
const [head] = await driver.query<{ seq: string }>(`select seq from "${SCHEMA}".chain_head where id = 1`).catch((error: Error) => {
  throw new Error(`bench:dashboard needs the schema ${SCHEMA} from \`npm run bench:store\` in ${URL_}: ${error.message}`);
});
// The store's queries need its current migrations; bench:store applies them (store.init()) to the schema it reuses.
const applied = new Set((await driver.query<{ version: number }>(`select version from "${SCHEMA}".migrations`)).map((row) => Number(row.version)));
const missing = MIGRATIONS.filter((migration) => !applied.has(migration.version)).map((migration) => `${migration.version} (${migration.name})`);
if (missing.length > 0) throw new Error(`the schema ${SCHEMA} lacks the store's migrations ${missing.join(", ")}: run npm run bench:store, which applies them, first`);
const store = new SqlEventStore(driver, SCHEMA, `postgres (${SCHEMA})`);
const newest = (await store.searchEvents({ kind: "decision", limit: 1 })).events[0];
if (!head || !newest) throw new Error(`the schema ${SCHEMA} holds no decisions: run npm run bench:store first`);
const events = Number(head.seq);
const end = Date.parse(newest.event.time);
const top = (await store.topPrincipals({ since: new Date(end - 7 * 86_400_000).toISOString(), until: new Date(end).toISOString(), limit: 1 }))[0]?.principal ?? "";

const adminKey = generateKey();
const loaded = resolveConfig(
  { version: 1, listen: { host: "127.0.0.1", port: 0 }, upstream: { url: "http://127.0.0.1:9/v1" }, admin: { keys: [{ id: "bench", hash: hashKey(adminKey) }] }, log: { level: "silent", requests: false } },
  "bench",
  process.cwd(),
);
// The monitor loop off (an hour between runs, no drift, no objectives): it would query the same tables during the
// timings, and record its findings as events in the benchmark's schema.
const gateway = await createGateway({ loaded, store, logger: pino({ level: "silent" }), defaultPolicy: { version: 1, monitor: { intervalSeconds: 3600, drift: { enabled: false }, objectives: [] } } });
const base = await gateway.listen(0);

const window = (hours: number): string => `since=${new Date(end - hours * 3_600_000).toISOString()}&until=${new Date(end).toISOString()}`;
const requests: Array<[string, string]> = [
  ["overview, last hour (60 buckets)", `/admin/dashboard/overview?${window(1)}`],
  ["overview, last 24 hours", `/admin/dashboard/overview?${window(24)}`],
  ["overview, last 7 days", `/admin/dashboard/overview?${window(24 * 7)}`],
  ["overview, last 30 days", `/admin/dashboard/overview?${window(24 * 30)}`],
  ["decisions, last hour, newest 50", `/admin/dashboard/decisions?${window(1)}&limit=50`],
  [`decisions, 7 days, principal ${top} and blocks`, `/admin/dashboard/decisions?${window(24 * 7)}&principal=${encodeURIComponent(top)}&action=block&limit=50`],
  ["decisions, 30 days, category jailbreak", `/admin/dashboard/decisions?${window(24 * 30)}&category=jailbreak&limit=50`],
  ["signals, anomalies, limits, drift (the page's list)", `/admin/dashboard/signals?type=anomaly.,quarantine.,limit.,drift.,slo.,tool.&limit=30`],
  ["status", "/admin/dashboard/status"],
];

process.stderr.write(`bench:dashboard: ${events.toLocaleString("en")} events in ${SCHEMA}, up to ${new Date(end).toISOString()}; ${RUNS} runs per request after one warm-up\n`);
const rows: Array<{ request: string; path: string; p50: number; p95: number; max: number; bytes: number }> = [];
for (const [name, path] of requests) {
  const call = async (): Promise<number> => {
    const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${adminKey}` } });
    const body = await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`${path} answered ${response.status}: ${Buffer.from(body).toString("utf8").slice(0, 300)}`);
    return body.byteLength;
  };
  await call();
  const samples: number[] = [];
  let bytes = 0;
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    bytes = await call();
    samples.push(performance.now() - started);
  }
  const sorted = [...samples].sort((a, b) => a - b);
  const p95 = sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)]!;
  rows.push({ request: name, path, p50: summarize(samples).p50, p95, max: sorted[sorted.length - 1]!, bytes });
}
await gateway.shutdown("bench done");

const ms = (value: number): string => value.toFixed(1);
console.log(`Dashboard endpoints over ${events.toLocaleString("en")} events (PostgreSQL, schema ${SCHEMA}); ${machine()}`);
console.log(
  table(
    ["request", "p50 ms", "p95 ms", "max ms", "response", `within ${TARGET_MS} ms`],
    rows.map((row) => [row.request, ms(row.p50), ms(row.p95), ms(row.max), `${(row.bytes / 1024).toFixed(1)} KiB`, row.p95 <= TARGET_MS ? "yes" : "NO"]),
  ),
);
if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ machine: machine(), events, schema: SCHEMA, runs: RUNS, targetMs: TARGET_MS, rows }, null, 2));
