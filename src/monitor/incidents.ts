/**
 * Incidents: opened by rule from what the gateway records, with a lifecycle
 * (open -> acknowledged -> resolved), a timeline of the events that opened and
 * fed each one plus its lifecycle changes, the runbook link its rule names, and
 * an export (JSON and Markdown).
 *
 * The engine sees events as they are handed to the event writer (`observe`,
 * synchronous and cheap) rather than polling the store. Built-in rules:
 *   canary-leak      a guard decision with category canary_leak
 *   quarantine       a quarantine.added signal (limits)
 *   drift            a drift.* signal (the monitor raises them beyond their threshold)
 *   objective-breach an slo.breach signal (a failure boundary breached, treated like drift)
 *   scan-regression  a scan.regression signal (scheduled scans, monitor/schedules.ts)
 * plus configured rules: signal type (or prefix) and least severity, or decision
 * category and action; N matching events within a window. Events for a rule
 * and group (principal, route or none) that has an unresolved incident join
 * its timeline instead of opening another.
 *
 * Every change is stored (store.putIncident) and also emitted as a signal event
 * (incident.opened / incident.acknowledged / incident.resolved), so the audit
 * chain holds the history and the alert dispatcher sends it on.
 */
import { z } from "zod";
import type { AuditEvent, EventStore, IncidentRow, SignalEvent } from "../store/types.js";
import { sortableId } from "../util/sortable-id.js";
import { SEVERITIES, severityRank, SignalTypePattern, type Severity } from "./alerts.js";

const ruleId = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "lower-case letters, digits, - and _ (up to 64)");

export const IncidentRuleConfig = z
  .strictObject({
    id: ruleId.describe("The rule's name; a configured rule with a built-in rule's id replaces it."),
    title: z.string().min(1).max(200).optional().describe("The incident's title (the rule id otherwise)."),
    match: z
      .strictObject({
        kind: z.enum(["signal", "decision"]).default("signal").describe("Match signal events or guard decisions."),
        type: SignalTypePattern.optional().describe("Signals: the type, a dotted prefix (`anomaly.`) or `*`."),
        minSeverity: z.enum(SEVERITIES).optional().describe("Signals: least severity."),
        category: z.string().regex(/^[a-z_]{1,64}$/).optional().describe("Decisions: a category the decision carries (e.g. prompt_injection)."),
        action: z.enum(["allow", "flag", "redact", "block"]).optional().describe("Decisions: the action taken."),
      })
      .describe("Which events count."),
    count: z.number().int().min(1).max(10_000).default(1).describe("Matching events within the window that open an incident."),
    windowSeconds: z.number().int().min(1).max(604_800).default(300).describe("The window for `count`."),
    groupBy: z.enum(["principal", "route", "none"]).default("principal").describe("Separate incidents per principal, per route, or one for the rule."),
    severity: z.enum(SEVERITIES).optional().describe("The incident's severity (the most severe matching event's otherwise; decisions count as high)."),
    runbook: z.url().optional().describe("Link to the runbook for this kind of incident."),
    enabled: z.boolean().default(true),
  })
  .superRefine((rule, ctx) => {
    if (rule.match.kind === "signal" && !rule.match.type) ctx.addIssue({ code: "custom", path: ["match", "type"], message: "a signal type to match (e.g. anomaly.rate, anomaly. or *)", input: undefined });
    if (rule.match.kind === "signal" && (rule.match.category || rule.match.action)) ctx.addIssue({ code: "custom", path: ["match"], message: "category and action only for kind: decision", input: rule.match });
    if (rule.match.kind === "decision" && (rule.match.type || rule.match.minSeverity)) ctx.addIssue({ code: "custom", path: ["match"], message: "type and minSeverity only for kind: signal", input: rule.match });
  })
  .describe("A rule that opens incidents.");

