/**
 * The aggregate queries in SQL (one SQL for PGlite and PostgreSQL), answered
 * from roll-up tables kept up to date on append, in the append's transaction:
 *
 *   agg_minute          per minute and stage: decisions by action, degraded (by action)
 *   agg_hour            the same per hour (series with buckets of whole hours)
 *   agg_latency_minute  per minute, stage and latency bin: decisions   (series up to a day)
 *   agg_latency_hour    per hour, stage and latency bin: decisions     (longer series)
 *   agg_principal_hour  per hour and principal: decisions by action, degraded
 *   agg_category_hour   per hour and category: decisions, blocks
 *   agg_fault_hour      per hour, failed layer, status and final action: decisions
 *                       (layer '*' status 'degraded': every degraded decision once)
 *   agg_signal_hour     per hour, signal type and severity: signals
 *   agg_policy_hour     per hour and policy (name, hash): decisions, first and last time (migration 5)
 *   agg_principal_day   agg_principal_hour per UTC day (migration 7): long windows read days, then hours
 *   agg_latency_5min    per 5 minutes, stage and latency bin (migration 7): series in 5-minute multiples
 *
 * Windows that do not fall on whole hours read the whole hours from the roll-up
 * and the ragged edges (under an hour each) from the events by their time index,
 * so answers are exact. Series count whole buckets.
 */
import {
  AggregateQueryError,
  FAULT_STATUSES,
  LATENCY_BOUNDS,
  binOf,
  binsFor,
  bucketStarts,
  checkWindow,
  clampLimit,
  emptyBucket,
  parseTime,
  percentilesOf,
  type CategoryCount,
  type Containment,
  type DecisionBucket,
  type DecisionSeriesQuery,
  type DistributionQuery,
  type DistributionRow,
  type EventAggregates,
  type EventPage,
  type EventSearch,
  type LatencyPercentiles,
  type LatencyQuery,
  type LayerFault,
  type MixRow,
  type PolicyVersion,
  type PrincipalCount,
  type SignalCount,
  type SignalCountsQuery,
  type TimeWindow,
  type TopPrincipalsQuery,
} from "./aggregates.js";
import type { AuditEvent, StoredEvent } from "./types.js";

interface Client {
  query<Row extends object>(text: string, params?: readonly unknown[]): Promise<Row[]>;
  /** When the driver has transactions, a query can carry planner settings (set local). */
  transaction?<T>(fn: (tx: { query<Row extends object>(text: string, params?: readonly unknown[]): Promise<Row[]> }) => Promise<T>): Promise<T>;
}

const HOUR = 3_600_000;
const DAY = 86_400_000;
const MINUTE = 60_000;

const bigintArray = (values: readonly number[]): string => `'{${values.join(",")}}'::bigint[]`;
const floatArray = (values: readonly number[]): string => `'{${values.join(",")}}'::float8[]`;

/** Columns migration 4 adds to events, filled on insert (aggregateColumns) and backfilled from the payload. */
export const AGGREGATE_COLUMNS = ["route", "stage", "latency_us", "degraded", "score", "categories", "faults", "severity", "text_length", "script"] as const;

export function aggregateColumns(event: AuditEvent): unknown[] {
  switch (event.kind) {
    case "decision":
      return [
        event.route,
        event.stage,
        event.latencyUs,
        event.degraded,
        event.score,
        [...event.categories],
        faultsOf(event.layers),
        null,
        event.textLength ?? null,
        event.script ?? null,
      ];
    case "signal":
      return [event.route ?? null, null, null, null, null, null, null, event.severity, null, null];
    case "admin":
      return [event.route, null, null, null, null, null, null, null, null, null];
    case "gap":
      return [null, null, null, null, null, null, null, null, null, null];
  }
}

function faultsOf(layers: ReadonlyArray<{ name: string; status: string }>): string[] {
  return layers.filter((layer) => FAULT_STATUSES.has(layer.status)).map((layer) => `${layer.name}:${layer.status}`);
}

