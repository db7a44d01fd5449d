/** Failure boundaries and the monitor loop, with an injected clock. */
import { describe, expect, it } from "vitest";
import { Monitor, type MonitorClock } from "../../src/monitor/monitor.js";
import { FALSE_POSITIVE_SIGNAL, evaluateObjectives } from "../../src/monitor/objectives.js";
import { MonitorConfig, type MonitorOptions } from "../../src/policy/monitor.js";
import { MemoryEventStore } from "../../src/store/memory.js";
import type { AuditEvent, SignalEvent } from "../../src/store/types.js";
import { sortableId } from "../../src/util/sortable-id.js";
import { decision } from "../store/fixtures.js";

const NOW = Date.UTC(2026, 0, 10, 12, 0, 0);
const ago = (minutes: number): string => new Date(NOW - minutes * 60_000).toISOString();

/** 1000 decisions over the last 10 hours: 5 degraded (3 classifier timeouts failing closed, 2 errors failing open), 4 false-positive marks. */
function traffic(): AuditEvent[] {
  const events: AuditEvent[] = [];
  for (let i = 0; i < 1000; i++) {
    const degraded = i % 200 === 13;
    const timeout = degraded && i < 600;
    events.push(
      decision({
        time: ago(600 - i * 0.6),
        action: degraded ? (timeout ? "block" : "allow") : i % 25 === 0 ? "block" : "allow",
        degraded,
        latencyUs: i % 100 === 0 ? 90_000 : 2_000,
        layers: [
          { name: "heuristics", status: "ok", durationUs: 10 },
          { name: "classifier", status: degraded ? (timeout ? "timeout" : "error") : "ok", durationUs: 100 },
        ],
      }),
    );
  }
  for (let i = 0; i < 4; i++) {
    events.push({ kind: "signal", id: sortableId(), time: ago(100 - i), type: FALSE_POSITIVE_SIGNAL, severity: "low", principal: "alice", summary: "marked false positive", detail: { decisionId: "x" } });
  }
  return events.sort((a, b) => (a.time < b.time ? -1 : 1));
}

const options = (objectives: unknown[]): MonitorOptions => MonitorConfig.parse({ drift: { enabled: false }, objectives });

describe("objectives", () => {
  it("measures each metric over its window, with the error budget left, and containment by layer", async () => {
    const store = new MemoryEventStore();
    await store.append(traffic());
    const report = await evaluateObjectives(
      store,
      new Date(NOW),
      options([
        { name: "benign", metric: "blockedBenignRate", max: 0.005, windowHours: 24 },
        { name: "degraded", metric: "degradedRate", max: 0.01, windowHours: 24 },
        { name: "timeouts", metric: "layerTimeoutRate", max: 0.002, windowHours: 24 },
        { name: "latency", metric: "addedLatencyP95Ms", max: 50, windowHours: 24 },
        { name: "closed", metric: "failClosedBlocksPerHour", max: 0.1, windowHours: 24 },
      ]).objectives,
    );
    const by = Object.fromEntries(report.objectives.map((o) => [o.name, o]));
    expect(by.benign).toMatchObject({ observed: 0.004, spent: 4, budget: 5, status: "ok", decisions: 1000 });
    expect(by.benign!.budgetLeft).toBeCloseTo(0.2, 10);
    expect(by.degraded).toMatchObject({ observed: 0.005, spent: 5, status: "ok" });
    expect(by.degraded!.budgetLeft).toBeCloseTo(0.5, 10);
    expect(by.timeouts).toMatchObject({ observed: 0.003, spent: 3, status: "breached" });
    expect(by.timeouts!.budgetLeft).toBeCloseTo(-0.5, 10);
    // 1% of decisions take 90 ms, the rest 2 ms: the p95 is in the 2 ms bin.
    expect(by.latency!.observed).toBeGreaterThanOrEqual(2);
    expect(by.latency!.observed).toBeLessThan(2.2);
    expect(by.closed).toMatchObject({ spent: 3, budget: 2.4000000000000004, status: "breached" });
    expect(report.containment).toMatchObject({ decisions: 1000, degraded: 5, degradedByAction: { block: 3, allow: 2, flag: 0, redact: 0 } });
    expect(report.containment.byLayer).toEqual([
      { layer: "classifier", status: "timeout", decisions: 3, blocked: 3, allowed: 0, other: 0 },
      { layer: "classifier", status: "error", decisions: 2, blocked: 0, allowed: 2, other: 0 },
    ]);
  });

  it("says 'no data' rather than inventing a value for an empty window", async () => {
    const report = await evaluateObjectives(new MemoryEventStore(), new Date(NOW), options([{ name: "d", metric: "degradedRate", max: 0.01 }]).objectives);
    expect(report.objectives[0]).toMatchObject({ status: "no data", observed: null, budgetLeft: null });
  });

  it("refuses a policy with two objectives of one name", () => {
    expect(() => options([{ name: "a", metric: "degradedRate", max: 1 }, { name: "a", metric: "layerTimeoutRate", max: 1 }])).toThrow(/used twice/);
  });
});

