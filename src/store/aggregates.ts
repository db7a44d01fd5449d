/**
 * The aggregate queries the dashboard, the monitor and the posture report ask
 * the event store: decisions over time, top principals, categories,
 * containment (degraded decisions by layer), a filtered event search with
 * paging, signal counts and score/length distributions.
 *
 * The SQL stores answer them from roll-up tables maintained on append
 * (sql-aggregates.ts); the memory store scans (memory-aggregates.ts). Both use
 * the definitions here, so their answers agree.
 *
 * Time windows are half-open, [since, until), ISO 8601 strings.
 */
import type { StoredEvent } from "./types.js";

export interface TimeWindow {
  readonly since: string;
  readonly until: string;
}

export interface DecisionSeriesQuery extends TimeWindow {
  /** Bucket width: a whole number of minutes, 60 to 86 400 seconds. Buckets are aligned to the Unix epoch. */
  readonly bucketSeconds: number;
  /** Only input or only output decisions (default both). */
  readonly stage?: "input" | "output";
}

export interface LatencyPercentiles {
  /** Microseconds: the upper edge of the histogram bin holding the percentile (bins are 2^(1/8) wide, so at most 9% high). */
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
}

export interface DecisionBucket {
  /** ISO time the bucket starts. */
  readonly start: string;
  readonly total: number;
  readonly allow: number;
  readonly flag: number;
  readonly redact: number;
  readonly block: number;
  /** Decisions in which a layer failed (error, timeout, malformed output). */
  readonly degraded: number;
  /** Degraded decisions that ended blocked: the fail-closed blocks. */
  readonly degradedBlocked: number;
  /** block / total, 0 for an empty bucket. */
  readonly blockRate: number;
  /** null for an empty bucket. */
  readonly latencyUs: LatencyPercentiles | null;
}

export interface TopPrincipalsQuery extends TimeWindow {
  /** 1 to 100, default 10. */
  readonly limit?: number;
  /** Rank by all decisions (default) or by blocks. */
  readonly by?: "decisions" | "blocks";
}

export interface PrincipalCount {
  readonly principal: string;
  readonly decisions: number;
  readonly blocks: number;
  readonly flags: number;
  readonly redacts: number;
  readonly degraded: number;
  readonly blockRate: number;
}

export interface CategoryCount {
  readonly category: string;
  /** Decisions that named the category (a decision may name several). */
  readonly decisions: number;
  readonly blocks: number;
}

export interface LayerFault {
  readonly layer: string;
  /** error | timeout | malformed */
  readonly status: string;
  /** Decisions in which this layer failed this way. */
  readonly decisions: number;
  /** ... and what the decision then was: the failure mode at work. */
  readonly blocked: number;
  readonly allowed: number;
  readonly other: number;
}

export interface Containment {
  readonly decisions: number;
  readonly degraded: number;
  /** Degraded decisions by their final action. */
  readonly degradedByAction: Readonly<Record<"allow" | "flag" | "redact" | "block", number>>;
  /** Ordered by decisions, most first. */
  readonly byLayer: readonly LayerFault[];
}

export interface SignalCountsQuery extends TimeWindow {
  /** A signal type, or a prefix ending in a dot (`drift.`). */
  readonly type?: string;
}

export interface SignalCount {
  readonly type: string;
  readonly severity: string;
  readonly count: number;
}

export interface EventSearch {
  readonly since?: string;
  readonly until?: string;
  readonly kind?: "decision" | "admin" | "gap" | "signal";
  readonly principal?: string;
  readonly route?: string;
  /** Decisions naming this category. */
  readonly category?: string;
  readonly action?: "allow" | "flag" | "redact" | "block";
  /** Signal type, or a prefix ending in a dot. */
  readonly type?: string;
  /** 1 to 500, default 50. */
  readonly limit?: number;
  /** Paging backwards: only events with seq below this (pass the previous page's nextBeforeSeq). */
  readonly beforeSeq?: number;
}

export interface EventPage {
  /** Newest first. */
  readonly events: StoredEvent[];
  /** Pass as beforeSeq for the next (older) page; null when this is the last. */
  readonly nextBeforeSeq: number | null;
}

export interface PolicyVersion {
  readonly policyName: string;
  readonly policyHash: string;
  readonly decisions: number;
  /** ISO times of its first and last decision in the window. */
  readonly firstSeen: string;
  readonly lastSeen: string;
}

export interface LatencyQuery extends TimeWindow {
  readonly stage?: "input" | "output";
}

export type DistributionMetric = "score" | "length";

export interface DistributionQuery extends TimeWindow {
  readonly metric: DistributionMetric;
  /** Input decisions only by default; output decisions carry the model's text. */
  readonly stage?: "input" | "output";
}

/** Counts of decisions per (principal, route) and bin of a metric; bins as in `binsFor(metric)`. */
export interface DistributionRow {
  readonly principal: string;
  readonly route: string;
  readonly bin: number;
  readonly count: number;
}

/** Decisions per (principal, route) by script of the input (a cheap guess, see src/util/script.ts) and action. */
export interface MixRow {
  readonly principal: string;
  readonly route: string;
  readonly script: string;
  readonly decisions: number;
  readonly blocks: number;
}

