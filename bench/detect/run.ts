/**
 * `npm run bench:detect`: Bulwark's heuristics alone, the classifier alone and
 * both together, beside the JavaScript injection detectors that install from
 * npm and run offline on Node 20, on the same data: the cross-validation
 * corpus written by `npm run train` (bench/results/crossval.jsonl), where
 * Bulwark's classifier scores each text with the fold model that never saw the
 * text's source (bench/results/folds/N, calibrated like the shipped model), so
 * no row is scored by a model trained on its source. Every tenth row by default
 * (`--limit N` for about N rows, `--limit 0` for all). Prints one table of
 * accuracy and microseconds per call and writes bench/results/detect.json.
 *
 * The third-party packages live in bench/detect/package.json and are installed
 * by the npm script, so the bulwark package and its devDependencies stay lean.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createGuard, type Guard } from "../../src/guard/engine.js";
import type { Layer, Role } from "../../src/guard/types.js";
import { PolicySchema } from "../../src/policy/schema.js";
import { createNormalizeLayer } from "../../src/detectors/normalize/index.js";
import { createHeuristicsLayer } from "../../src/detectors/heuristics/index.js";
import { createClassifierLayer } from "../../src/model/layer.js";
import type { Classifier } from "../../src/model/model.js";
import { loadClassifier } from "../../src/model/weights.js";
import { computeMetrics, percentile, type Scored } from "../../src/model/metrics.js";
import { machine, table } from "../lib.js";

const corpusPath = new URL("../results/crossval.jsonl", import.meta.url);
const foldDir = (fold: number): URL => new URL(`../results/folds/${fold}/`, import.meta.url);
if (!existsSync(corpusPath) || !existsSync(foldDir(0))) {
  console.error("bench/results/crossval.jsonl or bench/results/folds/ is missing: run `npm run train` first (it writes them).");
  process.exit(2);
}
interface Item {
  readonly text: string;
  readonly label: 0 | 1;
  readonly role: Role;
  readonly set: string;
  readonly fold: number;
}
const items: Item[] = readFileSync(corpusPath, "utf8")
  .split("\n")
  .filter(Boolean)
  .map((line) => {
    const row = JSON.parse(line) as { text: string; label: string; role: Role; set: string; fold: number };
    return { text: row.text, label: row.label === "attack" ? 1 : 0, role: row.role, set: row.set, fold: row.fold };
  });
const args = process.argv.slice(2);
const limitArg = args.indexOf("--limit");
const limit = limitArg >= 0 ? Number(args[limitArg + 1]) : Math.ceil(items.length / 10);
const sample = limit > 0 && limit < items.length ? items.filter((_, i) => i % Math.ceil(items.length / limit) === 0) : items;
const folds = [...new Set(items.map((i) => i.fold))].sort((a, b) => a - b);
const foldModels = new Map<number, Classifier>(folds.map((f) => [f, loadClassifier(foldDir(f).pathname)]));

type Verdict = boolean;
interface Detector {
  readonly name: string;
  readonly note: string;
  detect(text: string, role: Role, fold: number): Verdict | Promise<Verdict>;
}

const policy = PolicySchema.parse({ version: 1 });
const guardOf = (layers: Array<Layer | null>): Guard => createGuard({ policy: { version: 1 }, replaceBuiltinLayers: true, layers: layers.filter((l): l is Layer => l !== null) });
const bulwark = (name: string, guard: Guard): Detector => ({
  name,
  note: "blocks at the default policy",
  detect: async (text, role) => (await guard.check({ text, role })).action === "block",
});
/** A Bulwark detector with the classifier: the fold model that never saw the row's source. */
const bulwarkOutOfFold = (name: string, layers: (classifier: Classifier) => Array<Layer | null>): Detector => {
  const guards = new Map<number, Guard>([...foldModels].map(([fold, classifier]) => [fold, guardOf(layers(classifier))]));
  return { name, note: "blocks at the default policy; classifier out of fold", detect: async (text, role, fold) => (await guards.get(fold)!.check({ text, role })).action === "block" };
};
const normalize = createNormalizeLayer(policy);
const detectors: Detector[] = [
  bulwark("bulwark heuristics", guardOf([normalize, createHeuristicsLayer(policy)])),
  bulwarkOutOfFold("bulwark classifier", (classifier) => [normalize, createClassifierLayer(policy, { classifier })]),
  bulwarkOutOfFold("bulwark heuristics + classifier", (classifier) => [normalize, createHeuristicsLayer(policy), createClassifierLayer(policy, { classifier })]),
];
const skipped: string[] = [];

// Loaded by name so that the bulwark package typechecks without bench/detect/node_modules.
async function load(name: string): Promise<Record<string, unknown> | null> {
  try {
    return (await import(name)) as Record<string, unknown>;
  } catch (error) {
    skipped.push(`${name}: cannot load (${error instanceof Error ? error.message.split("\n")[0] : String(error)})`);
    return null;
  }
}
type Fn = (...args: unknown[]) => unknown;

// hai-guardrails starts a worker pool at import whose worker path does not exist in the published build;
// its pattern mode never uses the pool, so that one error is ignored.
process.on("uncaughtException", (error) => {
  if (String(error?.message).includes("piscina")) return;
  throw error;
});

