/** The aggregate queries answered by scanning every event: the memory store's (tests, demos). Same definitions as the SQL store's. */
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
  type MixRow,
  type PolicyVersion,
  type PrincipalCount,
  type SignalCount,
  type SignalCountsQuery,
  type TimeWindow,
  type TopPrincipalsQuery,
} from "./aggregates.js";
import { typeMatches } from "./columns.js";
import { containmentFrom } from "./sql-aggregates.js";
import type { AuditEvent, DecisionEvent, StoredEvent } from "./types.js";

export class MemoryAggregates implements EventAggregates {
  /** `events` lists the stored events oldest first. */
  constructor(private readonly events: () => readonly StoredEvent[]) {}

  private decisions(since: Date, until: Date): DecisionEvent[] {
    const out: DecisionEvent[] = [];
    for (const { event } of this.events()) {
      if (event.kind !== "decision") continue;
      const t = Date.parse(event.time);
      if (t >= since.getTime() && t < until.getTime()) out.push(event);
    }
    return out;
  }

  async decisionSeries(query: DecisionSeriesQuery): Promise<DecisionBucket[]> {
    const window = checkWindow(query, "decisionSeries");
    const starts = bucketStarts(window, query.bucketSeconds, "decisionSeries");
    if (query.stage !== undefined && query.stage !== "input" && query.stage !== "output") {
      throw new AggregateQueryError(`decisionSeries: stage must be input or output, got ${JSON.stringify(query.stage)}`);
    }
    const width = query.bucketSeconds * 1000;
    const first = starts[0]!;
    const tallies = starts.map(() => ({ total: 0, allow: 0, flag: 0, redact: 0, block: 0, degraded: 0, degradedBlocked: 0, histogram: new Map<number, number>() }));
    for (const event of this.decisions(new Date(first), new Date(first + starts.length * width))) {
      if (query.stage !== undefined && event.stage !== query.stage) continue;
      const tally = tallies[Math.floor((Date.parse(event.time) - first) / width)]!;
      tally.total++;
      tally[event.action]++;
      if (event.degraded) {
        tally.degraded++;
        if (event.action === "block") tally.degradedBlocked++;
      }
      const bin = Math.min(binOf(event.latencyUs, LATENCY_BOUNDS), LATENCY_BOUNDS.length - 1);
      tally.histogram.set(bin, (tally.histogram.get(bin) ?? 0) + 1);
    }
    return starts.map((start, i) => {
      const { histogram, ...counts } = tallies[i]!;
      if (counts.total === 0) return emptyBucket(start);
      return { start: new Date(start).toISOString(), ...counts, blockRate: counts.block / counts.total, latencyUs: percentilesOf(histogram) };
    });
  }

  async latency(query: LatencyQuery): Promise<LatencyPercentiles | null> {
    const window = checkWindow(query, "latency");
    if (query.stage !== undefined && query.stage !== "input" && query.stage !== "output") throw new AggregateQueryError(`latency: stage must be input or output, got ${JSON.stringify(query.stage)}`);
    const histogram = new Map<number, number>();
    for (const event of this.decisions(window.since, window.until)) {
      if (query.stage !== undefined && event.stage !== query.stage) continue;
      const bin = Math.min(binOf(event.latencyUs, LATENCY_BOUNDS), LATENCY_BOUNDS.length - 1);
      histogram.set(bin, (histogram.get(bin) ?? 0) + 1);
    }
    return percentilesOf(histogram);
  }

  async policyVersions(query: TimeWindow): Promise<PolicyVersion[]> {
    const window = checkWindow(query, "policyVersions");
    const versions = new Map<string, { policyName: string; policyHash: string; decisions: number; firstSeen: string; lastSeen: string }>();
    for (const event of this.decisions(window.since, window.until)) {
      const key = `${event.policyName}\u0000${event.policyHash}`;
      const time = new Date(event.time).toISOString();
      const entry = versions.get(key);
      if (!entry) versions.set(key, { policyName: event.policyName, policyHash: event.policyHash, decisions: 1, firstSeen: time, lastSeen: time });
      else {
        entry.decisions++;
        if (time < entry.firstSeen) entry.firstSeen = time;
        if (time > entry.lastSeen) entry.lastSeen = time;
      }
    }
    return [...versions.values()].sort((a, b) => compare(b.lastSeen, a.lastSeen) || compare(a.policyHash, b.policyHash)).slice(0, 100);
  }