export const AGGREGATE_MIGRATION = {
  version: 4,
  name: "aggregates: decision columns (route, stage, latency, degraded, score, categories, faults, severity, length, script), roll-up tables, indexes",
  statements: (s: string): string[] => [
    `alter table ${s}.events add column route text, add column stage text, add column latency_us bigint, add column degraded boolean,
       add column score double precision, add column categories text[], add column faults text[], add column severity text,
       add column text_length integer, add column script text`,
    `update ${s}.events e set route = p->>'route', stage = p->>'stage', latency_us = (p->>'latencyUs')::bigint, degraded = (p->>'degraded')::boolean,
       score = (p->>'score')::float8, categories = array(select jsonb_array_elements_text(p->'categories')),
       faults = array(select (l->>'name') || ':' || (l->>'status') from jsonb_array_elements(p->'layers') l where l->>'status' in ('error', 'timeout', 'malformed')),
       text_length = (p->>'textLength')::integer, script = p->>'script'
     from (select seq, payload::jsonb as p from ${s}.events where kind = 'decision') d where e.seq = d.seq`,
    `update ${s}.events e set route = p->>'route', severity = p->>'severity'
     from (select seq, payload::jsonb as p from ${s}.events where kind in ('signal', 'admin')) d where e.seq = d.seq`,
    `create index events_decision_principal_time on ${s}.events (principal, time) where kind = 'decision'`,
    `create index events_categories on ${s}.events using gin (categories) where kind = 'decision'`,
    `create index events_route on ${s}.events (route, seq)`,
    `create index events_kind on ${s}.events (kind, seq)`,
    `create table ${s}.agg_minute (bucket timestamptz not null, stage text not null,
       total bigint not null, allow bigint not null, flag bigint not null, redact bigint not null, block bigint not null,
       degraded bigint not null, degraded_block bigint not null, primary key (bucket, stage))`,
    `create table ${s}.agg_hour (like ${s}.agg_minute including all)`,
    `create table ${s}.agg_latency_minute (bucket timestamptz not null, stage text not null, bin smallint not null, n bigint not null, primary key (bucket, stage, bin))`,
    `create table ${s}.agg_latency_hour (bucket timestamptz not null, stage text not null, bin smallint not null, n bigint not null, primary key (bucket, stage, bin))`,
    `create table ${s}.agg_principal_hour (bucket timestamptz not null, principal text not null,
       decisions bigint not null, blocks bigint not null, flags bigint not null, redacts bigint not null, degraded bigint not null, primary key (bucket, principal))`,
    `create table ${s}.agg_category_hour (bucket timestamptz not null, category text not null, decisions bigint not null, blocks bigint not null, primary key (bucket, category))`,
    `create table ${s}.agg_fault_hour (bucket timestamptz not null, layer text not null, status text not null, action text not null, n bigint not null,
       primary key (bucket, layer, status, action))`,
    `create table ${s}.agg_signal_hour (bucket timestamptz not null, type text not null, severity text not null, n bigint not null, primary key (bucket, type, severity))`,
    ...rebuildStatements(s),
  ],
};

export const POLICY_MIGRATION = {
  version: 5,
  name: "aggregates: policy versions per hour",
  statements: (s: string): string[] => [
    `create table ${s}.agg_policy_hour (bucket timestamptz not null, policy_name text not null, policy_hash text not null,
       decisions bigint not null, first_time timestamptz not null, last_time timestamptz not null, primary key (bucket, policy_name, policy_hash))`,
    ...rebuildPolicyStatements(s),
  ],
};

function rebuildPolicyStatements(s: string): string[] {
  return [
    `delete from ${s}.agg_policy_hour`,
    `insert into ${s}.agg_policy_hour select date_trunc('hour', time), p->>'policyName', p->>'policyHash', count(*), min(time), max(time)
       from (select time, payload::jsonb p from ${s}.events where kind = 'decision') d group by 1, 2, 3 order by 1`,
  ];
}

export const SCALE_MIGRATION = {
  version: 7,
  name: "aggregates at scale: principals per day, latency per 5 minutes, indexes for signal families, signal times and categorised decisions per principal",
  statements: (s: string): string[] => [
    `create table ${s}.agg_principal_day (like ${s}.agg_principal_hour including all)`,
    `create table ${s}.agg_latency_5min (like ${s}.agg_latency_minute including all)`,
    // Signals by family (anomaly.*) newest first; signals by time; a principal's decisions that name a category, newest first.
    `create index events_type_family on ${s}.events (split_part(type, '.', 1), seq) where type is not null`,
    `create index events_signal_time on ${s}.events (time) where kind = 'signal'`,
    `create index events_principal_categorised on ${s}.events (principal, seq) where kind = 'decision' and categories <> '{}'`,
    ...rebuildScaleStatements(s),
  ],
};

function rebuildScaleStatements(s: string): string[] {
  return [
    `delete from ${s}.agg_principal_day`,
    `insert into ${s}.agg_principal_day select date_trunc('day', bucket, 'UTC'), principal, sum(decisions), sum(blocks), sum(flags), sum(redacts), sum(degraded)
       from ${s}.agg_principal_hour group by 1, 2 order by 1`,
    `delete from ${s}.agg_latency_5min`,
    `insert into ${s}.agg_latency_5min select date_bin('5 minutes', bucket, timestamptz 'epoch'), stage, bin, sum(n) from ${s}.agg_latency_minute group by 1, 2, 3 order by 1`,
  ];
}

