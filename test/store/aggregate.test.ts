/**
 * The aggregate queries on every store: memory (scanning), embedded PGlite and
 * PostgreSQL (roll-ups plus raw edges). One generated set of events, answers
 * checked against counts computed here, and the stores against each other.
 */
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LATENCY_BOUNDS, binOf, percentilesOf, type EventAggregates } from "../../src/store/aggregates.js";
import { MemoryEventStore } from "../../src/store/memory.js";
import { pgliteDriver } from "../../src/store/pglite.js";
import { postgresDriver } from "../../src/store/postgres.js";
import { AGGREGATE_MIGRATION, rebuildAllStatements } from "../../src/store/sql-aggregates.js";
import { SqlEventStore, type SqlDriver } from "../../src/store/sql.js";
import type { AuditEvent, DecisionEvent, EventStore, SignalEvent } from "../../src/store/types.js";
import { sortableId } from "../../src/util/sortable-id.js";
import { POSTGRES_URL, decision, pgliteDataDir, uniqueSchema } from "./fixtures.js";

const T0 = Date.UTC(2025, 2, 1, 10, 0, 0);
const at = (minutes: number): string => new Date(T0 + minutes * 60_000).toISOString();

/** 600 decisions over 5 hours (one every 30 s), 3 principals, some degraded, some signals. Deterministic. */
function events(): AuditEvent[] {
  const out: AuditEvent[] = [];
  for (let i = 0; i < 600; i++) {
    const principal = ["alice", "bob", "carol"][i % 3 === 0 ? 0 : i % 5 === 0 ? 2 : 1]!;
    const action: DecisionEvent["action"] = i % 10 === 0 ? "block" : i % 7 === 0 ? "flag" : i % 13 === 0 ? "redact" : "allow";
    const categories = action === "block" ? (i % 20 === 0 ? ["prompt_injection", "jailbreak"] : ["prompt_injection"]) : action === "redact" ? ["pii"] : [];
    const degraded = i % 50 === 7;
    out.push(
      decision({
        time: new Date(T0 + i * 30_000 + 1_000).toISOString(),
        principal,
        route: i % 4 === 0 ? "/v1/embeddings" : "/v1/chat/completions",
        stage: i % 6 === 5 ? "output" : "input",
        action,
        categories,
        score: action === "allow" ? 0.05 : 0.9,
        latencyUs: 100 + (i % 17) * 37,
        degraded,
        layers: [
          { name: "heuristics", status: "ok", durationUs: 10 },
          { name: "classifier", status: degraded ? (i % 100 === 7 ? "timeout" : "error") : "ok", durationUs: 90 },
        ],
        textLength: 10 + i,
        script: i % 9 === 0 ? "cyrillic" : "latin",
        // The policy was reloaded at 12:00.
        ...(i >= 240 ? { policyName: "strict", policyHash: "sha256:bbb" } : { policyName: "default", policyHash: "sha256:aaa" }),
      }),
    );
    if (i % 60 === 0) out.push(signal(i % 120 === 0 ? "anomaly.rate" : "drift.score", new Date(T0 + i * 30_000 + 2_000).toISOString()));
  }
  return out;
}

function signal(type: string, time: string): SignalEvent {
  return { kind: "signal", id: sortableId(), time, type, severity: type.startsWith("drift") ? "medium" : "high", principal: "bob", summary: type, detail: {} };
}

const generated = events();
const decisions = generated.filter((e): e is DecisionEvent => e.kind === "decision");

interface Backend {
  readonly name: string;
  readonly skip: boolean;
  open(): Promise<{ store: EventStore; exec?: (sql: string) => Promise<void>; schema?: string }>;
}

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
}, 60_000);

