/**
 * What the event store holds and the one interface every store implements
 * (embedded PGlite, PostgreSQL, memory).
 */
import type { EventAggregates } from "./aggregates.js";

/** One guard decision as recorded in the audit trail. No raw secrets or personal data: see `excerpt`. */
export interface DecisionEvent {
  readonly kind: "decision";
  /** The decision's ULID (also sent to the client in x-bulwark-decision-id). */
  readonly id: string;
  /** ISO 8601 time the decision was made. */
  readonly time: string;
  readonly requestId: string;
  readonly principal: string;
  readonly keyId: string;
  readonly route: string;
  readonly model: string;
  readonly stage: "input" | "output";
  readonly role: string;
  /** Where in the request the checked text sits, e.g. `messages[2].content` or `choices[0].message.content`. */
  readonly location: string;
  readonly action: "allow" | "flag" | "redact" | "block";
  readonly categories: readonly string[];
  readonly score: number;
  readonly findings: ReadonlyArray<{ detector: string; category: string; score: number; action: string; ruleId?: string }>;
  readonly layers: ReadonlyArray<{ name: string; status: string; durationUs: number }>;
  readonly degraded: boolean;
  readonly policyName: string;
  readonly policyHash: string;
  readonly latencyUs: number;
  /** At most 160 characters of the checked text with secrets and personal data cut out; empty when that cannot be guaranteed. */
  readonly excerpt: string;
  /** Length of the checked text in UTF-16 code units (for drift; absent in events written before it was recorded). */
  readonly textLength?: number;
  /** The checked text's dominant script, a cheap guess (src/monitor/script.ts): latin, cyrillic, han, ... */
  readonly script?: string;
}

/** Something an administrator did (reload, key created or revoked). */
export interface AdminEvent {
  readonly kind: "admin";
  readonly id: string;
  readonly time: string;
  readonly principal: string;
  readonly route: string;
  readonly operation: string;
  readonly detail: Readonly<Record<string, string | number | boolean | null>>;
}

/** Events that could not be recorded (the buffer overflowed while the store was down). */
export interface GapEvent {
  readonly kind: "gap";
  readonly id: string;
  readonly time: string;
  readonly dropped: number;
  readonly firstDroppedAt: string;
  readonly lastDroppedAt: string;
}

/**
 * Something the enforcement or monitoring parts noticed, as opposed to a guard
 * decision about one text: a tool call denied or held for approval, a rate
 * limit or budget hit, an anomaly, a quarantine, drift, an objective breached,
 * an incident opened or changed, a scheduled scan's result. `type` is a dotted
 * name whose first part says which part raised it (`tool.denied`,
 * `limit.exceeded`, `anomaly.rate`, `quarantine.added`, `drift.score`,
 * `slo.breach`, `incident.opened`, `scan.regression`).
 */
export interface SignalEvent {
  readonly kind: "signal";
  readonly id: string;
  readonly time: string;
  readonly type: string;
  readonly severity: "info" | "low" | "medium" | "high" | "critical";
  /** Who it concerns, when it concerns one principal. */
  readonly principal?: string;
  readonly route?: string;
  readonly requestId?: string;
  /** One line a person can read in an alert or a timeline. */
  readonly summary: string;
  readonly detail: Readonly<Record<string, string | number | boolean | null>>;
}

export type AuditEvent = DecisionEvent | AdminEvent | GapEvent | SignalEvent;

export interface StoredEvent {
  readonly seq: number;
  readonly event: AuditEvent;
  readonly prevHash: string;
  readonly hash: string;
}

export interface EventQuery {
  readonly limit?: number;
  /** Only events with seq below this (paging backwards from the newest). */
  readonly beforeSeq?: number;
  readonly principal?: string;
  readonly action?: string;
  readonly kind?: AuditEvent["kind"];
  /** Signal events only: their `type`, or a prefix ending in a dot (`anomaly.`). */
  readonly type?: string;
}

export interface VerifyResult {
  readonly ok: boolean;
  readonly events: number;
  readonly headSeq: number;
  readonly headHash: string;
  /** The first event that does not verify, and why. */
  readonly firstBadSeq?: number;
  readonly reason?: string;
}

export interface StoredKey {
  readonly id: string;
  readonly principal: string;
  readonly hash: string;
  readonly createdAt: string;
  readonly revoked: boolean;
}

/**
 * An incident as the store keeps it (monitor/incidents.ts owns its shape): the
 * columns that lists filter and sort by, and the whole record as JSON. Incident
 * changes are also signal events (incident.*), so the audit chain holds them too.
 */
export interface IncidentRow {
  /** A sortable id: ordering by id is ordering by opening time. */
  readonly id: string;
  readonly rule: string;
  readonly status: "open" | "acknowledged" | "resolved";
  readonly severity: string;
  readonly openedAt: string;
  readonly updatedAt: string;
  readonly payload: string;
}

export interface IncidentQuery {
  readonly status?: IncidentRow["status"];
  readonly limit?: number;
  /** Only incidents with an id below this (paging backwards from the newest). */
  readonly beforeId?: string;
}

export interface EventStore extends EventAggregates {
  /** Where the events go, without credentials. */
  readonly description: string;
  /** Connects and applies migrations. */
  init(): Promise<void>;
  /** Appends events to the chain in one transaction; events whose id is already stored are skipped (safe to retry). */
  append(events: readonly AuditEvent[]): Promise<void>;
  list(query: EventQuery): Promise<StoredEvent[]>;
  get(id: string): Promise<StoredEvent | null>;
  verify(): Promise<VerifyResult>;
  listKeys(): Promise<StoredKey[]>;
  /** Adds a key, or revokes one (revoked keys stay listed, so their ids are not reused). */
  putKey(key: StoredKey): Promise<void>;
  /** Inserts an incident or replaces the stored one with the same id. */
  putIncident(row: IncidentRow): Promise<void>;
  getIncident(id: string): Promise<IncidentRow | null>;
  /** Newest first. */
  listIncidents(query: IncidentQuery): Promise<IncidentRow[]>;
  /**
   * Records a claim on a key once: true for the first caller, false for every later one (also from another
   * gateway replica sharing the database). Scheduled scans claim each cron tick, so that one replica runs it.
   */
  claimOnce(key: string, holder: string): Promise<boolean>;
  close(): Promise<void>;
}
