/**
 * Failure boundaries: the policy's objectives (monitor.objectives) measured
 * from the event store, each with its error budget, plus containment: how
 * many decisions ran degraded, which layer failed how, and what the failure
 * mode then did (blocked = failed closed, allowed = failed open).
 *
 * How each metric is measured, over the objective's window ending now:
 *   blockedBenignRate        false-positive marks (signal `feedback.false_positive`, written by
 *                            POST /admin/decisions/ID/false-positive) / decisions
 *   degradedRate             degraded decisions / decisions
 *   layerTimeoutRate         layer timeouts / decisions (a decision with two timed-out layers counts twice)
 *   addedLatencyP95Ms        95th percentile of the guard's time per decision (histogram bin edge, <= 9% high)
 *   failClosedBlocksPerHour  degraded decisions that ended blocked / hours in the window
 *
 * The error budget of a rate is max x decisions (or max x hours); what is
 * spent is the bad events; `budgetLeft` is the fraction of the budget not yet
 * spent (negative once breached). For latency the "budget" is the headroom
 * 1 - observed / max.
 */
import type { ObjectiveOptions } from "../policy/monitor.js";
import type { Containment, EventAggregates } from "../store/aggregates.js";

export const FALSE_POSITIVE_SIGNAL = "feedback.false_positive";

export interface ObjectiveStatus {
  readonly name: string;
  readonly metric: ObjectiveOptions["metric"];
  readonly max: number;
  readonly windowHours: number;
  readonly since: string;
  readonly until: string;
  /** The measured value; null when there is nothing to measure (no decisions). */
  readonly observed: number | null;
  /** Bad events counted (rates and per-hour objectives). */
  readonly spent: number | null;
  /** Bad events allowed over the window. */
  readonly budget: number | null;
  /** 1 = untouched, 0 = used up, below 0 = breached; null when unmeasurable. */
  readonly budgetLeft: number | null;
  readonly status: "ok" | "breached" | "no data";
  readonly decisions: number;
}

export interface ObjectivesReport {
  readonly at: string;
  readonly objectives: readonly ObjectiveStatus[];
  /** Containment over the longest objective window. */
  readonly containment: Containment & { readonly since: string; readonly until: string };
}

export async function evaluateObjectives(store: EventAggregates, now: Date, objectives: readonly ObjectiveOptions[]): Promise<ObjectivesReport> {
  const until = now.toISOString();
  const sinceFor = (hours: number): string => new Date(now.getTime() - hours * 3_600_000).toISOString();
  // One containment and one false-positive count per distinct window length.
  const containments = new Map<number, Promise<Containment>>();
  const containment = (hours: number): Promise<Containment> => {
    let value = containments.get(hours);
    if (!value) {
      value = store.containment({ since: sinceFor(hours), until });
      containments.set(hours, value);
    }
    return value;
  };
  const statuses: ObjectiveStatus[] = [];
  for (const objective of objectives) {
    const since = sinceFor(objective.windowHours);
    const c = await containment(objective.windowHours);
    const base = { name: objective.name, metric: objective.metric, max: objective.max, windowHours: objective.windowHours, since, until, decisions: c.decisions };
    const rate = (bad: number): ObjectiveStatus => {
      if (c.decisions === 0) return { ...base, observed: null, spent: null, budget: null, budgetLeft: null, status: "no data" };
      const budget = objective.max * c.decisions;
      return { ...base, observed: bad / c.decisions, spent: bad, budget, budgetLeft: budgetLeft(bad, budget), status: bad / c.decisions > objective.max ? "breached" : "ok" };
    };
    switch (objective.metric) {
      case "blockedBenignRate": {
        const marks = await store.signalCounts({ since, until, type: FALSE_POSITIVE_SIGNAL });
        statuses.push(rate(marks.reduce((sum, row) => sum + row.count, 0)));
        break;
      }
      case "degradedRate":
        statuses.push(rate(c.degraded));
        break;
      case "layerTimeoutRate":
        statuses.push(rate(c.byLayer.filter((layer) => layer.status === "timeout").reduce((sum, layer) => sum + layer.decisions, 0)));
        break;
      case "addedLatencyP95Ms": {
        const latency = await store.latency({ since, until });
        if (!latency) {
          statuses.push({ ...base, observed: null, spent: null, budget: null, budgetLeft: null, status: "no data" });
          break;
        }
        const observed = latency.p95 / 1000;
        statuses.push({ ...base, observed, spent: null, budget: null, budgetLeft: objective.max > 0 ? 1 - observed / objective.max : observed > 0 ? -1 : 1, status: observed > objective.max ? "breached" : "ok" });
        break;
      }
      case "failClosedBlocksPerHour": {
        const blocks = c.degradedByAction.block;
        const budget = objective.max * objective.windowHours;
        statuses.push({ ...base, observed: blocks / objective.windowHours, spent: blocks, budget, budgetLeft: budgetLeft(blocks, budget), status: blocks / objective.windowHours > objective.max ? "breached" : "ok" });
        break;
      }
    }
  }
  const longest = Math.max(1, ...objectives.map((o) => o.windowHours));
  return { at: until, objectives: statuses, containment: { ...(await containment(longest)), since: sinceFor(longest), until } };
}

function budgetLeft(spent: number, budget: number): number {
  if (budget > 0) return 1 - spent / budget;
  return spent > 0 ? -1 : 1;
}