let sharedPglite: Promise<SqlDriver> | undefined;
const backends: Backend[] = [
  {
    name: "memory",
    skip: false,
    async open() {
      return { store: new MemoryEventStore() };
    },
  },
  {
    name: "embedded PGlite",
    skip: false,
    async open() {
      sharedPglite ??= (async () => {
        const dir = await pgliteDataDir();
        const driver = await pgliteDriver(dir);
        cleanups.push(async () => {
          await driver.close();
          rmSync(dirname(dir), { recursive: true, force: true });
        });
        return driver;
      })();
      const driver = await sharedPglite;
      const schema = uniqueSchema();
      const store = new SqlEventStore(driver, schema, "pglite");
      await store.init();
      return { store, schema, exec: async (sql) => void (await driver.query(sql)) };
    },
  },
  {
    name: "PostgreSQL",
    skip: !POSTGRES_URL,
    async open() {
      const schema = uniqueSchema();
      const driver = postgresDriver(POSTGRES_URL!, () => undefined);
      const store = new SqlEventStore(driver, schema, "postgres");
      await store.init();
      cleanups.push(async () => {
        await driver.query(`drop schema if exists "${schema}" cascade`);
        await store.close();
      });
      return { store, schema, exec: async (sql) => void (await driver.query(sql)) };
    },
  },
];

// The expected answers, computed from the generated events directly.
const inWindow = (e: { time: string }, since: string, until: string): boolean => e.time >= since && e.time < until;

async function answers(store: EventAggregates, since: string, until: string) {
  return {
    series: await store.decisionSeries({ since, until, bucketSeconds: 1800 }),
    top: await store.topPrincipals({ since, until, limit: 3 }),
    topBlocks: await store.topPrincipals({ since, until, by: "blocks", limit: 2 }),
    categories: await store.categoryCounts({ since, until }),
    containment: await store.containment({ since, until }),
    signals: await store.signalCounts({ since, until }),
    drift: await store.signalCounts({ since, until, type: "drift." }),
    scores: sortRows(await store.distribution({ since, until, metric: "score" })),
    lengths: sortRows(await store.distribution({ since, until, metric: "length" })),
    mix: sortRows(await store.mix({ since, until })),
    latency: await store.latency({ since, until }),
    policies: await store.policyVersions({ since, until }),
  };
}

const sortRows = <T extends object>(rows: T[]): T[] => rows.map((r) => JSON.stringify(r)).sort().map((r) => JSON.parse(r) as T);

