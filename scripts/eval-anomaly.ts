/**
 * The anomaly detectors on a seeded simulation of a week of traffic
 * (scripts/anomaly-traffic.ts): false alarms per principal-day on normal
 * traffic, and per attack kind the share detected and the delay from the
 * attack's start to the first report (in time and in hostile requests).
 *
 *   npm run eval:anomaly [-- --seed 7] [-- --days 7] [-- --synthetic] [-- --json out.json]
 *
 * Prompts come from the shared datasets (../shared/datasets: benign prompts
 * from clinc150, banking77, hwu64, gsm8k, self-instruct; passages from
 * p3-permissive-prompts; attacks from lakera-gandalf and jailbreak-llms) when
 * they are there, else (or with --synthetic) from a seeded word generator. The
 * detector runs with the policy defaults (src/policy/abuse.ts); --set
 * rate.minRequests=60 and the like try other values.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { AnomalyDetector, type Anomaly } from "../src/limits/anomaly.js";
import { AnomalyConfig, type AnomalyOptions } from "../src/policy/abuse.js";
import { seeded, simulate, syntheticPrompts, type AttackKind, type PromptSource, type Rng, type SimPrincipal } from "./anomaly-traffic.js";

const args = process.argv.slice(2);
const option = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const seed = Number(option("--seed") ?? 7);
const days = Number(option("--days") ?? 7);
const jsonOut = option("--json");
const DATASETS = new URL("../../shared/datasets/", import.meta.url);

function datasetPrompts(): PromptSource | null {
  if (args.includes("--synthetic") || !existsSync(new URL("benign/", DATASETS))) return null;
  const read = (path: string, limit = 30_000): string[] => {
    const url = new URL(path, DATASETS);
    if (!existsSync(url)) return [];
    return readFileSync(url, "utf8")
      .split("\n")
      .filter(Boolean)
      .slice(0, limit)
      .map((line) => (JSON.parse(line) as { text: string }).text)
      .filter((text) => text.length > 0);
  };
  const normal = ["clinc150", "banking77", "hwu64", "gsm8k", "self-instruct"].flatMap((name) => read(`benign/${name}/data.jsonl`));
  const passages = read("benign/p3-permissive-prompts/data.jsonl").map((text) => text.slice(0, 1_500));
  const attacks = [...read("_normalized/lakera-gandalf.jsonl"), ...read("_normalized/jailbreak-llms.jsonl")].map((text) => text.slice(0, 4_000));
  if (normal.length === 0 || passages.length === 0 || attacks.length === 0) return null;
  const pick = (list: string[], rng: Rng): string => list[Math.floor(rng() * list.length)]!;
  return { normal: (rng) => pick(normal, rng), passage: (rng) => pick(passages, rng), attack: (rng) => pick(attacks, rng) };
}

function overrides(): Record<string, unknown> {
  const result: Record<string, Record<string, number> | number> = {};
  args.forEach((arg, index) => {
    if (arg !== "--set") return;
    const [path, value] = (args[index + 1] ?? "").split("=");
    const [section, field] = (path ?? "").split(".");
    if (!section || value === undefined) throw new Error(`--set needs SECTION.FIELD=VALUE, found ${args[index + 1]}`);
    if (field) result[section] = { ...((result[section] as Record<string, number>) ?? {}), [field]: Number(value) };
    else result[section] = Number(value);
  });
  return result;
}

interface Outcome {
  principal: SimPrincipal;
  anomalies: Anomaly[];
}

function run(principals: SimPrincipal[], options: AnomalyOptions): { outcomes: Outcome[]; updateNs: number; requests: number } {
  const detector = new AnomalyDetector(options);
  const outcomes: Outcome[] = [];
  let requests = 0;
  const started = process.hrtime.bigint();
  for (const principal of principals) {
    const anomalies: Anomaly[] = [];
    for (const request of principal.requests) {
      requests++;
      for (const anomaly of detector.observeRequest(principal.id, request.time, request.prompt, request.blocked)) anomalies.push(anomaly);
      for (const anomaly of detector.observeTokens(principal.id, request.time, request.tokens)) anomalies.push(anomaly);
      if (request.turns.length >= 2) {
        const escalation = detector.observeConversation(principal.id, request.time, request.turns);
        if (escalation) anomalies.push(escalation);
      }
    }
    outcomes.push({ principal, anomalies });
  }
  const updateNs = Number(process.hrtime.bigint() - started) / requests;
  return { outcomes, updateNs, requests };
}

const source = datasetPrompts();
const prompts = source ?? syntheticPrompts(seed);
const options = AnomalyConfig.parse(overrides());
const principals = simulate({ seed, days, interactive: 300, services: 40, batch: 20, attacksPerKind: 12 }, prompts);
const { outcomes, updateNs, requests } = run(principals, options);

const DAY = 86_400_000;
const firstDay = principals[0]?.requests[0]?.time ?? 0;
const dayOf = (time: number): number => Math.floor((time - Date.UTC(2026, 0, 5)) / DAY);
void seeded;

// False alarms: every report on normal traffic (all of a normal principal's, and an attacker's before its attack).
const falseAlarms: Array<{ principal: string; kind: string; anomaly: string; day: number }> = [];
let principalDays = 0;
let steadyPrincipalDays = 0;
let steadyAlarms = 0;
const byType = new Map<string, number>();
for (const { principal, anomalies } of outcomes) {
  const end = principal.attackStart ?? Infinity;
  const normalDays = principal.attackStart !== undefined ? dayOf(principal.attackStart) : days;
  principalDays += normalDays;
  steadyPrincipalDays += Math.max(0, normalDays - 1);
  for (const anomaly of anomalies) {
    if (anomaly.time >= end) continue;
    falseAlarms.push({ principal: principal.id, kind: principal.kind, anomaly: anomaly.kind, day: dayOf(anomaly.time) });
    byType.set(`${principal.kind}/${anomaly.kind}`, (byType.get(`${principal.kind}/${anomaly.kind}`) ?? 0) + 1);
    if (dayOf(anomaly.time) >= 1) steadyAlarms++;
  }
}

// Detection: the first report at or after the attack's start (within the attack and the hour after).
interface Detection {
  n: number;
  detected: number;
  delaysS: number[];
  requestsBefore: number[];
  kinds: Map<string, number>;
}
const detection = new Map<AttackKind, Detection>();
for (const { principal, anomalies } of outcomes) {
  if (!principal.attack || principal.attackStart === undefined) continue;
  const entry: Detection = detection.get(principal.attack) ?? { n: 0, detected: 0, delaysS: [], requestsBefore: [], kinds: new Map<string, number>() };
  detection.set(principal.attack, entry);
  entry.n++;
  const hostile = principal.requests.filter((r) => r.hostile);
  const lastHostile = hostile[hostile.length - 1]?.time ?? principal.attackStart;
  const first = anomalies.find((a) => a.time >= principal.attackStart! && a.time <= lastHostile + 3_600_000);
  if (!first) continue;
  entry.detected++;
  entry.delaysS.push((first.time - principal.attackStart) / 1000);
  entry.requestsBefore.push(hostile.filter((r) => r.time <= first.time).length);
  entry.kinds.set(first.kind, (entry.kinds.get(first.kind) ?? 0) + 1);
}

const median = (values: number[]): number => {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
};
const max = (values: number[]): number => (values.length ? Math.max(...values) : NaN);

console.log(`Anomaly detection on simulated traffic: seed ${seed}, ${days} days, prompts from ${source ? "the shared datasets" : "the synthetic generator"}`);
console.log(`${principals.length} principals (300 interactive, 40 services, 20 batch, 12 per attack kind), ${requests.toLocaleString("en")} requests; detector update ${(updateNs / 1000).toFixed(2)} µs per request (all detectors, single thread, incl. token and conversation checks)`);
console.log("");
console.log(`False alarms on normal traffic: ${falseAlarms.length} in ${principalDays} principal-days = ${(falseAlarms.length / principalDays).toFixed(4)} per principal-day`);
console.log(`  after each principal's first day (baselines warm): ${steadyAlarms} in ${steadyPrincipalDays} principal-days = ${(steadyAlarms / Math.max(1, steadyPrincipalDays)).toFixed(4)} per principal-day`);
for (const [type, count] of [...byType].sort((a, b) => b[1] - a[1])) console.log(`  ${type.padEnd(28)} ${count}`);
console.log("");
console.log("attack       detected   median delay   max delay   median hostile requests before   first report");
for (const [attack, entry] of detection) {
  console.log(
    `${attack.padEnd(12)} ${`${entry.detected}/${entry.n}`.padEnd(10)} ${`${median(entry.delaysS).toFixed(0)} s`.padEnd(14)} ${`${max(entry.delaysS).toFixed(0)} s`.padEnd(11)} ${String(median(entry.requestsBefore)).padEnd(32)} ${[...entry.kinds].map(([k, v]) => `${k}:${v}`).join(" ")}`,
  );
}
void firstDay;

if (jsonOut) {
  writeFileSync(
    jsonOut,
    JSON.stringify(
      {
        seed,
        days,
        prompts: source ? "datasets" : "synthetic",
        options,
        requests,
        updateNsPerRequest: Math.round(updateNs),
        falseAlarms: { count: falseAlarms.length, principalDays, perPrincipalDay: falseAlarms.length / principalDays, steady: { count: steadyAlarms, principalDays: steadyPrincipalDays }, byType: Object.fromEntries(byType) },
        detection: Object.fromEntries([...detection].map(([k, v]) => [k, { n: v.n, detected: v.detected, medianDelayS: median(v.delaysS), maxDelayS: max(v.delaysS), medianRequestsBefore: median(v.requestsBefore), firstReport: Object.fromEntries(v.kinds) }])),
      },
      null,
      2,
    ),
  );
  console.log(`\nwritten ${jsonOut}`);
}
