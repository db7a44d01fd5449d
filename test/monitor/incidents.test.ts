import { describe, expect, it } from "vitest";
import { IncidentEngine, IncidentError, IncidentsConfig, incidentJson, incidentMarkdown, type IncidentsInput } from "../../src/monitor/incidents.js";
import { pgliteDriver } from "../../src/store/pglite.js";
import { postgresDriver } from "../../src/store/postgres.js";
import { MemoryEventStore } from "../../src/store/memory.js";
import { SqlEventStore } from "../../src/store/sql.js";
import type { EventStore, SignalEvent } from "../../src/store/types.js";
import { sortableId } from "../../src/util/sortable-id.js";
import { decision, pgliteDataDir, POSTGRES_URL, uniqueSchema } from "../store/fixtures.js";

const signal = (type: string, over: Partial<SignalEvent> = {}): SignalEvent => ({ kind: "signal", id: sortableId(), time: new Date().toISOString(), type, severity: "medium", summary: `${type} happened`, detail: {}, ...over });

function engine(config: IncidentsInput = {}, store: EventStore = new MemoryEventStore(), now?: () => Date) {
  const emitted: SignalEvent[] = [];
  const errors: string[] = [];
  const incidents = new IncidentEngine({ store, emit: (event) => emitted.push(event), config: IncidentsConfig.parse(config), onError: (message) => errors.push(message), ...(now ? { now } : {}) });
  return { incidents, emitted, errors, store };
}

describe("built-in rules", () => {
  it("a canary leak opens a critical incident with the decision in its timeline, and records incident.opened", async () => {
    const { incidents, emitted } = engine({ runbooks: { "canary-leak": "https://runbooks.example/canary" } });
    const leak = decision({ principal: "alice", stage: "output", action: "block", categories: ["canary_leak"], score: 1 });
    incidents.observe(decision({ principal: "alice" })); // an ordinary decision: nothing
    incidents.observe(leak);
    await incidents.flush();
    const [incident] = await incidents.list();
    expect(incident).toMatchObject({ rule: "canary-leak", severity: "critical", status: "open", principal: "alice", runbook: "https://runbooks.example/canary", eventCount: 1 });
    expect(incident!.timeline.map((entry) => [entry.kind, entry.eventId ?? null])).toEqual([
      ["trigger", leak.id],
      ["opened", null],
    ]);
    expect(emitted).toHaveLength(1);
    expect(emitted[0]).toMatchObject({ kind: "signal", type: "incident.opened", severity: "critical", principal: "alice", detail: { incident: incident!.id, rule: "canary-leak", status: "open", runbook: "https://runbooks.example/canary" } });
  });

  it("a quarantine, drift and a scan regression open incidents; further events join the open one", async () => {
    const { incidents } = engine();
    incidents.observe(signal("quarantine.added", { principal: "mallory", severity: "high" }));
    incidents.observe(signal("quarantine.added", { principal: "mallory", severity: "high" }));
    incidents.observe(signal("quarantine.added", { principal: "trent", severity: "high" }));
    incidents.observe(signal("drift.score", { route: "/v1/chat/completions" }));
    incidents.observe(signal("drift.block_rate", { severity: "high" }));
    incidents.observe(signal("scan.regression", { principal: "scanner", severity: "high" }));
    incidents.observe(signal("anomaly.rate", { principal: "mallory" })); // no built-in rule
    await incidents.flush();
    const list = await incidents.list();
    const summary = list.map((incident) => `${incident.rule}:${incident.principal ?? "*"}:${incident.eventCount}:${incident.severity}`).sort();
    expect(summary).toEqual(["drift:*:2:high", "quarantine:mallory:2:high", "quarantine:trent:1:high", "scan-regression:scanner:1:high"]);
  });

  it("ignores its own incident.* events and the principals it is told to ignore", async () => {
    const { incidents } = engine({ rules: [{ id: "everything", match: { kind: "signal", type: "*" }, groupBy: "none" }], ignorePrincipals: ["scanner"] });
    incidents.observe(signal("incident.opened"));
    incidents.observe(signal("quarantine.added", { principal: "scanner" }));
    await incidents.flush();
    expect(await incidents.list()).toEqual([]);
  });
});

