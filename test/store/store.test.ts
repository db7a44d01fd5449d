/**
 * One suite, run against every SQL backend: embedded PGlite and a real
 * PostgreSQL server (BULWARK_TEST_POSTGRES_URL; skipped with a notice when unset).
 * Same schema, same migrations, same chain.
 */
import { rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pgliteDriver } from "../../src/store/pglite.js";
import { postgresDriver } from "../../src/store/postgres.js";
import { rebuildAllStatements } from "../../src/store/sql-aggregates.js";
import { MIGRATIONS, SqlEventStore, type SqlDriver } from "../../src/store/sql.js";
import { WorkerEventStore } from "../../src/store/worker.js";
import { sortableId } from "../../src/util/sortable-id.js";
import type { AuditEvent, DecisionEvent, SignalEvent } from "../../src/store/types.js";
import { POSTGRES_URL, decision, pgliteDataDir, uniqueSchema } from "./fixtures.js";

interface Backend {
  readonly name: string;
  readonly skip: boolean;
  /** A fresh, initialised store plus raw SQL access to its tables, for tampering. */
  open(): Promise<{
    store: SqlEventStore;
    schema: string;
    exec(sql: string): Promise<void>;
    query<Row extends object>(sql: string): Promise<Row[]>;
    second?: () => Promise<SqlEventStore>;
  }>;
}

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
}, 60_000);

// One embedded database for the suite (opening one costs seconds); each test gets its own schema in it.
let sharedPglite: Promise<{ driver: SqlDriver; dir: string }> | undefined;
const pglite = (): Promise<{ driver: SqlDriver; dir: string }> =>
  (sharedPglite ??= (async () => {
    const dir = await pgliteDataDir();
    const driver = await pgliteDriver(dir);
    cleanups.push(async () => {
      await driver.close();
      rmSync(dirname(dir), { recursive: true, force: true });
    });
    return { driver, dir };
  })());

const backends: Backend[] = [
  {
    name: "embedded PGlite",
    skip: false,
    async open() {
      const { driver, dir } = await pglite();
      const schema = uniqueSchema();
      const store = new SqlEventStore(driver, schema, `pglite:${dir}`);
      await store.init();
      return { store, schema, exec: async (sql) => void (await driver.query(sql)), query: (sql) => driver.query(sql) };
    },
  },
  {
    name: "PostgreSQL",
    skip: !POSTGRES_URL,
    async open() {
      const schema = uniqueSchema();
      const driver: SqlDriver = postgresDriver(POSTGRES_URL!, () => undefined);
      const store = new SqlEventStore(driver, schema, "postgres");
      await store.init();
      const extra: SqlEventStore[] = [];
      cleanups.push(async () => {
        for (const other of extra) await other.close();
        await driver.query(`drop schema if exists "${schema}" cascade`);
        await store.close();
      });
      return {
        store,
        schema,
        exec: async (sql) => void (await driver.query(sql)),
        query: (sql) => driver.query(sql),
        // A second gateway replica writing to the same database.
        second: async () => {
          const other = new SqlEventStore(postgresDriver(POSTGRES_URL!, () => undefined), schema, "postgres");
          await other.init();
          extra.push(other);
          return other;
        },
      };
    },
  },
];

