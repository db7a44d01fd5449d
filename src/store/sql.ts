/**
 * The event store in SQL: one schema and one set of migrations for both the
 * embedded PGlite and a PostgreSQL server, through a driver interface small
 * enough that each driver is a few lines.
 *
 * Appends take the chain head row FOR UPDATE, so several gateway replicas
 * writing to one PostgreSQL database extend one chain without forking it.
 */
import { ChainVerifier, GENESIS_HASH, link } from "./chain.js";
import { copyRow } from "./copy.js";
import { indexedColumns } from "./columns.js";
import { AGGREGATE_COLUMNS, AGGREGATE_MIGRATION, POLICY_MIGRATION, SCALE_MIGRATION, SqlAggregates, aggregateColumns, rollupUpserts, upsertStatements, valuesList } from "./sql-aggregates.js";
import type { AuditEvent, EventQuery, EventStore, IncidentQuery, IncidentRow, StoredEvent, StoredKey, VerifyResult } from "./types.js";

export interface SqlClient {
  query<Row extends object>(text: string, params?: readonly unknown[]): Promise<Row[]>;
  /**
   * Loads rows with COPY: `target` is `table (columns)`, `rows` the rows in COPY's text format
   * (copyRow). Drivers that can (PGlite) offer it; appends use INSERT where they do not.
   */
  copyFrom?(target: string, rows: string): Promise<void>;
}

export interface SqlDriver extends SqlClient {
  readonly dialect: "pglite" | "postgres";
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

interface Migration {
  readonly version: number;
  readonly name: string;
  readonly statements: (schema: string) => string[];
}

/** Append-only: a released migration is never edited; changes come as a new version. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "events with hash chain, chain head, api keys",
    statements: (s) => [
      `create table ${s}.events (
         seq bigint primary key,
         id text not null unique,
         kind text not null,
         time timestamptz not null,
         principal text,
         action text,
         payload text not null,
         prev_hash text not null,
         hash text not null)`,
      `create index events_time on ${s}.events (time)`,
      `create index events_principal on ${s}.events (principal, seq)`,
      `create index events_action on ${s}.events (action, seq)`,
      `create table ${s}.chain_head (id smallint primary key check (id = 1), seq bigint not null, hash text not null)`,
      `insert into ${s}.chain_head (id, seq, hash) values (1, 0, '${GENESIS_HASH}')`,
      `create table ${s}.api_keys (
         id text primary key,
         principal text not null,
         hash text not null unique,
         created_at timestamptz not null,
         revoked boolean not null default false)`,
    ],
  },
  {
    version: 2,
    name: "signal events: their type, indexed",
    statements: (s) => [`alter table ${s}.events add column type text`, `create index events_type on ${s}.events (type, seq) where type is not null`],
  },
  {
    version: 3,
    name: "incidents (monitor/incidents.ts): status and rule indexed, the record as JSON",
    statements: (s) => [
      `create table ${s}.incidents (
         id text primary key,
         rule text not null,
         status text not null,
         severity text not null,
         opened_at timestamptz not null,
         updated_at timestamptz not null,
         payload text not null)`,
      `create index incidents_status on ${s}.incidents (status, id)`,
    ],
  },
  AGGREGATE_MIGRATION,
  POLICY_MIGRATION,
  {
    version: 6,
    name: "claims: a key claimed once (scheduled scans: one replica per cron tick)",
    statements: (s) => [`create table ${s}.claims (key text primary key, holder text not null, claimed_at timestamptz not null default now())`],
  },
  SCALE_MIGRATION,
];

const INSERT_CHUNK = 500;
const EVENT_COLUMNS = `seq, id, kind, time, principal, action, type, payload, prev_hash, hash, ${AGGREGATE_COLUMNS.join(", ")}`;
const VERIFY_PAGE = 1_000;

export class SqlEventStore implements EventStore {
  private readonly s: string;
  private readonly aggregates: SqlAggregates;

  constructor(
    private readonly driver: SqlDriver,
    schema: string,
    readonly description: string,
  ) {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}`);
    this.s = `"${schema}"`;
    this.aggregates = new SqlAggregates(driver, this.s);
  }

  // The aggregate queries (sql-aggregates.ts).
  decisionSeries: SqlAggregates["decisionSeries"] = (query) => this.aggregates.decisionSeries(query);
  topPrincipals: SqlAggregates["topPrincipals"] = (query) => this.aggregates.topPrincipals(query);
  latency: SqlAggregates["latency"] = (query) => this.aggregates.latency(query);
  policyVersions: SqlAggregates["policyVersions"] = (query) => this.aggregates.policyVersions(query);
  categoryCounts: SqlAggregates["categoryCounts"] = (query) => this.aggregates.categoryCounts(query);
  containment: SqlAggregates["containment"] = (query) => this.aggregates.containment(query);
  signalCounts: SqlAggregates["signalCounts"] = (query) => this.aggregates.signalCounts(query);
  searchEvents: SqlAggregates["searchEvents"] = (query) => this.aggregates.searchEvents(query);
  distribution: SqlAggregates["distribution"] = (query) => this.aggregates.distribution(query);
  mix: SqlAggregates["mix"] = (query) => this.aggregates.mix(query);

  async init(): Promise<void> {
    await this.driver.transaction(async (tx) => {
      // Serialises migrations across replicas starting at once.
      await tx.query(`select pg_advisory_xact_lock(hashtext($1))`, [`bulwark-migrate:${this.s}`]);
      await tx.query(`create schema if not exists ${this.s}`);
      await tx.query(`create table if not exists ${this.s}.migrations (version integer primary key, name text not null, applied_at timestamptz not null default now())`);
      const applied = new Set((await tx.query<{ version: number }>(`select version from ${this.s}.migrations`)).map((row) => Number(row.version)));
      for (const migration of MIGRATIONS) {
        if (applied.has(migration.version)) continue;
        for (const statement of migration.statements(this.s)) await tx.query(statement);
        await tx.query(`insert into ${this.s}.migrations (version, name) values ($1, $2)`, [migration.version, migration.name]);
      }
    });
  }

  append(events: readonly AuditEvent[]): Promise<void> {
    return this.appendWith(events);
  }

  /**
   * Appends events given as their payloads (eventPayload of each), as the worker store sends them:
   * the worker then neither rebuilds each object from a structured clone nor serialises it again.
   * Each payload is stored, and hashed, exactly as given.
   */
  appendPayloads(payloads: readonly string[]): Promise<void> {
    return this.appendWith(
      payloads.map((payload) => JSON.parse(payload) as AuditEvent),
      payloads,
    );
  }