describe("configured rules", () => {
  it("open an incident when the count is reached within the window, not before, and not from events that aged out", async () => {
    let clock = Date.parse("2026-01-01T00:00:00Z");
    const { incidents } = engine({ builtin: false, rules: [{ id: "injection-burst", title: "Prompt-injection burst", match: { kind: "decision", category: "prompt_injection", action: "block" }, count: 3, windowSeconds: 60, runbook: "https://runbooks.example/burst" }] }, new MemoryEventStore(), () => new Date(clock));
    const blocked = () => decision({ principal: "alice", action: "block", categories: ["prompt_injection"] });
    incidents.observe(blocked());
    incidents.observe(blocked());
    clock += 61_000; // both aged out
    incidents.observe(blocked());
    incidents.observe(decision({ principal: "alice", action: "flag", categories: ["prompt_injection"] })); // not a block
    incidents.observe(blocked());
    await incidents.flush();
    expect(await incidents.list()).toHaveLength(0);
    const third = blocked();
    incidents.observe(third);
    await incidents.flush();
    const [incident] = await incidents.list();
    expect(incident).toMatchObject({ rule: "injection-burst", title: "Prompt-injection burst", severity: "high", eventCount: 3, runbook: "https://runbooks.example/burst" });
    expect(incident!.timeline.filter((entry) => entry.kind === "trigger").at(-1)?.eventId).toBe(third.id);
  });

  it("do not grow memory without end: windows of many principals that aged out are swept", () => {
    let clock = Date.parse("2026-01-01T00:00:00Z");
    const { incidents } = engine({ builtin: false, rules: [{ id: "pairs", match: { kind: "signal", type: "anomaly." }, count: 2, windowSeconds: 60 }] }, new MemoryEventStore(), () => new Date(clock));
    for (let i = 0; i < 1_500; i++) incidents.observe(signal("anomaly.rate", { principal: `p${i}` }));
    expect(incidents.countingWindows).toBe(1_500);
    clock += 61_000;
    for (let i = 0; i < 600; i++) incidents.observe(signal("anomaly.rate", { principal: `q${i}` }));
    expect(incidents.countingWindows).toBeLessThan(700);
  });

  it("match signals by type prefix and least severity, and replace a built-in rule of the same id", async () => {
    const { incidents } = engine({ rules: [{ id: "quarantine", match: { kind: "signal", type: "quarantine.added" }, count: 2, severity: "medium" }, { id: "anomalies", match: { kind: "signal", type: "anomaly.", minSeverity: "high" }, groupBy: "none" }] });
    incidents.observe(signal("quarantine.added", { principal: "mallory" }));
    incidents.observe(signal("anomaly.rate", { severity: "medium" }));
    await incidents.flush();
    expect(await incidents.list()).toHaveLength(0);
    incidents.observe(signal("quarantine.added", { principal: "mallory" }));
    incidents.observe(signal("anomaly.tokens", { severity: "critical" }));
    await incidents.flush();
    expect((await incidents.list()).map((incident) => `${incident.rule}:${incident.severity}`).sort()).toEqual(["anomalies:critical", "quarantine:medium"]);
  });

  it("reject rules that cannot match, with the path named", () => {
    const result = IncidentsConfig.safeParse({ rules: [{ id: "bad", match: { kind: "signal" } }, { id: "Bad Id", match: { kind: "decision", type: "x" } }] });
    expect(result.success).toBe(false);
    const paths = result.error!.issues.map((issue) => issue.path.join("."));
    expect(paths).toEqual(expect.arrayContaining(["rules.0.match.type", "rules.1.id", "rules.1.match"]));
  });
});