for (const backend of backends) {
  describe.skipIf(backend.skip)(`event store on ${backend.name}`, () => {
    // Creating the embedded template cluster on a machine's first run takes a while (initdb in WebAssembly).
    beforeAll(() => backend.open().then(() => undefined), 180_000);

    it("applies its migrations once, however often it starts", async () => {
      const { store, schema, exec } = await backend.open();
      await store.init();
      await store.init();
      expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, index) => index + 1));
      // Every version is recorded as applied (a second record of one violates the key), and a later one is not.
      for (const { version } of MIGRATIONS) await expect(exec(`insert into "${schema}".migrations (version, name) values (${version}, 'again')`)).rejects.toThrow();
      await exec(`insert into "${schema}".migrations (version, name) values (999, 'probe')`);
      expect(await store.verify()).toMatchObject({ ok: true, events: 0, headSeq: 0 });
    });

    it("appends events in order, reads them back newest first, filters, and finds one by id", async () => {
      const { store } = await backend.open();
      const events = Array.from({ length: 30 }, () => decision());
      await store.append(events.slice(0, 10));
      await store.append(events.slice(10));
      const all = await store.list({ limit: 1000 });
      expect(all.map((e) => e.event.id)).toEqual(events.map((e) => e.id).reverse());
      expect(all.map((e) => e.seq)).toEqual(Array.from({ length: 30 }, (_, i) => 30 - i));
      expect(all[0]!.event).toEqual(events[29]); // stored exactly, unicode and quotes included
      const blocked = await store.list({ action: "block" });
      expect(blocked.length).toBe(events.filter((e) => e.action === "block").length);
      const page = await store.list({ limit: 5, beforeSeq: 11 });
      expect(page.map((e) => e.seq)).toEqual([10, 9, 8, 7, 6]);
      expect((await store.get(events[3]!.id))?.seq).toBe(4);
      expect(await store.get("no-such-id")).toBeNull();
    });

    it("indexes signal events by type and principal, and filters by an exact type or a dotted prefix", async () => {
      const { store } = await backend.open();
      const signal = (type: string, principal?: string): SignalEvent => ({
        kind: "signal",
        id: sortableId(),
        time: new Date().toISOString(),
        type,
        severity: "medium",
        ...(principal ? { principal } : {}),
        summary: `${type} for ${principal ?? "nobody"}`,
        detail: { z: 3.5, window: "1m", note: null },
      });
      const events = [signal("anomaly.rate", "alice"), decision(), signal("anomaly.extraction", "bob"), signal("quarantine.added", "bob"), signal("anomaly_rate")];
      await store.append(events);
      expect((await store.list({ type: "anomaly." })).map((e) => e.event.id)).toEqual([events[2]!.id, events[0]!.id]);
      expect((await store.list({ type: "quarantine.added" })).map((e) => e.event)).toEqual([events[3]]);
      expect((await store.list({ kind: "signal", principal: "bob" })).length).toBe(2);
      expect((await store.list({ type: "anomaly_" })).length).toBe(0); // an underscore is not a wildcard
      expect(await store.verify()).toMatchObject({ ok: true, events: 5 });
    });

    it("stores text with tabs, newlines, backslashes, quotes, braces, NULL-like words and any Unicode exactly, in the payload and in the columns", async () => {
      const { store, schema, query } = await backend.open();
      const events = awkwardEvents();
      await store.append(events.slice(0, 3));
      await store.append(events.slice(3));
      expect(await store.verify()).toMatchObject({ ok: true, events: events.length });
      for (const event of events) expect((await store.get(event.id))?.event).toEqual(event);
      const rows = await query<Record<string, unknown>>(`select id, principal, route, categories, faults, text_length, script, severity from "${schema}".events order by seq`);
      expect(rows.map((row) => row.id)).toEqual(events.map((event) => event.id));
      const [first, , , , signal] = rows;
      expect(first).toMatchObject({ principal: AWKWARD, route: "/v1/chat\ncompletions\\", categories: AWKWARD_WORDS, faults: [`${AWKWARD}:error`], text_length: null, script: null });
      expect(signal).toMatchObject({ principal: null, severity: "high" });
      expect((await store.categoryCounts({ since: "2024-12-31T00:00:00Z", until: "2025-01-02T00:00:00Z" })).map((row) => row.category).sort()).toEqual([...AWKWARD_WORDS].sort());
    });

    it("keeps the roll-ups of a batch too large for one statement's parameters exactly as a rebuild from the events makes them", async () => {
      const { store, schema, exec, query } = await backend.open();
      const s = `"${schema}"`;
      // 4 600 principals over two hours: the hourly and daily principal roll-ups need 32 200 parameters each.
      const start = Date.UTC(2025, 5, 1, 9, 30);
      const events = Array.from({ length: 4600 }, (_, i) =>
        decision({ principal: `p${i}`, time: new Date(start + i * 1500).toISOString(), categories: i % 3 ? [] : [`c${i % 700}`], degraded: i % 11 === 0, action: i % 4 ? "allow" : "block" }),
      );
      await store.append(events);
      expect(await store.verify()).toMatchObject({ ok: true, events: 4600 });
      const rollups = ["agg_minute", "agg_hour", "agg_latency_minute", "agg_latency_hour", "agg_latency_5min", "agg_principal_hour", "agg_principal_day", "agg_category_hour", "agg_fault_hour", "agg_policy_hour"];
      const read = async (): Promise<Record<string, unknown[]>> =>
        Object.fromEntries(await Promise.all(rollups.map(async (table) => [table, await query(`select * from ${s}.${table} order by 1, 2, 3, 4`)] as const)));
      const appended = await read();
      expect(appended.agg_principal_hour!.length).toBe(4600);
      for (const statement of rebuildAllStatements(s)) await exec(statement);
      expect(await read()).toEqual(appended);
    });

    it("skips events already stored, so a retried batch neither duplicates nor forks the chain", async () => {
      const { store } = await backend.open();
      const events = Array.from({ length: 6 }, () => decision());
      await store.append(events.slice(0, 4));
      await store.append(events); // the first four again, as after a lost commit acknowledgement
      expect((await store.list({ limit: 100 })).length).toBe(6);
      expect(await store.verify()).toMatchObject({ ok: true, events: 6 });
    });

    it("verifies a long chain across pages, and concurrent appends still form one chain", async () => {
      const { store, second } = await backend.open();
      const writers = [store, second ? await second() : store];
      await Promise.all(Array.from({ length: 6 }, (_, i) => writers[i % 2]!.append(Array.from({ length: 200 }, () => decision()))));
      expect(await store.verify()).toMatchObject({ ok: true, events: 1200, headSeq: 1200 });
    });

    describe("detects tampering", () => {
      const tampered = async (change: (schema: string) => string, expectedBadSeq: number, reason: RegExp) => {
        const { store, schema, exec } = await backend.open();
        await store.append(Array.from({ length: 8 }, () => decision()));
        expect((await store.verify()).ok).toBe(true);
        await exec(change(`"${schema}"`));
        const result = await store.verify();
        expect(result.ok).toBe(false);
        expect(result.firstBadSeq).toBe(expectedBadSeq);
        expect(result.reason).toMatch(reason);
      };

      it("an edited event", () =>
        tampered((s) => `update ${s}.events set payload = replace(payload, '"excerpt":"message', '"excerpt":"massage') where seq = 3`, 3, /hash does not match/));
      it("a removed event", () => tampered((s) => `delete from ${s}.events where seq = 5`, 6, /removed or inserted/));
      it("removed newest events", () => tampered((s) => `delete from ${s}.events where seq >= 7`, 7, /removed from the end/));
      it("a replaced hash", () =>
        tampered((s) => `update ${s}.events set hash = md5(hash) || md5(hash) where seq = 8`, 8, /hash does not match/));
      it("an indexed column that no longer matches its payload", () => tampered((s) => `update ${s}.events set id = 'forged' where seq = 2`, 2, /columns do not match/));
    });

    it("stores keys and their revocation", async () => {
      const { store } = await backend.open();
      await store.putKey({ id: "k1", principal: "alice", hash: "sha256:" + "a".repeat(64), createdAt: "2025-01-01T00:00:00.000Z", revoked: false });
      await store.putKey({ id: "k1", principal: "alice", hash: "sha256:" + "a".repeat(64), createdAt: "2025-01-01T00:00:00.000Z", revoked: true });
      await store.putKey({ id: "k1", principal: "alice", hash: "sha256:" + "a".repeat(64), createdAt: "2025-01-01T00:00:00.000Z", revoked: false });
      expect(await store.listKeys()).toEqual([{ id: "k1", principal: "alice", hash: "sha256:" + "a".repeat(64), createdAt: "2025-01-01T00:00:00.000Z", revoked: true }]);
    });
  });
}