export const IncidentsConfig = z
  .strictObject({
    builtin: z.boolean().default(true).describe("Use the built-in rules (canary-leak, quarantine, drift, objective-breach, scan-regression)."),
    runbooks: z.record(ruleId, z.url()).default({}).describe("Runbook link per rule id (built-in or configured; a rule's own `runbook` wins)."),
    rules: z.array(IncidentRuleConfig).default([]),
    timelineLimit: z.number().int().min(10).max(10_000).default(500).describe("Most events kept in one incident's timeline (later ones are counted)."),
    ignorePrincipals: z.array(z.string().min(1)).default([]).describe("Principals whose events never open or feed incidents, except scan.* signals (scheduled scans' principals are added automatically: their attacks are deliberate)."),
  })
  .describe("Incidents: rules, runbooks.");

export type IncidentRuleSpec = z.output<typeof IncidentRuleConfig>;
export type IncidentsSpec = z.output<typeof IncidentsConfig>;
export type IncidentsInput = z.input<typeof IncidentsConfig>;

export const BUILTIN_RULES: readonly IncidentRuleSpec[] = [
  { id: "canary-leak", title: "Canary token leaked (the system prompt is leaking)", match: { kind: "decision", category: "canary_leak" }, count: 1, windowSeconds: 300, groupBy: "principal", severity: "critical", enabled: true },
  { id: "quarantine", title: "Principal quarantined", match: { kind: "signal", type: "quarantine.added" }, count: 1, windowSeconds: 300, groupBy: "principal", severity: "high", enabled: true },
  { id: "drift", title: "Drift beyond threshold", match: { kind: "signal", type: "drift." }, count: 1, windowSeconds: 300, groupBy: "none", enabled: true },
  { id: "objective-breach", title: "Failure boundary breached", match: { kind: "signal", type: "slo.breach" }, count: 1, windowSeconds: 300, groupBy: "none", enabled: true },
  { id: "scan-regression", title: "Scheduled scan regressed", match: { kind: "signal", type: "scan.regression" }, count: 1, windowSeconds: 300, groupBy: "principal", severity: "high", enabled: true },
];

export type IncidentStatus = IncidentRow["status"];

export interface TimelineEntry {
  readonly at: string;
  /** `trigger`: an event that opened the incident; `event`: one that fed it later; the rest are lifecycle changes. */
  readonly kind: "trigger" | "event" | "opened" | "acknowledged" | "resolved";
  readonly summary: string;
  readonly eventId?: string;
  /** For events: `decision` or the signal's type. */
  readonly eventType?: string;
  readonly severity?: string;
  readonly principal?: string;
  readonly by?: string;
  readonly note?: string;
}

export interface Incident {
  readonly id: string;
  readonly rule: string;
  readonly title: string;
  severity: Severity;
  status: IncidentStatus;
  /** What separates incidents of one rule: `principal:NAME`, `route:PATH` or `*`. */
  readonly group: string;
  readonly principal?: string;
  readonly route?: string;
  readonly runbook?: string;
  readonly openedAt: string;
  updatedAt: string;
  acknowledgedAt?: string;
  acknowledgedBy?: string;
  resolvedAt?: string;
  resolvedBy?: string;
  /** Events that matched the rule (triggers and later ones), including any beyond the timeline limit. */
  eventCount: number;
  /** Events not kept in the timeline because it was full. */
  eventsOmitted: number;
  readonly timeline: TimelineEntry[];
}

export interface IncidentEngineOptions {
  readonly store: EventStore;
  /** Where incident.* signals go: the gateway's event writer. */
  emit(event: SignalEvent): void;
  readonly config: IncidentsSpec;
  /** Store failures (never thrown to the caller). */
  onError?(message: string, error: unknown): void;
  onChange?(incident: Incident, change: "opened" | "acknowledged" | "resolved"): void;
  readonly now?: () => Date;
}

interface Match {
  readonly event: AuditEvent;
  readonly at: number;
}