describe("lifecycle, timeline and export", () => {
  it("open -> acknowledged -> resolved, with who and when; a new event after resolution opens a new incident", async () => {
    const { incidents, emitted } = engine();
    incidents.observe(signal("quarantine.added", { principal: "mallory", severity: "high" }));
    const [opened] = await incidents.list();
    const acked = await incidents.acknowledge(opened!.id, "admin:root", "looking");
    expect(acked).toMatchObject({ status: "acknowledged", acknowledgedBy: "admin:root" });
    await expect(incidents.acknowledge(opened!.id, "admin:root")).rejects.toMatchObject({ status: 409, code: "incident_not_open" });
    incidents.observe(signal("quarantine.added", { principal: "mallory", severity: "high" })); // joins the acknowledged one
    const resolved = await incidents.resolve(opened!.id, "admin:root", "key rotated");
    expect(resolved).toMatchObject({ status: "resolved", resolvedBy: "admin:root", eventCount: 2 });
    expect(resolved.timeline.map((entry) => entry.kind)).toEqual(["trigger", "opened", "acknowledged", "event", "resolved"]);
    await expect(incidents.resolve(opened!.id, "admin:root")).rejects.toBeInstanceOf(IncidentError);
    await expect(incidents.resolve("01NOPE", "admin:root")).rejects.toMatchObject({ status: 404 });
    incidents.observe(signal("quarantine.added", { principal: "mallory", severity: "high" }));
    await incidents.flush();
    expect((await incidents.list()).map((incident) => incident.status)).toEqual(["open", "resolved"]);
    expect(emitted.map((event) => event.type)).toEqual(["incident.opened", "incident.acknowledged", "incident.resolved", "incident.opened"]);
    expect(emitted[2]).toMatchObject({ detail: { incident: opened!.id, by: "admin:root", note: "key rotated", status: "resolved" } });
    expect((await incidents.list({ status: "resolved" })).map((incident) => incident.id)).toEqual([opened!.id]);
  });

  it("exports JSON and Markdown with the timeline and runbook", async () => {
    const { incidents } = engine({ runbooks: { quarantine: "https://runbooks.example/quarantine" } });
    const trigger = signal("quarantine.added", { principal: "mallory", severity: "high", summary: "mallory | quarantined for 10 blocks" });
    incidents.observe(trigger);
    const [incident] = await incidents.list();
    await incidents.acknowledge(incident!.id, "admin:root");
    const stored = (await incidents.get(incident!.id))!;
    expect(incidentJson(stored)).toMatchObject({ format: "bulwark-incident", version: 1, id: incident!.id, status: "acknowledged" });
    const markdown = incidentMarkdown(stored);
    expect(markdown).toContain(`# Incident ${incident!.id}: Principal quarantined`);
    expect(markdown).toContain("- Runbook: <https://runbooks.example/quarantine>");
    expect(markdown).toContain(`| trigger | quarantine.added \`${trigger.id}\` | mallory \\| quarantined for 10 blocks |`);
    expect(markdown).toMatch(/\| acknowledged \(admin:root\) \| {2}\| acknowledged by admin:root \|/);
  });

  it("keeps the timeline bounded and counts what it left out", async () => {
    const { incidents } = engine({ timelineLimit: 10 });
    for (let i = 0; i < 30; i++) incidents.observe(signal("drift.score"));
    const [incident] = await incidents.list();
    expect(incident!.eventCount).toBe(30);
    expect(incident!.timeline.length).toBe(10); // the trigger, "opened", then 8 more events
    expect(incident!.eventsOmitted).toBe(21);
  });

  it("never throws into the writer when the store fails; reports it instead", async () => {
    const store = new MemoryEventStore();
    store.putIncident = () => Promise.reject(new Error("disk full"));
    const { incidents, errors, emitted } = engine({}, store);
    expect(() => incidents.observe(signal("quarantine.added", { principal: "x" }))).not.toThrow();
    await incidents.flush();
    expect(errors.some((message) => /could not be stored/.test(message))).toBe(true);
    expect(emitted.map((event) => event.type)).toEqual(["incident.opened"]);
  });
});

const sqlStores: Array<[string, () => Promise<EventStore>]> = [
  ["PGlite", async () => new SqlEventStore(await pgliteDriver(await pgliteDataDir()), "bulwark", "pglite")],
  ...(POSTGRES_URL ? ([["PostgreSQL", async () => new SqlEventStore(postgresDriver(POSTGRES_URL!, () => undefined), uniqueSchema(), "postgres")]] as Array<[string, () => Promise<EventStore>]>) : []),
];

describe.each(sqlStores)("incidents table (%s)", (_name, open) => {
  it("stores incidents, lists them newest first by status, and an engine after a restart joins events to the open one", async () => {
    const store = await open();
    await store.init();
    try {
      const first = engine({}, store);
      first.incidents.observe(signal("quarantine.added", { principal: "mallory", severity: "high" }));
      first.incidents.observe(signal("quarantine.added", { principal: "trent", severity: "high" }));
      await first.incidents.flush();
      const [newest, oldest] = await first.incidents.list();
      expect([newest!.principal, oldest!.principal]).toEqual(["trent", "mallory"]);
      await first.incidents.resolve(newest!.id, "admin:root");
      await first.incidents.flush();
      expect((await store.listIncidents({ status: "open" })).map((row) => row.id)).toEqual([oldest!.id]);
      expect((await store.listIncidents({ beforeId: newest!.id })).map((row) => row.id)).toEqual([oldest!.id]);

      const restarted = engine({}, store);
      await restarted.incidents.load();
      restarted.incidents.observe(signal("quarantine.added", { principal: "mallory", severity: "high" }));
      await restarted.incidents.flush();
      const row = await store.getIncident(oldest!.id);
      expect(row).toMatchObject({ status: "open", rule: "quarantine" });
      expect((JSON.parse(row!.payload) as { eventCount: number }).eventCount).toBe(2);
      expect(restarted.emitted).toHaveLength(0);
    } finally {
      await store.close();
    }
  });
});