/** Text COPY's format and array literals give a meaning to: tab, newline, carriage return, backslash, \\N, braces, quotes, commas. */
const AWKWARD = 'tab\there\nnew\r\nline \\ back \\N \\. "q" {a,b} NULL ✓ 漢字 😀';
const AWKWARD_WORDS = ["a,b", "{brace}", 'quote"d', "back\\slash", "NULL", "", "tab\tnl\n", "\\N", " spaced ", "ünï€😀", AWKWARD];

function awkwardEvents(): AuditEvent[] {
  const odd = decision({
    principal: AWKWARD,
    route: "/v1/chat\ncompletions\\",
    model: "m\r\n",
    action: "block",
    categories: AWKWARD_WORDS,
    layers: [{ name: AWKWARD, status: "error", durationUs: 3 }],
    findings: [{ detector: "d\t", category: "c\\", score: 1e-7, action: "block", ruleId: "\\N" }],
    excerpt: AWKWARD,
    score: 1e-7,
    latencyUs: 0,
    policyName: AWKWARD,
  });
  const { textLength: _length, script: _script, ...withoutOptional } = odd;
  const signal: SignalEvent = { kind: "signal", id: sortableId(), time: odd.time, type: "anomaly.\\N", severity: "high", summary: AWKWARD, detail: { note: null, [AWKWARD]: AWKWARD, n: -0.5 } };
  return [
    withoutOptional,
    decision({ categories: [], excerpt: "", degraded: true, layers: [{ name: "classifier", status: "timeout", durationUs: 1 }] }),
    { kind: "admin", id: sortableId(), time: odd.time, principal: "admin\t1", route: "/admin/keys", operation: "key.created", detail: { key: AWKWARD, ok: true, count: 2, none: null } },
    { kind: "gap", id: sortableId(), time: odd.time, dropped: 3, firstDroppedAt: odd.time, lastDroppedAt: odd.time },
    signal,
    decision({ excerpt: "\\", principal: "\\N", textLength: 12, script: "han" }),
  ];
}