/** Recomputes every roll-up from the events (the migration's backfill; the benchmark's bulk load). */
export function rebuildStatements(s: string): string[] {
  const d = `from ${s}.events where kind = 'decision'`;
  const lat = `least(width_bucket(latency_us, ${bigintArray(LATENCY_BOUNDS)}), ${LATENCY_BOUNDS.length - 1})`;
  return [
    `delete from ${s}.agg_minute`,
    `delete from ${s}.agg_hour`,
    `delete from ${s}.agg_latency_minute`,
    `delete from ${s}.agg_latency_hour`,
    `delete from ${s}.agg_principal_hour`,
    `delete from ${s}.agg_category_hour`,
    `delete from ${s}.agg_fault_hour`,
    `delete from ${s}.agg_signal_hour`,
    `insert into ${s}.agg_minute select date_trunc('minute', time), stage, count(*), count(*) filter (where action = 'allow'),
       count(*) filter (where action = 'flag'), count(*) filter (where action = 'redact'), count(*) filter (where action = 'block'),
       count(*) filter (where degraded), count(*) filter (where degraded and action = 'block') ${d} group by 1, 2 order by 1`,
    `insert into ${s}.agg_hour select date_trunc('hour', bucket), stage, sum(total), sum(allow), sum(flag), sum(redact), sum(block), sum(degraded), sum(degraded_block)
       from ${s}.agg_minute group by 1, 2 order by 1`,
    `insert into ${s}.agg_latency_minute select date_trunc('minute', time), stage, ${lat}, count(*) ${d} group by 1, 2, 3 order by 1`,
    `insert into ${s}.agg_latency_hour select date_trunc('hour', bucket), stage, bin, sum(n) from ${s}.agg_latency_minute group by 1, 2, 3 order by 1`,
    `insert into ${s}.agg_principal_hour select date_trunc('hour', time), principal, count(*), count(*) filter (where action = 'block'),
       count(*) filter (where action = 'flag'), count(*) filter (where action = 'redact'), count(*) filter (where degraded) ${d} group by 1, 2 order by 1`,
    `insert into ${s}.agg_category_hour select date_trunc('hour', time), c, count(*), count(*) filter (where action = 'block')
       from ${s}.events, unnest(categories) c where kind = 'decision' group by 1, 2 order by 1`,
    `insert into ${s}.agg_fault_hour select date_trunc('hour', time), split_part(f, ':', 1), split_part(f, ':', 2), action, count(*)
       from ${s}.events, unnest(faults) f where kind = 'decision' group by 1, 2, 3, 4 order by 1`,
    `insert into ${s}.agg_fault_hour select date_trunc('hour', time), '*', 'degraded', action, count(*) ${d} and degraded group by 1, 4 order by 1`,
    `insert into ${s}.agg_signal_hour select date_trunc('hour', time), type, coalesce(severity, 'info'), count(*) from ${s}.events where kind = 'signal' group by 1, 2, 3 order by 1`,
  ];
}

/** Every roll-up, migration 5's included. */
export function rebuildAllStatements(s: string): string[] {
  return [...rebuildStatements(s), ...rebuildPolicyStatements(s), ...rebuildScaleStatements(s)];
}

/**
 * Adds values keyed by a tuple. The key's parts are joined with NUL, which no stored text can hold
 * (PostgreSQL refuses it, so an append with one fails whatever its roll-ups), so distinct keys stay distinct.
 */
class Tally {
  readonly rows = new Map<string, { key: Array<string | number>; values: number[] }>();
  add(key: Array<string | number>, values: readonly number[]): void {
    const id = key.join("\u0000");
    const row = this.rows.get(id);
    if (!row) this.rows.set(id, { key, values: [...values] });
    else for (let i = 0; i < values.length; i++) row.values[i]! += values[i]!;
  }
}

/** One table's roll-up rows for a batch: an INSERT ... ON CONFLICT that adds them to what is there. */
export interface Upsert {
  readonly table: string;
  readonly columns: readonly string[];
  /** What follows the VALUES: `on conflict (...) do update set ...`. */
  readonly conflict: string;
  readonly rows: ReadonlyArray<readonly unknown[]>;
}