const vard = await load("@andersmyrmel/vard");
if (vard) {
  const check = vard.default as Fn;
  detectors.push({ name: "@andersmyrmel/vard", note: "default preset; throws on detection", detect: (t) => { try { check(t); return false; } catch { return true; } } });
}
const llmGuardrail = await load("llm_guardrail");
if (llmGuardrail) {
  const checkAll = llmGuardrail.checkAll as Fn;
  detectors.push({ name: "llm_guardrail", note: "TF-IDF + logistic regression; injection or jailbreak detected", detect: async (t) => { const r = (await checkAll(t)) as { injection?: { detected?: boolean }; jailbreak?: { detected?: boolean } }; return Boolean(r.injection?.detected || r.jailbreak?.detected); } });
}
const llmverify = await load("llmverify");
if (llmverify) {
  const isInputSafe = llmverify.isInputSafe as Fn;
  detectors.push({ name: "llmverify", note: "isInputSafe", detect: (t) => !isInputSafe(t) });
}
const aidefence = await load("@claude-flow/aidefence");
if (aidefence) {
  const isSafe = aidefence.isSafe as Fn;
  detectors.push({ name: "@claude-flow/aidefence", note: "isSafe", detect: (t) => !isSafe(t) });
}
const hai = await load("@presidio-dev/hai-guardrails");
if (hai) {
  const guard = (hai.injectionGuard as Fn)({ roles: ["user"] }, { mode: "pattern", threshold: 0.7 }) as Fn;
  detectors.push({ name: "@presidio-dev/hai-guardrails", note: "injection guard, pattern mode, threshold 0.7", detect: async (t) => { const r = (await guard([{ role: "user", content: t }])) as Array<{ passed: boolean }>; return r.some((x) => !x.passed); } });
}
const reactive = await load("@reactive-agents/guardrails");
const effect = await load("effect");
if (reactive && effect) {
  const detectInjection = reactive.detectInjection as Fn;
  const runSync = (effect.Effect as Record<string, Fn>).runSync!;
  detectors.push({ name: "@reactive-agents/guardrails", note: "detectInjection", detect: (t) => (runSync(detectInjection(t)) as { detected: boolean }).detected });
}
const llmGuard = await load("llm-guard");
if (llmGuard) {
  const LLMGuard = llmGuard.LLMGuard as new (options: Record<string, boolean>) => { validate(text: string): Promise<{ isValid: boolean }> };
  const guard = new LLMGuard({ jailbreak: true, promptInjection: true });
  detectors.push({ name: "llm-guard", note: "jailbreak + promptInjection validators", detect: async (t) => !(await guard.validate(t)).isValid });
}

const INDIRECT = /indirect|tool-json/;
const TRIGGER_WORDS = new Set(["xstest-safe", "trigger-word-benign"]);
const rows: Array<Array<string | number>> = [];
const results: Array<Record<string, unknown>> = [];
for (const detector of detectors) {
  const scored: Scored[] = [];
  const trigger: Scored[] = [];
  const indirect: Scored[] = [];
  const direct: Scored[] = [];
  const micros: number[] = [];
  for (let i = 0; i < Math.min(50, sample.length); i++) await detector.detect(sample[i]!.text, sample[i]!.role, sample[i]!.fold);
  for (const item of sample) {
    const started = process.hrtime.bigint();
    let flagged: boolean;
    try {
      flagged = await detector.detect(item.text, item.role, item.fold);
    } catch {
      flagged = true;
    }
    micros.push(Number(process.hrtime.bigint() - started) / 1000);
    const s: Scored = { label: item.label, score: flagged ? 1 : 0, flagged };
    scored.push(s);
    if (TRIGGER_WORDS.has(item.set)) trigger.push(s);
    if (INDIRECT.test(item.set)) indirect.push(s);
    else if (item.label === 1) direct.push(s);
  }
  const all = computeMetrics(scored);
  const pct = (v: number | null): string => (v === null ? "-" : (100 * v).toFixed(1));
  const row = {
    detector: detector.name,
    note: detector.note,
    tpr: all.tpr,
    fpr: all.fpr,
    precision: all.precision,
    f1: all.f1,
    directRecall: computeMetrics(direct).tpr,
    indirectRecall: computeMetrics(indirect.filter((s) => s.label === 1)).tpr,
    triggerWordFpr: computeMetrics(trigger).fpr,
    p50Us: percentile(micros, 0.5),
    p99Us: percentile(micros, 0.99),
  };
  results.push(row);
  rows.push([row.detector, pct(row.tpr), pct(row.fpr), pct(row.precision), row.f1 === null ? "-" : row.f1.toFixed(3), pct(row.directRecall), pct(row.indirectRecall), pct(row.triggerWordFpr), row.p50Us.toFixed(1), row.p99Us.toFixed(1)]);
  console.error(`${detector.name}: done`);
}

const attacks = sample.filter((i) => i.label === 1).length;
console.log(`Cross-validation corpus, classifier out of fold: ${attacks} attacks, ${sample.length - attacks} benign; ${machine()}`);
console.log(table(["detector", "TPR %", "FPR %", "precision %", "F1", "direct recall %", "indirect recall %", "trigger-word FPR %", "p50 µs", "p99 µs"], rows));
for (const line of skipped) console.log(`skipped ${line}`);
mkdirSync(new URL("../results/", import.meta.url), { recursive: true });
writeFileSync(new URL("../results/detect.json", import.meta.url), JSON.stringify({ machine: machine(), items: sample.length, attacks, results, skipped }, null, 2) + "\n");