describe("embedded store: COPY (its append path) and INSERT (the PostgreSQL path)", () => {
  it("store the same rows, roll-ups and chain", async () => {
    const { driver } = await pglite();
    // The same driver without copyFrom: the store falls back to INSERT, as on PostgreSQL.
    const insertOnly: SqlDriver = {
      dialect: driver.dialect,
      query: (text, params) => driver.query(text, params),
      transaction: (fn) => driver.transaction((tx) => fn({ query: (text, params) => tx.query(text, params) })),
      close: () => driver.close(),
    };
    const events = [...awkwardEvents(), ...Array.from({ length: 300 }, () => decision()), ...awkwardEvents()];
    const tables = ["events", "chain_head", "agg_minute", "agg_hour", "agg_latency_minute", "agg_latency_hour", "agg_latency_5min", "agg_principal_hour", "agg_principal_day", "agg_category_hour", "agg_fault_hour", "agg_signal_hour", "agg_policy_hour"];
    const contents: Array<Record<string, unknown[]>> = [];
    for (const through of [driver, insertOnly]) {
      const schema = uniqueSchema();
      const store = new SqlEventStore(through, schema, "pglite");
      await store.init();
      await store.append(events.slice(0, 5));
      await store.append(events.slice(5, 250));
      await store.append(events.slice(200)); // overlapping: the stored ones are skipped
      expect(await store.verify()).toMatchObject({ ok: true, events: events.length });
      const content: Record<string, unknown[]> = {};
      for (const table of tables) content[table] = await driver.query(`select * from "${schema}".${table} order by 1, 2, 3`);
      contents.push(content);
    }
    expect(contents[0]!.events!.length).toBe(events.length);
    expect(contents[0]).toEqual(contents[1]);
  });
});

describe("embedded store in its worker thread", () => {
  it("serves appends, reads, verification and keys through the worker, refuses a second opener, and reopens its data", async () => {
    const dir = await pgliteDataDir();
    cleanups.push(async () => rmSync(dirname(dir), { recursive: true, force: true }));
    const store = new WorkerEventStore(dir, "bulwark", `pglite:${dir}`);
    await store.init();
    const events: AuditEvent[] = [...Array.from({ length: 44 }, () => decision()), ...awkwardEvents()];
    await store.append(events);
    await store.append(events.slice(40)); // stored already: skipped
    expect((await store.list({ limit: 1 }))[0]!.event.id).toBe(events[49]!.id);
    expect(await store.verify()).toMatchObject({ ok: true, events: 50 });
    // Handed to the worker as payload text: stored as the event, awkward text included.
    for (const event of events.slice(40)) expect((await store.get(event.id))?.event).toEqual(event);
    await store.close();
    // While another live process holds the directory, opening it is refused (PGlite is single-process).
    writeFileSync(`${dir}.lock`, String(process.ppid));
    await expect(pgliteDriver(dir)).rejects.toThrow(/in use by process/);
    rmSync(`${dir}.lock`);
    const reopened = new SqlEventStore(await pgliteDriver(dir), "bulwark", "reopened");
    await reopened.init();
    expect(await reopened.verify()).toMatchObject({ ok: true, events: 50 });
    expect(((await reopened.get(events[0]!.id))?.event as DecisionEvent).excerpt).toBe((events[0] as DecisionEvent).excerpt);
    await reopened.close();
  });
});

describe.skipIf(!POSTGRES_URL)("PostgreSQL connection problems", () => {
  it("reports an unreachable server as a failed call, not a crash", async () => {
    const store = new SqlEventStore(postgresDriver("postgres://postgres@127.0.0.1:9/none", () => undefined), "bulwark", "postgres");
    await expect(store.init()).rejects.toThrow();
    await store.close();
  });
});
