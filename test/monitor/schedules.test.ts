import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO_MODEL, DEMO_SYSTEM_PROMPT, startDemoUpstream, type DemoUpstream } from "../../src/gateway/demo-upstream.js";
import { ScanScheduler, ScheduleConfig, type ScheduleInput } from "../../src/monitor/schedules.js";
import { demoCanaries } from "../../src/redteam/targets/demo.js";
import { MemoryEventStore } from "../../src/store/memory.js";
import { pgliteDriver } from "../../src/store/pglite.js";
import { SqlEventStore } from "../../src/store/sql.js";
import type { EventStore, SignalEvent } from "../../src/store/types.js";
import { pgliteDataDir } from "../store/fixtures.js";

let demo: DemoUpstream;
beforeAll(async () => {
  demo = await startDemoUpstream();
});
afterAll(async () => {
  await demo?.close();
});

/** The demo upstream stands in for the gateway here (it is OpenAI-compatible at /v1); test/gateway/incidents.test.ts runs schedules through a real gateway. */
function scheduler(input: Partial<ScheduleInput>, dir: string, claim?: (key: string) => Promise<boolean>): { scheduler: ScanScheduler; events: SignalEvent[]; keysAsked: string[] } {
  const events: SignalEvent[] = [];
  const keysAsked: string[] = [];
  const schedule = ScheduleConfig.parse({
    name: "fast",
    cron: "* * * * * *",
    principal: "scanner",
    model: DEMO_MODEL,
    suite: { categories: ["system_prompt_extraction"], mutators: 0, strategies: ["single"] },
    canaries: demoCanaries(DEMO_SYSTEM_PROMPT),
    outDir: "scans",
    ...input,
  });
  const result = new ScanScheduler({
    schedules: [schedule],
    baseDir: dir,
    gatewayUrl: () => demo.url.replace(/\/v1$/, ""),
    credentials: async (spec) => {
      keysAsked.push(spec.name);
      return "bwk_scanner_key";
    },
    emit: (event) => events.push(event),
    ...(claim ? { claim } : {}),
  });
  return { scheduler: result, events, keysAsked };
}

async function until(probe: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("scheduled scans", () => {
  it("run on a fast cron (every second), keep the first run as the baseline and compare later runs with it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bulwark-schedules-"));
    const { scheduler: jobs, events, keysAsked } = scheduler({}, dir);
    jobs.start();
    expect(Date.parse(jobs.nextRuns().fast!) - Date.now()).toBeLessThanOrEqual(1_000);
    await until(() => events.filter((event) => event.type === "scan.completed").length >= 2);
    await jobs.stop();
    const completed = events.filter((event) => event.type === "scan.completed");
    expect(completed[0]).toMatchObject({ principal: "scanner", detail: { schedule: "fast", baselineEstablished: true, errors: 0, total: 10 } });
    expect(completed[1]).toMatchObject({ detail: { baselineEstablished: false, passed: true, regressions: 0 } });
    // The demo assistant alone (no gateway) leaks on none of these ten prompts: every run held the same.
    expect(completed.map((event) => event.detail.failed)).toEqual(completed.map(() => 0));
    expect(events.filter((event) => event.type !== "scan.completed")).toEqual([]);
    expect(keysAsked.length).toBe(completed.length);
    for (const event of completed) {
      const results = JSON.parse(readFileSync(String(event.detail.results), "utf8")) as { summary: { total: number } };
      expect(results.summary.total).toBe(10);
      expect(existsSync(join(String(event.detail.results), "..", "report.html"))).toBe(true);
    }
    expect(existsSync(join(dir, "scans", "fast", "baseline.json"))).toBe(true);
  });

  it("report a run that cannot be made as scan.failed, and a run stopped midway as not finished", async () => {
    const dir = mkdtempSync(join(tmpdir(), "bulwark-schedules-"));
    const missing = scheduler({ baseline: "no-such/results.json" }, dir);
    expect(await missing.scheduler.trigger("fast")).toBeNull();
    expect(missing.events.map((event) => event.type)).toEqual(["scan.failed"]);
    expect(String(missing.events[0]!.detail.error)).toMatch(/no-such\/results\.json does not exist/);
    await expect(missing.scheduler.trigger("nope")).rejects.toThrow(/no schedule named "nope"/);

    const slow = scheduler({ suite: { mutators: 3, strategies: ["single", "crescendo"] }, concurrency: 1, rateLimit: 20 }, dir);
    const run = slow.scheduler.trigger("fast");
    expect(slow.scheduler.trigger("fast")).toBe(run); // joined, not doubled
    await new Promise((resolve) => setTimeout(resolve, 300));
    await slow.scheduler.stop();
    expect(await run).toBeNull();
    expect(slow.events.map((event) => event.type)).toEqual(["scan.failed"]);
    expect(String(slow.events[0]!.detail.error)).toMatch(/stopped/);
  });

  it("with two replicas on one store, each cron tick is claimed once and run by one of them", async () => {
    const store = new MemoryEventStore();
    const claims: Array<{ replica: string; key: string; mine: boolean }> = [];
    const claimer = (replica: string) => async (key: string) => {
      const mine = await store.claimOnce(key, replica);
      claims.push({ replica, key, mine });
      return mine;
    };
    const dirA = mkdtempSync(join(tmpdir(), "bulwark-schedules-a-"));
    const dirB = mkdtempSync(join(tmpdir(), "bulwark-schedules-b-"));
    const a = scheduler({}, dirA, claimer("a"));
    const b = scheduler({}, dirB, claimer("b"));
    a.scheduler.start();
    b.scheduler.start();
    await until(() => new Set(claims.map((claim) => claim.key)).size >= 3 && claims.length >= 4);
    await Promise.all([a.scheduler.stop(), b.scheduler.stop()]);
    const byKey = new Map<string, boolean[]>();
    for (const claim of claims) byKey.set(claim.key, [...(byKey.get(claim.key) ?? []), claim.mine]);
    for (const [key, results] of byKey) {
      expect(key).toMatch(/^schedule:fast:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
      expect(results.filter(Boolean)).toHaveLength(1);
    }
    expect([...byKey.values()].some((results) => results.length === 2)).toBe(true); // both replicas asked for one tick
    const runs = [...a.events, ...b.events].filter((event) => event.type === "scan.completed").length;
    expect(runs).toBeLessThanOrEqual(claims.filter((claim) => claim.mine).length);
  });

  it("the SQL store's claims hold once per key (PGlite)", async () => {
    const store: EventStore = new SqlEventStore(await pgliteDriver(await pgliteDataDir()), "bulwark", "pglite");
    await store.init();
    try {
      expect(await store.claimOnce("schedule:nightly:2026-01-01T03:00:00.000Z", "a")).toBe(true);
      expect(await store.claimOnce("schedule:nightly:2026-01-01T03:00:00.000Z", "b")).toBe(false);
      expect(await store.claimOnce("schedule:nightly:2026-01-02T03:00:00.000Z", "b")).toBe(true);
    } finally {
      await store.close();
    }
  });

  it("reject an invalid cron expression or suite with the field named", () => {
    const result = ScheduleConfig.safeParse({ name: "x", cron: "61 * * * *", principal: "p", model: "m", suite: { strategies: ["nope"] } });
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((issue) => issue.path.join("."))).toEqual(expect.arrayContaining(["cron", "suite.strategies.0"]));
  });
});