  private async appendWith(events: readonly AuditEvent[], payloads?: readonly string[]): Promise<void> {
    if (events.length === 0) return;
    await this.driver.transaction(async (tx) => {
      // The head, locked, and which of the events are stored already (a retried batch), in one round trip.
      const [head] = await tx.query<{ seq: string | number; hash: string; existing: string[] }>(
        `select seq, hash, array(select id from ${this.s}.events where id = any($1::text[])) existing from ${this.s}.chain_head where id = 1 for update`,
        [events.map((event) => event.id)],
      );
      if (!head) throw new Error("event store: chain head missing (migrations not applied?)");
      const existing = new Set(head.existing);
      const seen = new Set<string>();
      const keep = events.map((event) => !existing.has(event.id) && !seen.has(event.id) && Boolean(seen.add(event.id)));
      const fresh = events.filter((_, index) => keep[index]);
      if (fresh.length === 0) return;
      const links = link(fresh, Number(head.seq), head.hash, payloads?.filter((_, index) => keep[index]));
      const rows = links.map((entry, index) => {
        const event = fresh[index]!;
        const columns = indexedColumns(event);
        return [entry.seq, event.id, event.kind, event.time, columns.principal, columns.action, columns.type, entry.payload, entry.prevHash, entry.hash, ...aggregateColumns(event)];
      });
      if (tx.copyFrom) await tx.copyFrom(`${this.s}.events (${EVENT_COLUMNS})`, rows.map(copyRow).join(""));
      else {
        for (let start = 0; start < rows.length; start += INSERT_CHUNK) {
          const params: unknown[] = [];
          await tx.query(`insert into ${this.s}.events (${EVENT_COLUMNS}) values ${valuesList(rows.slice(start, start + INSERT_CHUNK), params)}`, params);
        }
      }
      const last = links[links.length - 1]!;
      const moveHead = (param: (value: unknown) => string): string => `update ${this.s}.chain_head set seq = ${param(last.seq)}, hash = ${param(last.hash)} where id = 1`;
      for (const statement of upsertStatements(rollupUpserts(this.s, fresh), moveHead)) await tx.query(statement.text, statement.params);
    });
  }