/** The roll-up upserts for a batch of appended events: one per table that gains rows. */
export function rollupUpserts(s: string, events: readonly AuditEvent[]): Upsert[] {
  // Bucket starts as ISO text, worked out once per distinct bucket in the batch (most events share theirs).
  const isoOf = new Map<number, string>();
  const iso = (ms: number): string => {
    let text = isoOf.get(ms);
    if (text === undefined) isoOf.set(ms, (text = new Date(ms).toISOString()));
    return text;
  };
  const floorTo = (ms: number, unit: number): string => iso(Math.floor(ms / unit) * unit);
  const minute = new Tally();
  const hour = new Tally();
  const latencyMinute = new Tally();
  const latencyHour = new Tally();
  const latency5 = new Tally();
  const principalDay = new Tally();
  const principal = new Tally();
  const category = new Tally();
  const fault = new Tally();
  const signal = new Tally();
  const policies = new Map<string, { key: [string, string, string]; decisions: number; first: string; last: string }>();
  for (const event of events) {
    if (event.kind === "signal") {
      signal.add([floorTo(Date.parse(event.time), HOUR), event.type, event.severity], [1]);
      continue;
    }
    if (event.kind !== "decision") continue;
    const time = Date.parse(event.time);
    const m = floorTo(time, MINUTE);
    const h = floorTo(time, HOUR);
    const a = event.action;
    const block = a === "block" ? 1 : 0;
    const degraded = event.degraded ? 1 : 0;
    const counts = [1, a === "allow" ? 1 : 0, a === "flag" ? 1 : 0, a === "redact" ? 1 : 0, block, degraded, degraded * block];
    minute.add([m, event.stage], counts);
    hour.add([h, event.stage], counts);
    const bin = Math.min(binOf(event.latencyUs, LATENCY_BOUNDS), LATENCY_BOUNDS.length - 1);
    latencyMinute.add([m, event.stage, bin], [1]);
    latencyHour.add([h, event.stage, bin], [1]);
    latency5.add([floorTo(time, 5 * MINUTE), event.stage, bin], [1]);
    const principalCounts = [1, block, a === "flag" ? 1 : 0, a === "redact" ? 1 : 0, degraded];
    principal.add([h, event.principal], principalCounts);
    principalDay.add([floorTo(time, DAY), event.principal], principalCounts);
    if (event.categories.length > 0) for (const name of new Set(event.categories)) category.add([h, name], [1, block]);
    if (event.layers.some((layer) => FAULT_STATUSES.has(layer.status))) {
      for (const f of new Set(faultsOf(event.layers))) {
        const [layer, status] = f.split(":") as [string, string];
        fault.add([h, layer, status, a], [1]);
      }
    }
    if (degraded) fault.add([h, "*", "degraded", a], [1]);
    const policyKey = `${h}\u0000${event.policyName}\u0000${event.policyHash}`;
    const policy = policies.get(policyKey);
    if (!policy) policies.set(policyKey, { key: [h, event.policyName, event.policyHash], decisions: 1, first: event.time, last: event.time });
    else {
      policy.decisions++;
      if (event.time < policy.first) policy.first = event.time;
      if (event.time > policy.last) policy.last = event.time;
    }
  }
  const upserts: Upsert[] = [];
  const add = (table: string, keys: string[], values: string[], tally: Tally): void => {
    if (tally.rows.size === 0) return;
    upserts.push({
      table: `${s}.${table}`,
      columns: [...keys, ...values],
      conflict: `on conflict (${keys.join(", ")}) do update set ${values.map((v) => `${v} = ${s}.${table}.${v} + excluded.${v}`).join(", ")}`,
      rows: [...tally.rows.values()].map((row) => [...row.key, ...row.values]),
    });
  };
  add("agg_minute", ["bucket", "stage"], ["total", "allow", "flag", "redact", "block", "degraded", "degraded_block"], minute);
  add("agg_hour", ["bucket", "stage"], ["total", "allow", "flag", "redact", "block", "degraded", "degraded_block"], hour);
  add("agg_latency_minute", ["bucket", "stage", "bin"], ["n"], latencyMinute);
  add("agg_latency_hour", ["bucket", "stage", "bin"], ["n"], latencyHour);
  add("agg_latency_5min", ["bucket", "stage", "bin"], ["n"], latency5);
  add("agg_principal_hour", ["bucket", "principal"], ["decisions", "blocks", "flags", "redacts", "degraded"], principal);
  add("agg_principal_day", ["bucket", "principal"], ["decisions", "blocks", "flags", "redacts", "degraded"], principalDay);
  add("agg_category_hour", ["bucket", "category"], ["decisions", "blocks"], category);
  add("agg_fault_hour", ["bucket", "layer", "status", "action"], ["n"], fault);
  add("agg_signal_hour", ["bucket", "type", "severity"], ["n"], signal);
  if (policies.size > 0) {
    const t = `${s}.agg_policy_hour`;
    upserts.push({
      table: t,
      columns: ["bucket", "policy_name", "policy_hash", "decisions", "first_time", "last_time"],
      conflict: `on conflict (bucket, policy_name, policy_hash) do update set decisions = ${t}.decisions + excluded.decisions,
             first_time = least(${t}.first_time, excluded.first_time), last_time = greatest(${t}.last_time, excluded.last_time)`,
      rows: [...policies.values()].map((p) => [...p.key, p.decisions, p.first, p.last]),
    });
  }
  return upserts;
}

/** Parameters per statement: PostgreSQL takes at most 65 535. */
const MAX_PARAMS = 30_000;

/**
 * The upserts in as few statements as the parameter limit allows (usually one, each upsert a
 * data-modifying CTE) instead of one per table: a round trip, a parse and a plan saved per table.
 * The last statement's main query is `last`'s, written with `param` for its parameters.
 */
/** `(...),(...)`: rows as a VALUES list, their values appended to `params` and numbered after those already there. */
export function valuesList(rows: ReadonlyArray<readonly unknown[]>, params: unknown[]): string {
  return rows.map((row) => `(${row.map((value) => `$${params.push(value)}`).join(",")})`).join(",");
}