export interface EventAggregates {
  decisionSeries(query: DecisionSeriesQuery): Promise<DecisionBucket[]>;
  topPrincipals(query: TopPrincipalsQuery): Promise<PrincipalCount[]>;
  categoryCounts(query: TimeWindow): Promise<CategoryCount[]>;
  containment(query: TimeWindow): Promise<Containment>;
  signalCounts(query: SignalCountsQuery): Promise<SignalCount[]>;
  searchEvents(query: EventSearch): Promise<EventPage>;
  /** Guard policies that made decisions in the window, the most recently used first. */
  policyVersions(query: TimeWindow): Promise<PolicyVersion[]>;
  /** Latency percentiles of all decisions in the window (or one stage's). */
  latency(query: LatencyQuery): Promise<LatencyPercentiles | null>;
  /** Histograms for drift (per principal and route). */
  distribution(query: DistributionQuery): Promise<DistributionRow[]>;
  /** Script and block counts for drift (per principal and route). */
  mix(query: TimeWindow): Promise<MixRow[]>;
}

export class AggregateQueryError extends Error {
  override readonly name = "AggregateQueryError";
}

// ---------------------------------------------------------------------------
// Shared definitions

/** Latency histogram bounds in microseconds: 8 bins per doubling from 1 µs to beyond 100 s. */
export const LATENCY_BOUNDS: readonly number[] = (() => {
  const bounds: number[] = [];
  let previous = 0;
  for (let i = 0; ; i++) {
    const value = Math.max(previous + 1, Math.round(2 ** (i / 8)));
    bounds.push(value);
    previous = value;
    if (value > 100_000_000) return bounds;
  }
})();

/** Score bins: 20 of width 0.05 (bin 19 includes 1.0). */
export const SCORE_BOUNDS: readonly number[] = Array.from({ length: 19 }, (_, i) => Math.round((i + 1) * 5) / 100);

/** Input length bins (characters): 4 per doubling from 1 to 1 Mi. */
export const LENGTH_BOUNDS: readonly number[] = (() => {
  const bounds: number[] = [];
  let previous = 0;
  for (let i = 0; i <= 80; i++) {
    const value = Math.max(previous + 1, Math.round(2 ** (i / 4)));
    bounds.push(value);
    previous = value;
  }
  return bounds;
})();

export function binsFor(metric: DistributionMetric): readonly number[] {
  return metric === "score" ? SCORE_BOUNDS : LENGTH_BOUNDS;
}

/** The number of bounds <= value: PostgreSQL's width_bucket(value, bounds) for a sorted array. */
export function binOf(value: number, bounds: readonly number[]): number {
  let low = 0;
  let high = bounds.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (bounds[mid]! <= value) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** Percentiles from a latency histogram (bin -> count). */
export function percentilesOf(histogram: ReadonlyMap<number, number>): LatencyPercentiles | null {
  let total = 0;
  for (const count of histogram.values()) total += count;
  if (total === 0) return null;
  const bins = [...histogram.keys()].sort((a, b) => a - b);
  const at = (p: number): number => {
    const rank = Math.ceil(p * total);
    let seen = 0;
    for (const bin of bins) {
      seen += histogram.get(bin)!;
      if (seen >= rank) return LATENCY_BOUNDS[Math.min(bin, LATENCY_BOUNDS.length - 1)]!;
    }
    return LATENCY_BOUNDS[LATENCY_BOUNDS.length - 1]!;
  };
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

const MAX_BUCKETS = 2_000;

export interface CheckedWindow {
  readonly since: Date;
  readonly until: Date;
}

/** Parses and checks a window; errors name the field. */
export function checkWindow(query: TimeWindow, what: string): CheckedWindow {
  const since = parseTime(query.since, `${what}: since`);
  const until = parseTime(query.until, `${what}: until`);
  if (until.getTime() <= since.getTime()) throw new AggregateQueryError(`${what}: until (${query.until}) must be after since (${query.since})`);
  return { since, until };
}

export function parseTime(value: string | undefined, what: string): Date {
  const date = typeof value === "string" ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) throw new AggregateQueryError(`${what} must be an ISO 8601 time, got ${JSON.stringify(value)}`);
  return date;
}

/** Bucket starts (ms) covering the window, aligned to the epoch. */
export function bucketStarts(window: CheckedWindow, bucketSeconds: number, what: string): number[] {
  if (!Number.isInteger(bucketSeconds) || bucketSeconds < 60 || bucketSeconds > 86_400 || bucketSeconds % 60 !== 0) {
    throw new AggregateQueryError(`${what}: bucketSeconds must be a whole number of minutes from 60 to 86400, got ${bucketSeconds}`);
  }
  const width = bucketSeconds * 1000;
  const first = Math.floor(window.since.getTime() / width) * width;
  const count = Math.ceil((window.until.getTime() - first) / width);
  if (count > MAX_BUCKETS) throw new AggregateQueryError(`${what}: ${count} buckets requested, at most ${MAX_BUCKETS}: widen bucketSeconds or narrow the window`);
  return Array.from({ length: count }, (_, i) => first + i * width);
}

export function clampLimit(value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value)) return fallback;
  return Math.min(Math.max(Math.trunc(value), 1), max);
}

export function emptyBucket(start: number): DecisionBucket {
  return { start: new Date(start).toISOString(), total: 0, allow: 0, flag: 0, redact: 0, block: 0, degraded: 0, degradedBlocked: 0, blockRate: 0, latencyUs: null };
}

/** Layer statuses that count as a failure (ok and skipped do not). */
export const FAULT_STATUSES: ReadonlySet<string> = new Set(["error", "timeout", "malformed"]);