  async list(query: EventQuery): Promise<StoredEvent[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown): void => {
      params.push(value);
      where.push(sql.replace("?", `$${params.length}`));
    };
    if (query.beforeSeq !== undefined) add("seq < ?", query.beforeSeq);
    if (query.principal !== undefined) add("principal = ?", query.principal);
    if (query.action !== undefined) add("action = ?", query.action);
    if (query.kind !== undefined) add("kind = ?", query.kind);
    if (query.type !== undefined) {
      if (query.type.endsWith(".")) add("type like ?", query.type.replace(/[\\%_]/g, "\\$&") + "%");
      else add("type = ?", query.type);
    }
    params.push(Math.min(Math.max(query.limit ?? 100, 1), 1000));
    const rows = await this.driver.query<EventRow>(
      `select seq, payload, prev_hash, hash from ${this.s}.events ${where.length ? "where " + where.join(" and ") : ""} order by seq desc limit $${params.length}`,
      params,
    );
    return rows.map(toStored);
  }

  async get(id: string): Promise<StoredEvent | null> {
    const [row] = await this.driver.query<EventRow>(`select seq, payload, prev_hash, hash from ${this.s}.events where id = $1`, [id]);
    return row ? toStored(row) : null;
  }

  async verify(): Promise<VerifyResult> {
    // One snapshot, so events appended meanwhile (a live gateway) neither break nor extend this check.
    return this.driver.transaction(async (tx) => {
      await tx.query("set transaction isolation level repeatable read");
      const [head] = await tx.query<{ seq: string | number; hash: string }>(`select seq, hash from ${this.s}.chain_head where id = 1`);
      const verifier = new ChainVerifier();
      let after = 0;
      for (;;) {
        const rows = await tx.query<EventRow & { id: string; kind: string }>(
          `select seq, id, kind, payload, prev_hash, hash from ${this.s}.events where seq > $1 order by seq limit ${VERIFY_PAGE}`,
          [after],
        );
        let broken = false;
        for (const row of rows) {
          if (!verifier.next({ seq: Number(row.seq), payload: row.payload, prevHash: row.prev_hash, hash: row.hash }, { id: row.id, kind: row.kind })) {
            broken = true;
            break;
          }
        }
        if (broken || rows.length < VERIFY_PAGE) break;
        after = Number(rows[rows.length - 1]!.seq);
      }
      const headSeq = Number(head?.seq ?? 0);
      const headHash = head?.hash ?? GENESIS_HASH;
      const result = verifier.finish(headSeq, headHash);
      return { ...result, events: verifier.count, headSeq, headHash };
    });
  }

  async listKeys(): Promise<StoredKey[]> {
    const rows = await this.driver.query<{ id: string; principal: string; hash: string; created_at: Date | string; revoked: boolean }>(
      `select id, principal, hash, created_at, revoked from ${this.s}.api_keys order by created_at, id`,
    );
    return rows.map((row) => ({ id: row.id, principal: row.principal, hash: row.hash, createdAt: new Date(row.created_at).toISOString(), revoked: row.revoked }));
  }

  async putKey(key: StoredKey): Promise<void> {
    await this.driver.query(
      `insert into ${this.s}.api_keys (id, principal, hash, created_at, revoked) values ($1, $2, $3, $4, $5)
       on conflict (id) do update set revoked = ${this.s}.api_keys.revoked or excluded.revoked`,
      [key.id, key.principal, key.hash, key.createdAt, key.revoked],
    );
  }

  async putIncident(row: IncidentRow): Promise<void> {
    await this.driver.query(
      `insert into ${this.s}.incidents (id, rule, status, severity, opened_at, updated_at, payload) values ($1, $2, $3, $4, $5, $6, $7)
       on conflict (id) do update set status = excluded.status, severity = excluded.severity, updated_at = excluded.updated_at, payload = excluded.payload`,
      [row.id, row.rule, row.status, row.severity, row.openedAt, row.updatedAt, row.payload],
    );
  }

  async claimOnce(key: string, holder: string): Promise<boolean> {
    const rows = await this.driver.query<{ key: string }>(`insert into ${this.s}.claims (key, holder) values ($1, $2) on conflict (key) do nothing returning key`, [key, holder]);
    return rows.length === 1;
  }

  async getIncident(id: string): Promise<IncidentRow | null> {
    const [row] = await this.driver.query<IncidentSqlRow>(`select id, rule, status, severity, opened_at, updated_at, payload from ${this.s}.incidents where id = $1`, [id]);
    return row ? toIncident(row) : null;
  }

  async listIncidents(query: IncidentQuery): Promise<IncidentRow[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.status !== undefined) where.push(`status = $${params.push(query.status)}`);
    if (query.beforeId !== undefined) where.push(`id < $${params.push(query.beforeId)}`);
    params.push(Math.min(Math.max(query.limit ?? 100, 1), 1000));
    const rows = await this.driver.query<IncidentSqlRow>(
      `select id, rule, status, severity, opened_at, updated_at, payload from ${this.s}.incidents ${where.length ? "where " + where.join(" and ") : ""} order by id desc limit $${params.length}`,
      params,
    );
    return rows.map(toIncident);
  }

  close(): Promise<void> {
    return this.driver.close();
  }
}

interface IncidentSqlRow {
  id: string;
  rule: string;
  status: string;
  severity: string;
  opened_at: Date | string;
  updated_at: Date | string;
  payload: string;
}

function toIncident(row: IncidentSqlRow): IncidentRow {
  return {
    id: row.id,
    rule: row.rule,
    status: row.status as IncidentRow["status"],
    severity: row.severity,
    openedAt: new Date(row.opened_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
    payload: row.payload,
  };
}

interface EventRow {
  seq: string | number;
  payload: string;
  prev_hash: string;
  hash: string;
}

function toStored(row: EventRow): StoredEvent {
  return { seq: Number(row.seq), event: JSON.parse(row.payload) as AuditEvent, prevHash: row.prev_hash, hash: row.hash };
}