export function upsertStatements(upserts: readonly Upsert[], last: (param: (value: unknown) => string) => string): Array<{ text: string; params: unknown[] }> {
  const statements: Array<{ text: string; params: unknown[] }> = [];
  let parts: string[] = [];
  let params: unknown[] = [];
  const param = (value: unknown): string => `$${params.push(value)}`;
  const flush = (main: string): void => {
    statements.push({ text: parts.length > 0 ? `with ${parts.join(",\n")}\n${main}` : main, params });
    parts = [];
    params = [];
  };
  for (const upsert of upserts) {
    const width = upsert.columns.length;
    const chunk = Math.floor(MAX_PARAMS / width);
    for (let start = 0; start < upsert.rows.length; start += chunk) {
      const rows = upsert.rows.slice(start, start + chunk);
      if (parts.length > 0 && params.length + rows.length * width > MAX_PARAMS) flush("select 1");
      parts.push(`u${parts.length} as (insert into ${upsert.table} (${upsert.columns.join(", ")}) values ${valuesList(rows, params)} ${upsert.conflict})`);
    }
  }
  flush(last(param));
  return statements;
}

/**
 * Splits a window into whole hours (read from a roll-up) and ragged edges
 * (read from the events). Returns SQL conditions with their parameters.
 */
function split(window: { since: Date; until: Date }, params: unknown[]): { rollup: string | null; raw: string } {
  const p = (value: unknown): string => `$${params.push(value)}`;
  const h0 = Math.ceil(window.since.getTime() / HOUR) * HOUR;
  const h1 = Math.floor(window.until.getTime() / HOUR) * HOUR;
  if (h1 <= h0) return { rollup: null, raw: `time >= ${p(window.since.toISOString())} and time < ${p(window.until.toISOString())}` };
  const since = p(window.since.toISOString());
  const a = p(new Date(h0).toISOString());
  const b = p(new Date(h1).toISOString());
  const until = p(window.until.toISOString());
  return { rollup: `bucket >= ${a} and bucket < ${b}`, raw: `((time >= ${since} and time < ${a}) or (time >= ${b} and time < ${until}))` };
}

/** As split, with whole UTC days taken from a daily roll-up and the hours around them from an hourly one. */
function splitDays(window: { since: Date; until: Date }, params: unknown[]): { days: string | null; hours: string | null; raw: string } {
  const d0 = Math.ceil(window.since.getTime() / DAY) * DAY;
  const d1 = Math.floor(window.until.getTime() / DAY) * DAY;
  if (d1 <= d0) {
    const parts = split(window, params);
    return { days: null, hours: parts.rollup, raw: parts.raw };
  }
  const p = (value: number): string => `$${params.push(new Date(value).toISOString())}`;
  const h0 = Math.ceil(window.since.getTime() / HOUR) * HOUR;
  const h1 = Math.floor(window.until.getTime() / HOUR) * HOUR;
  const [since, a, b, c, d, until] = [window.since.getTime(), h0, d0, d1, h1, window.until.getTime()].map(p) as [string, string, string, string, string, string];
  return {
    days: `bucket >= ${b} and bucket < ${c}`,
    hours: `((bucket >= ${a} and bucket < ${b}) or (bucket >= ${c} and bucket < ${d}))`,
    raw: `((time >= ${since} and time < ${a}) or (time >= ${d} and time < ${until}))`,
  };
}

const num = (value: unknown): number => Number(value ?? 0);

export class SqlAggregates implements EventAggregates {
  constructor(
    private readonly client: Client,
    private readonly s: string,
  ) {}

  async decisionSeries(query: DecisionSeriesQuery): Promise<DecisionBucket[]> {
    const window = checkWindow(query, "decisionSeries");
    const starts = bucketStarts(window, query.bucketSeconds, "decisionSeries");
    const width = query.bucketSeconds;
    const from = new Date(starts[0]!).toISOString();
    const to = new Date(starts[starts.length - 1]! + width * 1000).toISOString();
    const params: unknown[] = [from, to, width];
    let stage = "";
    if (query.stage !== undefined) {
      if (query.stage !== "input" && query.stage !== "output") throw new AggregateQueryError(`decisionSeries: stage must be input or output, got ${JSON.stringify(query.stage)}`);
      params.push(query.stage);
      stage = ` and stage = $4`;
    }
    // date_bin: timestamp arithmetic, several times cheaper than numeric epoch arithmetic over many rows.
    const slot = `extract(epoch from date_bin(make_interval(secs => $3), bucket, timestamptz 'epoch'))::bigint`;
    const hourly = width % 3600 === 0;
    const counts = await this.client.query<Record<string, string | number>>(
      `select ${slot} as slot, sum(total) total, sum(allow) allow, sum(flag) flag, sum(redact) redact, sum(block) block, sum(degraded) degraded, sum(degraded_block) degraded_block
       from ${this.s}.${hourly ? "agg_hour" : "agg_minute"} where bucket >= $1 and bucket < $2${stage} group by 1`,
      params,
    );
    const latencyTable = hourly ? "agg_latency_hour" : width % 300 === 0 ? "agg_latency_5min" : "agg_latency_minute";
    const latency = await this.client.query<{ slot: string | number; bin: number; n: string | number }>(
      `select ${slot} as slot, bin, sum(n) n from ${this.s}.${latencyTable} where bucket >= $1 and bucket < $2${stage} group by 1, 2`,
      params,
    );
    const histograms = new Map<number, Map<number, number>>();
    for (const row of latency) {
      const key = num(row.slot) * 1000;
      const histogram = histograms.get(key) ?? new Map<number, number>();
      histogram.set(Number(row.bin), num(row.n));
      histograms.set(key, histogram);
    }
    const bySlot = new Map(counts.map((row) => [num(row.slot) * 1000, row]));
    return starts.map((start) => {
      const row = bySlot.get(start);
      if (!row) return emptyBucket(start);
      const total = num(row.total);
      const block = num(row.block);
      return {
        start: new Date(start).toISOString(),
        total,
        allow: num(row.allow),
        flag: num(row.flag),
        redact: num(row.redact),
        block,
        degraded: num(row.degraded),
        degradedBlocked: num(row.degraded_block),
        blockRate: total === 0 ? 0 : block / total,
        latencyUs: percentilesOf(histograms.get(start) ?? new Map()),
      };
    });
  }