describe("the monitor loop", () => {
  function fakeClock(start: number): MonitorClock & { advance(ms: number): Promise<void>; time: number } {
    const timers: Array<{ at: number; fn: () => void }> = [];
    const clock = {
      time: start,
      now: () => new Date(clock.time),
      schedule(fn: () => void, ms: number) {
        const timer = { at: clock.time + ms, fn };
        timers.push(timer);
        return () => void timers.splice(timers.indexOf(timer), 1);
      },
      async advance(ms: number) {
        const end = clock.time + ms;
        for (;;) {
          timers.sort((a, b) => a.at - b.at);
          const next = timers[0];
          if (!next || next.at > end) break;
          timers.shift();
          clock.time = next.at;
          next.fn();
          // Let the tick's promise chain (memory store reads) settle.
          for (let i = 0; i < 50; i++) await Promise.resolve();
          await new Promise((resolve) => setImmediate(resolve));
        }
        clock.time = end;
      },
    };
    return clock;
  }

  it("records an slo.breach when a boundary is crossed, not again while it lasts, and slo.recovered when the window has moved past it", async () => {
    const store = new MemoryEventStore();
    await store.append(traffic());
    const emitted: SignalEvent[] = [];
    const clock = fakeClock(NOW);
    const monitor = new Monitor({
      store,
      emit: (event) => emitted.push(event),
      options: () => ({ ...options([{ name: "timeouts", metric: "layerTimeoutRate", max: 0.002, windowHours: 24, severity: "critical" }]), intervalSeconds: 3600 }),
      clock,
    });
    monitor.start();
    await clock.advance(3_599_000);
    expect(emitted).toHaveLength(0); // the first tick comes after one interval
    await clock.advance(1_000);
    expect(emitted).toHaveLength(1);
    expect(emitted[0]).toMatchObject({ kind: "signal", type: "slo.breach", severity: "critical", detail: { objective: "timeouts", spent: 3, decisions: 1000 } });
    expect(emitted[0]!.summary).toMatch(/timeouts breached: layerTimeoutRate 0\.003 over the last 24 h, boundary 0\.002/);
    await clock.advance(2 * 3_600_000);
    expect(emitted).toHaveLength(1);
    expect(monitor.latest()?.objectives.objectives[0]?.status).toBe("breached");
    // A day later the timeouts have left the window (and so has all traffic): no data is not a breach.
    await clock.advance(22 * 3_600_000);
    expect(emitted.map((e) => e.type)).toEqual(["slo.breach", "slo.recovered"]);
    await monitor.stop();
    const ticks = monitor.latest()!.at;
    await clock.advance(3 * 3_600_000);
    expect(monitor.latest()!.at).toBe(ticks);
  });
});