for (const backend of backends) {
  describe.skipIf(backend.skip)(`aggregate queries on ${backend.name}`, () => {
    let store: EventStore;
    let exec: ((sql: string) => Promise<void>) | undefined;
    let schema: string | undefined;
    beforeAll(async () => {
      ({ store, exec, schema } = await backend.open());
      // Appended in uneven batches, as the writer does.
      for (let start = 0; start < generated.length; start += 97) await store.append(generated.slice(start, start + 97));
    }, 180_000);

    it("counts decisions over time by action, with block rate, degraded and latency percentiles per bucket", async () => {
      const since = at(0);
      const until = at(300);
      const series = await store.decisionSeries({ since, until, bucketSeconds: 3600 });
      expect(series.map((b) => b.start)).toEqual([0, 60, 120, 180, 240].map(at));
      for (const bucket of series) {
        const end = new Date(Date.parse(bucket.start) + 3_600_000).toISOString();
        const inBucket = decisions.filter((e) => inWindow(e, bucket.start, end));
        expect(bucket.total).toBe(inBucket.length);
        expect(bucket.block).toBe(inBucket.filter((e) => e.action === "block").length);
        expect(bucket.flag).toBe(inBucket.filter((e) => e.action === "flag").length);
        expect(bucket.degraded).toBe(inBucket.filter((e) => e.degraded).length);
        expect(bucket.blockRate).toBeCloseTo(bucket.block / bucket.total, 10);
        const histogram = new Map<number, number>();
        for (const e of inBucket) histogram.set(binOf(e.latencyUs, LATENCY_BOUNDS), (histogram.get(binOf(e.latencyUs, LATENCY_BOUNDS)) ?? 0) + 1);
        expect(bucket.latencyUs).toEqual(percentilesOf(histogram));
      }
      const sorted = decisions.map((e) => e.latencyUs).sort((a, b) => a - b);
      const [whole] = await store.decisionSeries({ since: at(0), until: at(1440), bucketSeconds: 86_400 });
      // The true p95 lies in the reported bin: at most one bin (9%) below the reported upper edge.
      const p95 = sorted[Math.ceil(0.95 * sorted.length) - 1]!;
      expect(whole!.latencyUs!.p95).toBeGreaterThan(p95);
      expect(whole!.latencyUs!.p95).toBeLessThanOrEqual(p95 * 1.1 + 1);
      // Empty buckets are present, zero-filled; stage filters.
      const later = await store.decisionSeries({ since: at(300), until: at(360), bucketSeconds: 600 });
      expect(later).toHaveLength(6);
      expect(later.every((b) => b.total === 0 && b.latencyUs === null)).toBe(true);
      const output = await store.decisionSeries({ since, until, bucketSeconds: 18_000, stage: "output" });
      expect(output.reduce((n, b) => n + b.total, 0)).toBe(decisions.filter((e) => e.stage === "output").length);
    });

    it("ranks principals, counts categories and signals, and measures containment over windows that cut hours", async () => {
      // 10:17 to 13:41: two ragged edges and whole hours between.
      const since = at(17);
      const until = at(221);
      const within = decisions.filter((e) => inWindow(e, since, until));
      const top = await store.topPrincipals({ since, until });
      const expected = ["alice", "bob", "carol"].map((principal) => {
        const mine = within.filter((e) => e.principal === principal);
        return { principal, decisions: mine.length, blocks: mine.filter((e) => e.action === "block").length };
      });
      expect(top.map((p) => ({ principal: p.principal, decisions: p.decisions, blocks: p.blocks }))).toEqual(expected.sort((a, b) => b.decisions - a.decisions));
      const categories = await store.categoryCounts({ since, until });
      expect(categories.find((c) => c.category === "prompt_injection")?.decisions).toBe(within.filter((e) => e.categories.includes("prompt_injection")).length);
      expect(categories.find((c) => c.category === "jailbreak")?.blocks).toBe(within.filter((e) => e.categories.includes("jailbreak")).length);
      const containment = await store.containment({ since, until });
      expect(containment.decisions).toBe(within.length);
      expect(containment.degraded).toBe(within.filter((e) => e.degraded).length);
      expect(containment.degraded).toBeGreaterThan(0);
      const timeouts = containment.byLayer.find((l) => l.layer === "classifier" && l.status === "timeout");
      expect(timeouts?.decisions).toBe(within.filter((e) => e.layers.some((l) => l.status === "timeout")).length);
      const signals = await store.signalCounts({ since, until });
      const inSignals = generated.filter((e): e is SignalEvent => e.kind === "signal" && inWindow(e, since, until));
      expect(signals.reduce((n, s) => n + s.count, 0)).toBe(inSignals.length);
      expect((await store.signalCounts({ since, until, type: "drift." })).every((s) => s.type === "drift.score" && s.severity === "medium")).toBe(true);
    });

    it("ranks principals over days: whole days from the daily roll-up, hours around them, minutes at the edges", async () => {
      // Three days of allowed decisions before the main set, every 7 minutes, for two other principals.
      const extra = Array.from({ length: (3 * 1440) / 7 }, (_, i) =>
        decision({ time: new Date(T0 - 3 * 86_400_000 + i * 7 * 60_000 + 5_000).toISOString(), principal: i % 3 ? "dora" : "eve", action: "allow", categories: [], degraded: false }),
      );
      const late = extra.filter((e) => e.time >= new Date(T0 - 3 * 86_400_000).toISOString());
      await store.append(late);
      const since = new Date(T0 - 3 * 86_400_000 + 17 * 60_000 + 30_000).toISOString(); // mid-minute, mid-hour, mid-day
      const until = at(-14 * 60 - 23); // the day before T0, 20:37
      const expected = ["dora", "eve"].map((principal) => ({ principal, decisions: late.filter((e) => e.principal === principal && inWindow(e, since, until)).length }));
      const top = await store.topPrincipals({ since, until });
      expect(top.map((p) => ({ principal: p.principal, decisions: p.decisions }))).toEqual(expected);
    });

    it("lists the policy versions that decided, the most recent first", async () => {
      const versions = await store.policyVersions({ since: at(17), until: at(221) });
      const count = (hash: string) => decisions.filter((e) => inWindow(e, at(17), at(221)) && e.policyHash === hash);
      expect(versions).toEqual([
        { policyName: "strict", policyHash: "sha256:bbb", decisions: count("sha256:bbb").length, firstSeen: count("sha256:bbb")[0]!.time, lastSeen: count("sha256:bbb").at(-1)!.time },
        { policyName: "default", policyHash: "sha256:aaa", decisions: count("sha256:aaa").length, firstSeen: count("sha256:aaa")[0]!.time, lastSeen: count("sha256:aaa").at(-1)!.time },
      ]);
    });

    it("searches events by principal, category, action, kind, type and time, and pages backwards", async () => {
      const since = at(30);
      const until = at(200);
      const wanted = decisions.filter((e) => inWindow(e, since, until) && e.principal === "alice" && e.categories.includes("prompt_injection")).reverse();
      const seen: string[] = [];
      let beforeSeq: number | undefined;
      for (let page = 0; page < 20; page++) {
        const result = await store.searchEvents({ since, until, principal: "alice", category: "prompt_injection", limit: 4, ...(beforeSeq ? { beforeSeq } : {}) });
        seen.push(...result.events.map((e) => e.event.id));
        if (result.nextBeforeSeq === null) break;
        beforeSeq = result.nextBeforeSeq;
      }
      expect(seen).toEqual(wanted.map((e) => e.id));
      const blocks = await store.searchEvents({ action: "block", limit: 500 });
      expect(blocks.events.length).toBe(decisions.filter((e) => e.action === "block").length);
      expect(blocks.nextBeforeSeq).toBeNull();
      const anomalies = await store.searchEvents({ kind: "signal", type: "anomaly." });
      expect(anomalies.events.map((e) => (e.event as SignalEvent).type)).toEqual(anomalies.events.map(() => "anomaly.rate"));
      const embeddings = await store.searchEvents({ route: "/v1/embeddings", limit: 1 });
      expect((embeddings.events[0]!.event as DecisionEvent).route).toBe("/v1/embeddings");
    });

    it("refuses bad queries with an error naming the field", async () => {
      await expect(store.decisionSeries({ since: "yesterday", until: at(1), bucketSeconds: 60 })).rejects.toThrow(/decisionSeries: since must be an ISO 8601 time/);
      await expect(store.decisionSeries({ since: at(0), until: at(1), bucketSeconds: 90 })).rejects.toThrow(/bucketSeconds must be a whole number of minutes/);
      await expect(store.decisionSeries({ since: at(0), until: at(100_000), bucketSeconds: 60 })).rejects.toThrow(/at most 2000/);
      await expect(store.topPrincipals({ since: at(5), until: at(1) })).rejects.toThrow(/until .* must be after since/);
      await expect(store.distribution({ since: at(0), until: at(1), metric: "colour" as "score" })).rejects.toThrow(/metric must be score or length/);
      // By name, so that it survives the worker store's message passing (the gateway answers 400 for it).
      await expect(store.categoryCounts({ since: at(0), until: "soon" })).rejects.toMatchObject({ name: "AggregateQueryError" });
    });

    it.skipIf(backend.name === "memory")("answers as the memory store does, and the migration's backfill rebuilds the same roll-ups", async () => {
      const memory = new MemoryEventStore();
      await memory.append(generated);
      for (const [since, until] of [
        [at(0), at(300)],
        [at(17), at(221)],
        [at(61), at(62)],
      ] as const) {
        expect(await answers(store, since, until)).toEqual(await answers(memory, since, until));
      }
      // Forget the columns and roll-ups, then backfill from the payloads as migration 4 does on an existing store.
      const s = `"${schema!}"`;
      await exec!(`update ${s}.events set route = null, stage = null, latency_us = null, degraded = null, score = null, categories = null, faults = null, severity = null, text_length = null, script = null`);
      const statements = AGGREGATE_MIGRATION.statements(s);
      for (const statement of statements.filter((sql) => sql.trimStart().startsWith("update"))) await exec!(statement);
      for (const statement of rebuildAllStatements(s)) await exec!(statement);
      expect(await answers(store, at(17), at(221))).toEqual(await answers(memory, at(17), at(221)));
      expect(await answers(store, at(0), at(300))).toEqual(await answers(memory, at(0), at(300)));
    });
  });
}
