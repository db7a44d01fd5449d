/**
 * The monitor loop: every `monitor.intervalSeconds` it computes drift and the
 * objectives from the event store and records what changed as signal events
 * (drift.*, slo.breach, slo.recovered) through the gateway's event writer, where
 * incidents and alerts see them. A finding is recorded when it appears (or its
 * severity rises), not again while it lasts. The clock and the timer are
 * injectable, so tests drive it without waiting.
 */
import type { MonitorOptions } from "../policy/monitor.js";
import type { EventAggregates } from "../store/aggregates.js";
import type { SignalEvent } from "../store/types.js";
import { sortableId } from "../util/sortable-id.js";
import { BaselineCache, detectDrift, type DriftFinding } from "./drift.js";
import { evaluateObjectives, type ObjectivesReport } from "./objectives.js";

export interface MonitorClock {
  now(): Date;
  /** Calls fn after ms; returns a cancel function. */
  schedule(fn: () => void, ms: number): () => void;
}

export const systemClock: MonitorClock = {
  now: () => new Date(),
  schedule(fn, ms) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};

export interface MonitorDeps {
  readonly store: EventAggregates;
  /** Records a signal (the gateway passes its EventWriter's enqueue). */
  readonly emit: (event: SignalEvent) => void;
  /** The monitor section of the policy in force (read at every tick, so reloads apply). */
  readonly options: () => MonitorOptions;
  readonly clock?: MonitorClock;
  /** A tick that failed (the store down, say); the loop carries on. */
  readonly onError?: (error: unknown) => void;
}

export interface MonitorSnapshot {
  readonly at: string;
  readonly drift: readonly DriftFinding[];
  readonly objectives: ObjectivesReport;
  /** Signals recorded by this tick. */
  readonly emitted: readonly SignalEvent[];
  readonly durationMs: number;
}

const SEVERITY_RANK = { info: 0, low: 1, medium: 2, high: 3, critical: 4 } as const;

export class Monitor {
  private readonly clock: MonitorClock;
  /** Drift findings in force: key -> severity. */
  private readonly activeDrift = new Map<string, DriftFinding["severity"]>();
  private readonly breached = new Set<string>();
  /** Baseline histograms change once an hour: read once, not every tick. */
  private readonly baselines = new BaselineCache();
  private cancel: (() => void) | undefined;
  private running: Promise<MonitorSnapshot | null> | undefined;
  private last: MonitorSnapshot | null = null;
  private stopped = true;

  constructor(private readonly deps: MonitorDeps) {
    this.clock = deps.clock ?? systemClock;
  }

  /** The last tick's result (for the admin API, the dashboard and the report). */
  latest(): MonitorSnapshot | null {
    return this.last;
  }

  /** Computes drift and objectives once and records the changes. */
  async tick(): Promise<MonitorSnapshot> {
    const started = this.clock.now();
    const options = this.deps.options();
    const drift = options.drift.enabled ? await detectDrift(this.deps.store, started, options.drift, this.baselines) : [];
    this.baselines.prune();
    const objectives = await evaluateObjectives(this.deps.store, started, options.objectives);
    const emitted: SignalEvent[] = [];
    const emit = (event: Omit<SignalEvent, "kind" | "id" | "time">): void => {
      const signal: SignalEvent = { kind: "signal", id: sortableId(), time: this.clock.now().toISOString(), ...event };
      emitted.push(signal);
      this.deps.emit(signal);
    };

    const seen = new Set<string>();
    for (const finding of drift) {
      const key = `${finding.type}|${finding.scope}|${finding.key}|${finding.metric}`;
      seen.add(key);
      const before = this.activeDrift.get(key);
      if (before === undefined || SEVERITY_RANK[finding.severity] > SEVERITY_RANK[before]) {
        emit({
          type: finding.type,
          severity: finding.severity,
          ...(finding.scope === "principal" ? { principal: finding.key } : finding.scope === "route" ? { route: finding.key } : {}),
          summary: finding.summary,
          detail: finding.detail,
        });
      }
      this.activeDrift.set(key, finding.severity);
    }
    for (const key of [...this.activeDrift.keys()]) if (!seen.has(key)) this.activeDrift.delete(key);

    const configured = new Map(options.objectives.map((objective) => [objective.name, objective]));
    for (const status of objectives.objectives) {
      const objective = configured.get(status.name)!;
      const detail = {
        objective: status.name,
        metric: status.metric,
        max: status.max,
        observed: status.observed === null ? null : round(status.observed),
        budgetLeft: status.budgetLeft === null ? null : round(status.budgetLeft),
        spent: status.spent,
        budget: status.budget === null ? null : round(status.budget),
        decisions: status.decisions,
        windowHours: status.windowHours,
      };
      if (status.status === "breached" && !this.breached.has(status.name)) {
        this.breached.add(status.name);
        emit({
          type: "slo.breach",
          severity: objective.severity,
          summary: `Objective ${status.name} breached: ${status.metric} ${format(status.observed)} over the last ${status.windowHours} h, boundary ${format(status.max)}`,
          detail,
        });
      } else if (status.status !== "breached" && this.breached.has(status.name)) {
        this.breached.delete(status.name);
        emit({ type: "slo.recovered", severity: "info", summary: `Objective ${status.name} back within its boundary: ${status.metric} ${format(status.observed)}`, detail });
      }
    }
    for (const name of [...this.breached]) if (!configured.has(name)) this.breached.delete(name);

    const snapshot: MonitorSnapshot = { at: started.toISOString(), drift, objectives, emitted, durationMs: this.clock.now().getTime() - started.getTime() };
    this.last = snapshot;
    return snapshot;
  }

  /** Runs tick() every intervalSeconds (the first after one interval) until stop(). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.scheduleNext();
  }

  private scheduleNext(): void {
    if (this.stopped) return;
    this.cancel = this.clock.schedule(() => {
      this.running = this.tick().catch((error: unknown) => {
        this.deps.onError?.(error);
        return null;
      });
      void this.running.finally(() => this.scheduleNext());
    }, this.deps.options().intervalSeconds * 1000);
  }

  /** Stops the loop and waits for a tick in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancel?.();
    this.cancel = undefined;
    await this.running;
  }
}

const round = (x: number): number => Math.round(x * 1e6) / 1e6;
const format = (x: number | null): string => (x === null ? "n/a" : Math.abs(x) < 0.1 && x !== 0 ? String(Number(x.toPrecision(2))) : String(Math.round(x * 100) / 100));
