/**
 * What the monitor costs the gateway per recorded event: the incident engine
 * and the alert dispatcher see every event handed to the event writer
 * (EventWriter.observe), synchronously, on the request's thread. Everything
 * else they do (store writes, webhook deliveries) is asynchronous.
 *
 *   node --import tsx bench/incidents.ts [--events N] [--json out.json]
 *
 * Rows: ordinary decisions (the built-in rules and one counting rule look and
 * let go), blocked injections that count towards a rule and then feed the open
 * incident (timeline full, coalesced store writes), and signals a webhook
 * subscribes to, deduplicated (no network: the first goes out to a closed port
 * and fails, the rest are counted). Times are nanoseconds per event, the
 * median of five rounds.
 */
import { writeFileSync } from "node:fs";
import { AlertDispatcher, AlertsConfig } from "../src/monitor/alerts.js";
import { IncidentEngine, IncidentsConfig } from "../src/monitor/incidents.js";
import { MemoryEventStore } from "../src/store/memory.js";
import type { AuditEvent, DecisionEvent, SignalEvent } from "../src/store/types.js";
import { sortableId } from "../src/util/sortable-id.js";

const argv = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
};
const EVENTS = Number(option("--events") ?? 200_000);
const jsonOut = option("--json");

function decision(blocked: boolean, principal: string): DecisionEvent {
  return {
    kind: "decision",
    id: sortableId(),
    time: new Date().toISOString(),
    requestId: "req",
    principal,
    keyId: "k",
    route: "/v1/chat/completions",
    model: "m",
    stage: "input",
    role: "user",
    location: "messages[0].content",
    action: blocked ? "block" : "allow",
    categories: blocked ? ["prompt_injection"] : [],
    score: blocked ? 0.97 : 0.01,
    findings: [],
    layers: [{ name: "heuristics", status: "ok", durationUs: 10 }],
    degraded: false,
    policyName: "default",
    policyHash: "sha256:x",
    latencyUs: 300,
    excerpt: "",
  };
}

const signal = (principal: string): SignalEvent => ({ kind: "signal", id: sortableId(), time: new Date().toISOString(), type: "anomaly.rate", severity: "medium", principal, summary: "rate anomaly", detail: { observed: 31, threshold: 30 } });

async function measure(name: string, events: readonly AuditEvent[]): Promise<{ name: string; nsPerEvent: number }> {
  const store = new MemoryEventStore();
  const incidents = new IncidentEngine({
    store,
    emit: () => undefined,
    config: IncidentsConfig.parse({ rules: [{ id: "injection-burst", match: { kind: "decision", category: "prompt_injection", action: "block" }, count: 5, windowSeconds: 60 }] }),
  });
  const alerts = new AlertDispatcher(AlertsConfig.parse({ webhooks: [{ name: "ops", url: "http://127.0.0.1:9/hook", types: ["incident.", "anomaly."], retries: 0, timeoutMs: 200 }] }));
  const rounds: number[] = [];
  for (let round = 0; round < 5; round++) {
    const started = process.hrtime.bigint();
    for (const event of events) {
      incidents.observe(event);
      alerts.observe(event);
    }
    rounds.push(Number(process.hrtime.bigint() - started) / events.length);
  }
  await incidents.flush();
  await alerts.close(1_000);
  rounds.sort((a, b) => a - b);
  return { name, nsPerEvent: Math.round(rounds[2]!) };
}

const principals = Array.from({ length: 100 }, (_, i) => `app-${i}`);
const rows = [
  await measure("ordinary decisions", Array.from({ length: EVENTS }, (_, i) => decision(false, principals[i % principals.length]!))),
  await measure("blocked injections (count, then feed the open incident)", Array.from({ length: EVENTS }, (_, i) => decision(true, principals[i % principals.length]!))),
  await measure("signals a webhook wants (deduplicated)", Array.from({ length: EVENTS }, (_, i) => signal(principals[i % principals.length]!))),
];

console.log(`monitor cost per recorded event (${EVENTS.toLocaleString("en")} events per round, median of 5 rounds)`);
console.log("");
console.log("| events | ns per event |");
console.log("|---|---:|");
for (const row of rows) console.log(`| ${row.name} | ${row.nsPerEvent} |`);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ events: EVENTS, rows }, null, 2));