  async latency(query: LatencyQuery): Promise<LatencyPercentiles | null> {
    const window = checkWindow(query, "latency");
    if (query.stage !== undefined && query.stage !== "input" && query.stage !== "output") throw new AggregateQueryError(`latency: stage must be input or output, got ${JSON.stringify(query.stage)}`);
    const params: unknown[] = [];
    const parts = split(window, params);
    const stage = query.stage === undefined ? "" : ` and stage = $${params.push(query.stage)}`;
    const sources = [
      `select least(width_bucket(latency_us, ${bigintArray(LATENCY_BOUNDS)}), ${LATENCY_BOUNDS.length - 1}) bin, count(*) n from ${this.s}.events where kind = 'decision' and ${parts.raw}${stage} group by 1`,
    ];
    if (parts.rollup) sources.push(`select bin, n from ${this.s}.agg_latency_hour where ${parts.rollup}${stage}`);
    const rows = await this.client.query<{ bin: number; n: string | number }>(`select bin, sum(n) n from (${sources.join(" union all ")}) t group by bin`, params);
    return percentilesOf(new Map(rows.map((row) => [Number(row.bin), num(row.n)])));
  }

  async policyVersions(query: TimeWindow): Promise<PolicyVersion[]> {
    const window = checkWindow(query, "policyVersions");
    const params: unknown[] = [];
    const parts = split(window, params);
    // The ragged edges (under an hour each) read the names from the payload.
    const sources = [
      `select p->>'policyName' policy_name, p->>'policyHash' policy_hash, count(*) decisions, min(time) first_time, max(time) last_time
       from (select time, payload::jsonb p from ${this.s}.events where kind = 'decision' and ${parts.raw}) d group by 1, 2`,
    ];
    if (parts.rollup) sources.push(`select policy_name, policy_hash, decisions, first_time, last_time from ${this.s}.agg_policy_hour where ${parts.rollup}`);
    const rows = await this.client.query<{ policy_name: string; policy_hash: string; decisions: string | number; first_time: Date | string; last_time: Date | string }>(
      `select policy_name, policy_hash, sum(decisions) decisions, min(first_time) first_time, max(last_time) last_time
       from (${sources.join(" union all ")}) t group by 1, 2 order by last_time desc, policy_hash limit 100`,
      params,
    );
    return rows.map((row) => ({
      policyName: row.policy_name,
      policyHash: row.policy_hash,
      decisions: num(row.decisions),
      firstSeen: new Date(row.first_time).toISOString(),
      lastSeen: new Date(row.last_time).toISOString(),
    }));
  }

  async topPrincipals(query: TopPrincipalsQuery): Promise<PrincipalCount[]> {
    const window = checkWindow(query, "topPrincipals");
    const limit = clampLimit(query.limit, 10, 100);
    if (query.by !== undefined && query.by !== "decisions" && query.by !== "blocks") throw new AggregateQueryError(`topPrincipals: by must be decisions or blocks, got ${JSON.stringify(query.by)}`);
    const params: unknown[] = [];
    const parts = splitDays(window, params);
    const sources = [
      `select principal, count(*) decisions, count(*) filter (where action = 'block') blocks, count(*) filter (where action = 'flag') flags,
         count(*) filter (where action = 'redact') redacts, count(*) filter (where degraded) degraded
       from ${this.s}.events where kind = 'decision' and ${parts.raw} group by principal`,
    ];
    if (parts.hours) sources.push(`select principal, decisions, blocks, flags, redacts, degraded from ${this.s}.agg_principal_hour where ${parts.hours}`);
    if (parts.days) sources.push(`select principal, decisions, blocks, flags, redacts, degraded from ${this.s}.agg_principal_day where ${parts.days}`);
    const order = query.by === "blocks" ? "blocks desc, decisions desc" : "decisions desc, blocks desc";
    const rows = await this.client.query<Record<string, string | number>>(
      `select principal, sum(decisions) decisions, sum(blocks) blocks, sum(flags) flags, sum(redacts) redacts, sum(degraded) degraded
       from (${sources.join(" union all ")}) t group by principal order by ${order}, principal limit ${limit}`,
      params,
    );
    return rows.map((row) => {
      const decisions = num(row.decisions);
      const blocks = num(row.blocks);
      return { principal: String(row.principal), decisions, blocks, flags: num(row.flags), redacts: num(row.redacts), degraded: num(row.degraded), blockRate: decisions ? blocks / decisions : 0 };
    });
  }