export class IncidentError extends Error {
  constructor(
    readonly status: 404 | 409,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const SEVERITY_OF_DECISION: Severity = "high";
const SWEEP_EVERY = 1_000;
const PERSIST_DELAY_MS = 500;
/** Most rule-and-group windows counting towards an incident at once. */
const MAX_WINDOWS = 100_000;

export class IncidentEngine {
  private rules: IncidentRuleSpec[] = [];
  private ignored = new Set<string>();
  /** Unresolved incidents by rule and group. */
  private readonly active = new Map<string, Incident>();
  /** Matches waiting for their rule's count, by rule and group. */
  private readonly windows = new Map<string, Match[]>();
  private readonly writes = new Map<string, Promise<void>>();
  private matchesSinceSweep = 0;
  /** Incidents fed by events, waiting for their coalesced write. */
  private readonly delayed = new Map<string, { incident: Incident; timer: NodeJS.Timeout }>();
  private readonly now: () => Date;
  private config: IncidentsSpec;

  constructor(private readonly options: IncidentEngineOptions) {
    this.now = options.now ?? (() => new Date());
    this.config = options.config;
    this.reconfigure(options.config);
  }

  /** The rules in force (built-in ones first, replaced by configured rules of the same id). */
  get activeRules(): readonly IncidentRuleSpec[] {
    return this.rules;
  }

  /** Rule-and-group windows counting towards an incident (bounded; stale ones are swept). */
  get countingWindows(): number {
    return this.windows.size;
  }

  reconfigure(config: IncidentsSpec, extraIgnored: readonly string[] = []): void {
    this.config = config;
    const configured = new Map(config.rules.map((rule) => [rule.id, rule]));
    const builtin = config.builtin ? BUILTIN_RULES.filter((rule) => !configured.has(rule.id)) : [];
    this.rules = [...builtin, ...config.rules].filter((rule) => rule.enabled);
    this.ignored = new Set([...config.ignorePrincipals, ...extraIgnored]);
    const ids = new Set(this.rules.map((rule) => rule.id));
    for (const key of this.windows.keys()) if (!ids.has(key.split("\u0000")[0]!)) this.windows.delete(key);
  }

  /** Loads unresolved incidents from the store, so events after a restart join them. */
  async load(): Promise<void> {
    for (const status of ["open", "acknowledged"] as const) {
      for (const row of await this.options.store.listIncidents({ status, limit: 1000 })) {
        const incident = parseIncident(row);
        if (incident) this.active.set(activeKey(incident.rule, incident.group), incident);
      }
    }
  }

  /** Takes any audit event; synchronous, never throws. */
  observe(event: AuditEvent): void {
    try {
      if (event.kind === "signal" && event.type.startsWith("incident.")) return;
      if (event.kind !== "signal" && event.kind !== "decision") return;
      // Ignored principals (scheduled scans) attack on purpose; their scans' own verdicts (scan.*) still count.
      if (event.principal && this.ignored.has(event.principal) && !(event.kind === "signal" && event.type.startsWith("scan."))) return;
      for (const rule of this.rules) if (matches(rule, event)) this.matched(rule, event);
    } catch (error) {
      this.options.onError?.("incident rule evaluation failed", error);
    }
  }

  async list(query: { status?: IncidentStatus; limit?: number; before?: string } = {}): Promise<Incident[]> {
    await this.flush();
    const rows = await this.options.store.listIncidents({ ...(query.status ? { status: query.status } : {}), limit: query.limit ?? 100, ...(query.before ? { beforeId: query.before } : {}) });
    return rows.map(parseIncident).filter((incident): incident is Incident => incident !== null).map((stored) => this.freshest(stored));
  }

  async get(id: string): Promise<Incident | null> {
    const live = [...this.active.values()].find((incident) => incident.id === id);
    if (live) return live;
    await this.flush();
    const row = await this.options.store.getIncident(id);
    return row ? parseIncident(row) : null;
  }

  async acknowledge(id: string, by: string, note?: string): Promise<Incident> {
    const incident = await this.require(id);
    if (incident.status !== "open") throw new IncidentError(409, "incident_not_open", `Incident ${id} is ${incident.status}; only an open incident can be acknowledged.`);
    const at = this.now().toISOString();
    incident.status = "acknowledged";
    incident.acknowledgedAt = at;
    incident.acknowledgedBy = by;
    this.change(incident, "acknowledged", at, by, note);
    return incident;
  }

  async resolve(id: string, by: string, note?: string): Promise<Incident> {
    const incident = await this.require(id);
    if (incident.status === "resolved") throw new IncidentError(409, "incident_resolved", `Incident ${id} is already resolved.`);
    const at = this.now().toISOString();
    incident.status = "resolved";
    incident.resolvedAt = at;
    incident.resolvedBy = by;
    this.active.delete(activeKey(incident.rule, incident.group));
    this.change(incident, "resolved", at, by, note);
    return incident;
  }

  /** Writes what waits for a coalesced write, and waits for every pending store write. */
  async flush(): Promise<void> {
    for (const { incident } of [...this.delayed.values()]) this.persist(incident);
    while (this.writes.size > 0) await Promise.allSettled([...this.writes.values()]);
  }

  private freshest(stored: Incident): Incident {
    return this.active.get(activeKey(stored.rule, stored.group))?.id === stored.id ? this.active.get(activeKey(stored.rule, stored.group))! : stored;
  }

  private async require(id: string): Promise<Incident> {
    const incident = await this.get(id);
    if (!incident) throw new IncidentError(404, "incident_not_found", `No incident with id ${JSON.stringify(id.slice(0, 64))}.`);
    // An unresolved incident loaded from the store (not in memory, e.g. opened by another replica) becomes the live one.
    if (incident.status !== "resolved") {
      const key = activeKey(incident.rule, incident.group);
      const live = this.active.get(key);
      if (live && live.id === incident.id) return live;
      if (!live) this.active.set(key, incident);
    }
    return incident;
  }

  private matched(rule: IncidentRuleSpec, event: AuditEvent): void {
    const group = groupOf(rule, event);
    const key = activeKey(rule.id, group);
    const live = this.active.get(key);
    if (live) {
      this.addEvent(live, event, "event");
      if (rule.severity === undefined && severityRank(eventSeverity(event)) > severityRank(live.severity)) live.severity = eventSeverity(event);
      live.updatedAt = this.now().toISOString();
      this.persist(live, true);
      return;
    }
    const at = this.now().getTime();
    if (++this.matchesSinceSweep >= SWEEP_EVERY || this.windows.size > MAX_WINDOWS) this.sweep(at);
    const window = this.windows.get(key) ?? [];
    const cutoff = at - rule.windowSeconds * 1000;
    let expired = 0;
    while (expired < window.length && window[expired]!.at <= cutoff) expired++;
    if (expired > 0) window.splice(0, expired);
    window.push({ event, at });
    if (window.length < rule.count) {
      this.windows.set(key, window);
      return;
    }
    this.windows.delete(key);
    this.open(rule, group, window);
  }

  /** Drops windows whose events all aged out (one per rule and group: many principals must not grow memory without end). */
  private sweep(at: number): void {
    this.matchesSinceSweep = 0;
    const windowMs = new Map(this.rules.map((rule) => [rule.id, rule.windowSeconds * 1000]));
    for (const [key, matches] of this.windows) {
      const span = windowMs.get(key.split("\u0000")[0]!) ?? 0;
      if (matches.every((match) => match.at <= at - span)) this.windows.delete(key);
    }
    // Still too many live windows (a flood of distinct principals): drop the oldest; counting restarts for them.
    if (this.windows.size > MAX_WINDOWS) {
      const oldest = [...this.windows].sort((a, b) => a[1][a[1].length - 1]!.at - b[1][b[1].length - 1]!.at).slice(0, this.windows.size - MAX_WINDOWS / 2);
      for (const [key] of oldest) this.windows.delete(key);
    }
  }

  private open(rule: IncidentRuleSpec, group: string, triggers: readonly Match[]): void {
    const first = triggers[0]!.event;
    const opened = this.now().toISOString();
    const severity = rule.severity ?? triggers.map((match) => eventSeverity(match.event)).reduce((a, b) => (severityRank(b) > severityRank(a) ? b : a), "info" as Severity);
    const runbook = rule.runbook ?? this.config.runbooks[rule.id];
    const principal = principalOf(first);
    const route = routeOf(first);
    const incident: Incident = {
      id: sortableId(),
      rule: rule.id,
      title: rule.title ?? rule.id,
      severity,
      status: "open",
      group,
      ...(rule.groupBy === "principal" && principal ? { principal } : {}),
      ...(rule.groupBy === "route" && route ? { route } : {}),
      ...(runbook ? { runbook } : {}),
      openedAt: opened,
      updatedAt: opened,
      eventCount: 0,
      eventsOmitted: 0,
      timeline: [],
    };
    for (const match of triggers) this.addEvent(incident, match.event, "trigger");
    this.active.set(activeKey(rule.id, group), incident);
    this.change(incident, "opened", opened, "bulwark", `rule ${rule.id}: ${triggers.length} matching event${triggers.length === 1 ? "" : "s"}${rule.count > 1 ? ` within ${rule.windowSeconds} s` : ""}`);
  }

  private addEvent(incident: Incident, event: AuditEvent, kind: "trigger" | "event"): void {
    incident.eventCount++;
    if (incident.timeline.length >= this.config.timelineLimit) {
      incident.eventsOmitted++;
      return;
    }
    const principal = principalOf(event);
    incident.timeline.push({
      at: event.time,
      kind,
      summary: eventSummary(event),
      eventId: event.id,
      eventType: event.kind === "signal" ? event.type : event.kind,
      severity: eventSeverity(event),
      ...(principal ? { principal } : {}),
    });
  }

  private change(incident: Incident, change: "opened" | "acknowledged" | "resolved", at: string, by: string, note?: string): void {
    incident.updatedAt = at;
    incident.timeline.push({ at, kind: change, summary: `${change} by ${by}${note ? `: ${note}` : ""}`, by, ...(note ? { note } : {}) });
    this.persist(incident);
    const summary =
      change === "opened"
        ? `Incident opened: ${incident.title}${incident.principal ? ` (principal ${incident.principal})` : ""}, ${incident.eventCount} event${incident.eventCount === 1 ? "" : "s"}`
        : `Incident ${change} by ${by}: ${incident.title}${note ? ` (${note.slice(0, 200)})` : ""}`;
    try {
      this.options.emit({
        kind: "signal",
        id: sortableId(),
        time: at,
        type: `incident.${change}`,
        severity: incident.severity,
        ...(incident.principal ? { principal: incident.principal } : {}),
        ...(incident.route ? { route: incident.route } : {}),
        summary,
        detail: {
          incident: incident.id,
          rule: incident.rule,
          title: incident.title,
          status: incident.status,
          events: incident.eventCount,
          runbook: incident.runbook ?? null,
          by,
          ...(note ? { note: note.slice(0, 500) } : {}),
        },
      });
      this.options.onChange?.(incident, change);
    } catch (error) {
      this.options.onError?.(`incident.${change} could not be recorded`, error);
    }
  }

  /**
   * Writes the incident's current state; writes of one incident are serialised, failures reported, never thrown.
   * `coalesce`: an event fed the incident; during a burst, one write per PERSIST_DELAY_MS carries them all
   * (lifecycle changes write at once).
   */
  private persist(incident: Incident, coalesce = false): void {
    const waiting = this.delayed.get(incident.id);
    if (coalesce) {
      if (waiting) return;
      const timer = setTimeout(() => this.persist(incident), PERSIST_DELAY_MS);
      timer.unref();
      this.delayed.set(incident.id, { incident, timer });
      return;
    }
    if (waiting) {
      clearTimeout(waiting.timer);
      this.delayed.delete(incident.id);
    }
    const previous = this.writes.get(incident.id) ?? Promise.resolve();
    const write = previous
      .then(() => this.options.store.putIncident(toRow(incident)))
      .catch((error: unknown) => this.options.onError?.(`incident ${incident.id} could not be stored`, error))
      .finally(() => {
        if (this.writes.get(incident.id) === write) this.writes.delete(incident.id);
      });
    this.writes.set(incident.id, write);
  }
}

function activeKey(rule: string, group: string): string {
  return `${rule}\u0000${group}`;
}

function matches(rule: IncidentRuleSpec, event: AuditEvent): boolean {
  const { match } = rule;
  if (match.kind === "signal") {
    if (event.kind !== "signal" || !match.type) return false;
    if (!(match.type === "*" || (match.type.endsWith(".") ? event.type.startsWith(match.type) : event.type === match.type))) return false;
    return match.minSeverity === undefined || severityRank(event.severity) >= severityRank(match.minSeverity);
  }
  if (event.kind !== "decision") return false;
  if (match.category && !event.categories.includes(match.category)) return false;
  if (match.action && event.action !== match.action) return false;
  return true;
}

function principalOf(event: AuditEvent): string | undefined {
  return event.kind === "decision" || event.kind === "admin" ? event.principal : event.kind === "signal" ? event.principal : undefined;
}

function routeOf(event: AuditEvent): string | undefined {
  return event.kind === "decision" || event.kind === "admin" ? event.route : event.kind === "signal" ? event.route : undefined;
}

function groupOf(rule: IncidentRuleSpec, event: AuditEvent): string {
  if (rule.groupBy === "principal") return `principal:${principalOf(event) ?? "-"}`;
  if (rule.groupBy === "route") return `route:${routeOf(event) ?? "-"}`;
  return "*";
}

function eventSeverity(event: AuditEvent): Severity {
  if (event.kind === "signal") return (SEVERITIES as readonly string[]).includes(event.severity) ? event.severity : "medium";
  return SEVERITY_OF_DECISION;
}

function eventSummary(event: AuditEvent): string {
  switch (event.kind) {
    case "signal":
      return event.summary.slice(0, 300);
    case "decision":
      return `${event.stage} ${event.action} (${event.categories.join(", ") || "no category"}, score ${event.score}) for ${event.principal} at ${event.location}`;
    case "admin":
      return `admin ${event.operation} by ${event.principal}`;
    case "gap":
      return `${event.dropped} events not recorded`;
  }
}

function toRow(incident: Incident): IncidentRow {
  return { id: incident.id, rule: incident.rule, status: incident.status, severity: incident.severity, openedAt: incident.openedAt, updatedAt: incident.updatedAt, payload: JSON.stringify(incident) };
}

function parseIncident(row: IncidentRow): Incident | null {
  try {
    const incident = JSON.parse(row.payload) as Incident;
    return typeof incident.id === "string" && Array.isArray(incident.timeline) ? incident : null;
  } catch {
    return null;
  }
}

/** The incident as a JSON document (what the export serves). */
export function incidentJson(incident: Incident): Record<string, unknown> {
  return { format: "bulwark-incident", version: 1, ...incident };
}

const cell = (text: string): string => text.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");

/** The incident as Markdown: header facts, runbook, and the timeline as a table. */
export function incidentMarkdown(incident: Incident): string {
  const lines = [
    `# Incident ${incident.id}: ${incident.title}`,
    "",
    `- Status: **${incident.status}**`,
    `- Severity: ${incident.severity}`,
    `- Rule: \`${incident.rule}\``,
    ...(incident.principal ? [`- Principal: ${incident.principal}`] : []),
    ...(incident.route ? [`- Route: ${incident.route}`] : []),
    `- Opened: ${incident.openedAt}`,
    ...(incident.acknowledgedAt ? [`- Acknowledged: ${incident.acknowledgedAt} by ${incident.acknowledgedBy ?? "?"}`] : []),
    ...(incident.resolvedAt ? [`- Resolved: ${incident.resolvedAt} by ${incident.resolvedBy ?? "?"}`] : []),
    `- Events: ${incident.eventCount}${incident.eventsOmitted > 0 ? ` (${incident.eventsOmitted} not listed: the timeline is full)` : ""}`,
    `- Runbook: ${incident.runbook ? `<${incident.runbook}>` : "none configured (incidents.runbooks in the gateway configuration)"}`,
    "",
    "## Timeline",
    "",
    "| Time | Entry | Event | Summary |",
    "| --- | --- | --- | --- |",
    ...incident.timeline.map((entry) => `| ${entry.at} | ${entry.kind}${entry.by ? ` (${cell(entry.by)})` : ""} | ${entry.eventId ? `${entry.eventType ?? ""} \`${entry.eventId}\`` : ""} | ${cell(entry.summary)} |`),
    "",
    "Event ids resolve in the audit trail: `GET /admin/decisions/ID` (decisions and signals alike), `bulwark audit verify` checks the chain.",
    "",
  ];
  return lines.join("\n");
}
