/** An event store in memory, with the same chain as the SQL stores: for tests, demos and `--store memory`. Lost at exit. */
import { indexedColumns, typeMatches } from "./columns.js";
import { ChainVerifier, GENESIS_HASH, link } from "./chain.js";
import { MemoryAggregates } from "./memory-aggregates.js";
import type { AuditEvent, EventQuery, EventStore, IncidentQuery, IncidentRow, StoredEvent, StoredKey, VerifyResult } from "./types.js";

interface Row {
  seq: number;
  id: string;
  kind: string;
  principal: string | null;
  action: string | null;
  type: string | null;
  payload: string;
  prevHash: string;
  hash: string;
}

export class MemoryEventStore implements EventStore {
  readonly description = "memory";
  /** Exposed so tests can tamper with stored events and see verification fail. */
  readonly rows: Row[] = [];
  private readonly ids = new Set<string>();
  private readonly keys = new Map<string, StoredKey>();
  private readonly incidents = new Map<string, IncidentRow>();
  private readonly claims = new Map<string, string>();
  head = { seq: 0, hash: GENESIS_HASH };
  /** Parsed events for the aggregate scans, re-parsed only when a row's payload changed (tests tamper with rows). */
  private readonly parsed = new WeakMap<Row, { payload: string; stored: StoredEvent }>();
  private readonly aggregates = new MemoryAggregates(() =>
    this.rows.map((row) => {
      const cached = this.parsed.get(row);
      if (cached && cached.payload === row.payload && cached.stored.seq === row.seq && cached.stored.hash === row.hash && cached.stored.prevHash === row.prevHash) return cached.stored;
      const stored = toStored(row);
      this.parsed.set(row, { payload: row.payload, stored });
      return stored;
    }),
  );
  /** When set, appends fail (tests of an unavailable store). */
  failing: Error | null = null;

  async init(): Promise<void> {}

  // The aggregate queries, by scanning (memory-aggregates.ts).
  decisionSeries: MemoryAggregates["decisionSeries"] = (query) => this.aggregates.decisionSeries(query);
  topPrincipals: MemoryAggregates["topPrincipals"] = (query) => this.aggregates.topPrincipals(query);
  latency: MemoryAggregates["latency"] = (query) => this.aggregates.latency(query);
  policyVersions: MemoryAggregates["policyVersions"] = (query) => this.aggregates.policyVersions(query);
  categoryCounts: MemoryAggregates["categoryCounts"] = (query) => this.aggregates.categoryCounts(query);
  containment: MemoryAggregates["containment"] = (query) => this.aggregates.containment(query);
  signalCounts: MemoryAggregates["signalCounts"] = (query) => this.aggregates.signalCounts(query);
  searchEvents: MemoryAggregates["searchEvents"] = (query) => this.aggregates.searchEvents(query);
  distribution: MemoryAggregates["distribution"] = (query) => this.aggregates.distribution(query);
  mix: MemoryAggregates["mix"] = (query) => this.aggregates.mix(query);

  async append(events: readonly AuditEvent[]): Promise<void> {
    if (this.failing) throw this.failing;
    const fresh = events.filter((event) => !this.ids.has(event.id));
    const links = link(fresh, this.head.seq, this.head.hash);
    links.forEach((entry, index) => {
      const event = fresh[index]!;
      this.ids.add(event.id);
      this.rows.push({
        seq: entry.seq,
        id: event.id,
        kind: event.kind,
        ...indexedColumns(event),
        payload: entry.payload,
        prevHash: entry.prevHash,
        hash: entry.hash,
      });
    });
    const last = links[links.length - 1];
    if (last) this.head = { seq: last.seq, hash: last.hash };
  }

  async list(query: EventQuery): Promise<StoredEvent[]> {
    const out: StoredEvent[] = [];
    const limit = Math.min(Math.max(query.limit ?? 100, 1), 1000);
    for (let index = this.rows.length - 1; index >= 0 && out.length < limit; index--) {
      const row = this.rows[index]!;
      if (query.beforeSeq !== undefined && row.seq >= query.beforeSeq) continue;
      if (query.principal !== undefined && row.principal !== query.principal) continue;
      if (query.action !== undefined && row.action !== query.action) continue;
      if (query.kind !== undefined && row.kind !== query.kind) continue;
      if (query.type !== undefined && !typeMatches(row.type, query.type)) continue;
      out.push(toStored(row));
    }
    return out;
  }

  async get(id: string): Promise<StoredEvent | null> {
    const row = this.rows.find((candidate) => candidate.id === id);
    return row ? toStored(row) : null;
  }

  async verify(): Promise<VerifyResult> {
    const verifier = new ChainVerifier();
    for (const row of this.rows) if (!verifier.next(row, { id: row.id, kind: row.kind })) break;
    return { ...verifier.finish(this.head.seq, this.head.hash), events: verifier.count, headSeq: this.head.seq, headHash: this.head.hash };
  }

  async listKeys(): Promise<StoredKey[]> {
    return [...this.keys.values()];
  }

  async putKey(key: StoredKey): Promise<void> {
    const existing = this.keys.get(key.id);
    this.keys.set(key.id, existing ? { ...existing, revoked: existing.revoked || key.revoked } : key);
  }

  async putIncident(row: IncidentRow): Promise<void> {
    this.incidents.set(row.id, { ...row });
  }

  async getIncident(id: string): Promise<IncidentRow | null> {
    return this.incidents.get(id) ?? null;
  }

  async listIncidents(query: IncidentQuery): Promise<IncidentRow[]> {
    const limit = Math.min(Math.max(query.limit ?? 100, 1), 1000);
    return [...this.incidents.values()]
      .filter((row) => (query.status === undefined || row.status === query.status) && (query.beforeId === undefined || row.id < query.beforeId))
      .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
      .slice(0, limit);
  }

  async claimOnce(key: string, holder: string): Promise<boolean> {
    if (this.claims.has(key)) return false;
    this.claims.set(key, holder);
    return true;
  }

  async close(): Promise<void> {}
}

function toStored(row: Row): StoredEvent {
  return { seq: row.seq, event: JSON.parse(row.payload) as AuditEvent, prevHash: row.prevHash, hash: row.hash };
}