  async categoryCounts(query: TimeWindow): Promise<CategoryCount[]> {
    const window = checkWindow(query, "categoryCounts");
    const params: unknown[] = [];
    const parts = split(window, params);
    const sources = [
      `select c as category, count(*) decisions, count(*) filter (where action = 'block') blocks
       from ${this.s}.events, unnest(categories) c where kind = 'decision' and ${parts.raw} group by c`,
    ];
    if (parts.rollup) sources.push(`select category, decisions, blocks from ${this.s}.agg_category_hour where ${parts.rollup}`);
    const rows = await this.client.query<Record<string, string | number>>(
      `select category, sum(decisions) decisions, sum(blocks) blocks from (${sources.join(" union all ")}) t group by category order by decisions desc, category`,
      params,
    );
    return rows.map((row) => ({ category: String(row.category), decisions: num(row.decisions), blocks: num(row.blocks) }));
  }

  async containment(query: TimeWindow): Promise<Containment> {
    const window = checkWindow(query, "containment");
    const params: unknown[] = [];
    const parts = split(window, params);
    const faultSources = [
      `select split_part(f, ':', 1) layer, split_part(f, ':', 2) status, action, count(*) n
       from ${this.s}.events, unnest(faults) f where kind = 'decision' and ${parts.raw} group by 1, 2, 3`,
      `select '*', 'degraded', action, count(*) from ${this.s}.events where kind = 'decision' and degraded and ${parts.raw} group by 3`,
    ];
    const totalSources = [`select count(*) decisions from ${this.s}.events where kind = 'decision' and ${parts.raw}`];
    if (parts.rollup) {
      faultSources.push(`select layer, status, action, n from ${this.s}.agg_fault_hour where ${parts.rollup}`);
      totalSources.push(`select total from ${this.s}.agg_hour where ${parts.rollup}`);
    }
    const faults = await this.client.query<{ layer: string; status: string; action: string; n: string | number }>(
      `select layer, status, action, sum(n) n from (${faultSources.join(" union all ")}) t group by 1, 2, 3`,
      params,
    );
    const [total] = await this.client.query<{ decisions: string | number }>(`select sum(decisions) decisions from (${totalSources.join(" union all ")}) t(decisions)`, params);
    return containmentFrom(
      num(total?.decisions),
      faults.map((row) => ({ layer: row.layer, status: row.status, action: row.action, n: num(row.n) })),
    );
  }

  async signalCounts(query: SignalCountsQuery): Promise<SignalCount[]> {
    const window = checkWindow(query, "signalCounts");
    const params: unknown[] = [];
    const parts = split(window, params);
    let type = "";
    if (query.type !== undefined) {
      if (query.type.endsWith(".")) type = ` and type like $${params.push(query.type.replace(/[\\%_]/g, "\\$&") + "%")}`;
      else type = ` and type = $${params.push(query.type)}`;
    }
    const sources = [`select type, coalesce(severity, 'info') severity, count(*) n from ${this.s}.events where kind = 'signal' and ${parts.raw}${type} group by 1, 2`];
    if (parts.rollup) sources.push(`select type, severity, n from ${this.s}.agg_signal_hour where ${parts.rollup}${type}`);
    const rows = await this.client.query<{ type: string; severity: string; n: string | number }>(
      `select type, severity, sum(n) n from (${sources.join(" union all ")}) t group by 1, 2 order by n desc, type, severity`,
      params,
    );
    return rows.map((row) => ({ type: row.type, severity: row.severity, count: num(row.n) }));
  }