  async topPrincipals(query: TopPrincipalsQuery): Promise<PrincipalCount[]> {
    const window = checkWindow(query, "topPrincipals");
    const limit = clampLimit(query.limit, 10, 100);
    if (query.by !== undefined && query.by !== "decisions" && query.by !== "blocks") throw new AggregateQueryError(`topPrincipals: by must be decisions or blocks, got ${JSON.stringify(query.by)}`);
    const byPrincipal = new Map<string, { decisions: number; blocks: number; flags: number; redacts: number; degraded: number }>();
    for (const event of this.decisions(window.since, window.until)) {
      const entry = byPrincipal.get(event.principal) ?? { decisions: 0, blocks: 0, flags: 0, redacts: 0, degraded: 0 };
      entry.decisions++;
      if (event.action === "block") entry.blocks++;
      if (event.action === "flag") entry.flags++;
      if (event.action === "redact") entry.redacts++;
      if (event.degraded) entry.degraded++;
      byPrincipal.set(event.principal, entry);
    }
    const primary = query.by === "blocks" ? "blocks" : "decisions";
    const secondary = query.by === "blocks" ? "decisions" : "blocks";
    return [...byPrincipal.entries()]
      .map(([principal, counts]) => ({ principal, ...counts, blockRate: counts.decisions ? counts.blocks / counts.decisions : 0 }))
      .sort((a, b) => b[primary] - a[primary] || b[secondary] - a[secondary] || compare(a.principal, b.principal))
      .slice(0, limit);
  }

  async categoryCounts(query: TimeWindow): Promise<CategoryCount[]> {
    const window = checkWindow(query, "categoryCounts");
    const counts = new Map<string, { decisions: number; blocks: number }>();
    for (const event of this.decisions(window.since, window.until)) {
      for (const category of new Set(event.categories)) {
        const entry = counts.get(category) ?? { decisions: 0, blocks: 0 };
        entry.decisions++;
        if (event.action === "block") entry.blocks++;
        counts.set(category, entry);
      }
    }
    return [...counts.entries()].map(([category, c]) => ({ category, ...c })).sort((a, b) => b.decisions - a.decisions || compare(a.category, b.category));
  }

  async containment(query: TimeWindow): Promise<Containment> {
    const window = checkWindow(query, "containment");
    const decisions = this.decisions(window.since, window.until);
    const rows: Array<{ layer: string; status: string; action: string; n: number }> = [];
    for (const event of decisions) {
      const failed = new Set(event.layers.filter((layer) => FAULT_STATUSES.has(layer.status)).map((layer) => `${layer.name}:${layer.status}`));
      for (const fault of failed) {
        const [layer, status] = fault.split(":") as [string, string];
        rows.push({ layer, status, action: event.action, n: 1 });
      }
      if (event.degraded) rows.push({ layer: "*", status: "degraded", action: event.action, n: 1 });
    }
    return containmentFrom(decisions.length, rows);
  }

  async signalCounts(query: SignalCountsQuery): Promise<SignalCount[]> {
    const window = checkWindow(query, "signalCounts");
    const counts = new Map<string, SignalCount>();
    for (const { event } of this.events()) {
      if (event.kind !== "signal" || !inWindow(event.time, window)) continue;
      if (query.type !== undefined && !typeMatches(event.type, query.type)) continue;
      const key = `${event.type}\u0000${event.severity}`;
      const entry = counts.get(key);
      counts.set(key, { type: event.type, severity: event.severity, count: (entry?.count ?? 0) + 1 });
    }
    return [...counts.values()].sort((a, b) => b.count - a.count || compare(a.type, b.type) || compare(a.severity, b.severity));
  }