  async searchEvents(query: EventSearch): Promise<EventPage> {
    const limit = clampLimit(query.limit, 50, 500);
    const where: string[] = [];
    const params: unknown[] = [];
    const p = (value: unknown): string => `$${params.push(value)}`;
    if (query.since !== undefined) where.push(`time >= ${p(parseTime(query.since, "searchEvents: since").toISOString())}`);
    if (query.until !== undefined) where.push(`time < ${p(parseTime(query.until, "searchEvents: until").toISOString())}`);
    if (query.beforeSeq !== undefined) {
      if (!Number.isInteger(query.beforeSeq)) throw new AggregateQueryError(`searchEvents: beforeSeq must be an integer, got ${JSON.stringify(query.beforeSeq)}`);
      where.push(`seq < ${p(query.beforeSeq)}`);
    }
    if (query.kind !== undefined) where.push(`kind = ${p(query.kind)}`);
    if (query.principal !== undefined) where.push(`principal = ${p(query.principal)}`);
    if (query.route !== undefined) where.push(`route = ${p(query.route)}`);
    if (query.action !== undefined) where.push(`action = ${p(query.action)}`);
    // categories <> '{}' lets the planner use the index of a principal's categorised decisions.
    if (query.category !== undefined) where.push(`kind = 'decision' and categories <> '{}' and categories @> array[${p(query.category)}]::text[]`);
    if (query.type !== undefined) {
      const family = /^[^.]+\.$/.test(query.type) ? query.type.slice(0, -1) : null;
      // A family (`anomaly.`) by its own index, newest first; a deeper prefix by LIKE.
      if (family !== null) where.push(`type is not null and split_part(type, '.', 1) = ${p(family)}`);
      else if (query.type.endsWith(".")) where.push(`type like ${p(query.type.replace(/[\\%_]/g, "\\$&") + "%")}`);
      else where.push(`type = ${p(query.type)}`);
    }
    type Row = { seq: string | number; payload: string; prev_hash: string; hash: string };
    const sql = `select seq, payload, prev_hash, hash from ${this.s}.events ${where.length ? "where " + where.join(" and ") : ""} order by seq desc limit ${limit + 1}`;
    // A principal's events that name a category: the planner, misjudging how the two filters overlap, prefers
    // intersecting bitmaps of both (every matching row, then a sort: seconds for a busy principal) to walking
    // the principal's categorised decisions newest first (an index made for it) and stopping at the page's end.
    const walk = query.principal !== undefined && query.category !== undefined && this.client.transaction !== undefined;
    const rows = walk
      ? await this.client.transaction!(async (tx) => {
          await tx.query("set local enable_bitmapscan = off");
          return tx.query<Row>(sql, params);
        })
      : await this.client.query<Row>(sql, params);
    const more = rows.length > limit;
    const events: StoredEvent[] = rows
      .slice(0, limit)
      .map((row) => ({ seq: Number(row.seq), event: JSON.parse(row.payload) as AuditEvent, prevHash: row.prev_hash, hash: row.hash }));
    return { events, nextBeforeSeq: more ? events[events.length - 1]!.seq : null };
  }

  async distribution(query: DistributionQuery): Promise<DistributionRow[]> {
    const window = checkWindow(query, "distribution");
    if (query.metric !== "score" && query.metric !== "length") throw new AggregateQueryError(`distribution: metric must be score or length, got ${JSON.stringify(query.metric)}`);
    const column = query.metric === "score" ? "score::float8" : "text_length::float8";
    const bounds = floatArray(binsFor(query.metric));
    const rows = await this.client.query<{ principal: string; route: string; bin: number; n: string | number }>(
      `select principal, coalesce(route, '') route, width_bucket(${column}, ${bounds}) bin, count(*) n from ${this.s}.events
       where kind = 'decision' and time >= $1 and time < $2 and stage = $3 and ${query.metric === "score" ? "score" : "text_length"} is not null group by 1, 2, 3`,
      [window.since.toISOString(), window.until.toISOString(), query.stage ?? "input"],
    );
    return rows.map((row) => ({ principal: row.principal, route: row.route, bin: Number(row.bin), count: num(row.n) }));
  }

  async mix(query: TimeWindow): Promise<MixRow[]> {
    const window = checkWindow(query, "mix");
    const rows = await this.client.query<{ principal: string; route: string; script: string; decisions: string | number; blocks: string | number }>(
      `select principal, coalesce(route, '') route, coalesce(script, 'unknown') script, count(*) decisions, count(*) filter (where action = 'block') blocks
       from ${this.s}.events where kind = 'decision' and stage = 'input' and time >= $1 and time < $2 group by 1, 2, 3`,
      [window.since.toISOString(), window.until.toISOString()],
    );
    return rows.map((row) => ({ principal: row.principal, route: row.route, script: row.script, decisions: num(row.decisions), blocks: num(row.blocks) }));
  }
}

/** Builds the containment answer from (layer, status, action, count) rows; layer '*' rows count degraded decisions. */
export function containmentFrom(decisions: number, rows: ReadonlyArray<{ layer: string; status: string; action: string; n: number }>): Containment {
  const degradedByAction = { allow: 0, flag: 0, redact: 0, block: 0 };
  const layers = new Map<string, { layer: string; status: string; decisions: number; blocked: number; allowed: number; other: number }>();
  for (const row of rows) {
    if (row.layer === "*") {
      if (row.action in degradedByAction) degradedByAction[row.action as keyof typeof degradedByAction] += row.n;
      continue;
    }
    const key = `${row.layer}:${row.status}`;
    const entry = layers.get(key) ?? { layer: row.layer, status: row.status, decisions: 0, blocked: 0, allowed: 0, other: 0 };
    entry.decisions += row.n;
    if (row.action === "block") entry.blocked += row.n;
    else if (row.action === "allow") entry.allowed += row.n;
    else entry.other += row.n;
    layers.set(key, entry);
  }
  const degraded = degradedByAction.allow + degradedByAction.flag + degradedByAction.redact + degradedByAction.block;
  const byLayer: LayerFault[] = [...layers.values()].sort((a, b) => b.decisions - a.decisions || a.layer.localeCompare(b.layer) || a.status.localeCompare(b.status));
  return { decisions, degraded, degradedByAction, byLayer };
}