  async searchEvents(query: EventSearch): Promise<EventPage> {
    const limit = clampLimit(query.limit, 50, 500);
    const since = query.since !== undefined ? parseTime(query.since, "searchEvents: since").getTime() : undefined;
    const until = query.until !== undefined ? parseTime(query.until, "searchEvents: until").getTime() : undefined;
    if (query.beforeSeq !== undefined && !Number.isInteger(query.beforeSeq)) {
      throw new AggregateQueryError(`searchEvents: beforeSeq must be an integer, got ${JSON.stringify(query.beforeSeq)}`);
    }
    const all = this.events();
    const out: StoredEvent[] = [];
    let more = false;
    for (let i = all.length - 1; i >= 0; i--) {
      const stored = all[i]!;
      if (!matches(stored, query, since, until)) continue;
      if (out.length === limit) {
        more = true;
        break;
      }
      out.push(stored);
    }
    return { events: out, nextBeforeSeq: more ? out[out.length - 1]!.seq : null };
  }

  async distribution(query: DistributionQuery): Promise<DistributionRow[]> {
    const window = checkWindow(query, "distribution");
    if (query.metric !== "score" && query.metric !== "length") throw new AggregateQueryError(`distribution: metric must be score or length, got ${JSON.stringify(query.metric)}`);
    const bounds = binsFor(query.metric);
    const counts = new Map<string, DistributionRow>();
    for (const event of this.decisions(window.since, window.until)) {
      if (event.stage !== (query.stage ?? "input")) continue;
      const value = query.metric === "score" ? event.score : event.textLength;
      if (value === undefined) continue;
      const bin = binOf(value, bounds);
      const key = JSON.stringify([event.principal, event.route, bin]);
      counts.set(key, { principal: event.principal, route: event.route, bin, count: (counts.get(key)?.count ?? 0) + 1 });
    }
    return [...counts.values()];
  }

  async mix(query: TimeWindow): Promise<MixRow[]> {
    const window = checkWindow(query, "mix");
    const counts = new Map<string, MixRow>();
    for (const event of this.decisions(window.since, window.until)) {
      if (event.stage !== "input") continue;
      const script = event.script ?? "unknown";
      const key = JSON.stringify([event.principal, event.route, script]);
      const entry = counts.get(key);
      counts.set(key, {
        principal: event.principal,
        route: event.route,
        script,
        decisions: (entry?.decisions ?? 0) + 1,
        blocks: (entry?.blocks ?? 0) + (event.action === "block" ? 1 : 0),
      });
    }
    return [...counts.values()];
  }
}

function inWindow(time: string, window: { since: Date; until: Date }): boolean {
  const t = Date.parse(time);
  return t >= window.since.getTime() && t < window.until.getTime();
}

function matches(stored: StoredEvent, query: EventSearch, since: number | undefined, until: number | undefined): boolean {
  const event: AuditEvent = stored.event;
  const t = Date.parse(event.time);
  if (since !== undefined && t < since) return false;
  if (until !== undefined && t >= until) return false;
  if (query.beforeSeq !== undefined && stored.seq >= query.beforeSeq) return false;
  if (query.kind !== undefined && event.kind !== query.kind) return false;
  const principal = event.kind === "gap" ? undefined : event.principal;
  if (query.principal !== undefined && principal !== query.principal) return false;
  const route = event.kind === "gap" ? undefined : event.route;
  if (query.route !== undefined && route !== query.route) return false;
  if (query.action !== undefined && (event.kind !== "decision" || event.action !== query.action)) return false;
  if (query.category !== undefined && (event.kind !== "decision" || !event.categories.includes(query.category))) return false;
  if (query.type !== undefined && (event.kind !== "signal" || !typeMatches(event.type, query.type))) return false;
  return true;
}

/** Tie-break order for names (byte order; the SQL stores use the database collation, equal for lower-case ASCII names). */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
