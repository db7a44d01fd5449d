/**
 * `npm run train`: rebuild the shipped classifier (data/model/) from
 * ../shared/datasets and data/model/training-templates.json, deterministically.
 *
 * 1. Grouped k-fold cross-validation by source: each fold of sources is scored
 *    by a model fitted without it (out-of-fold scores).
 * 2. Thresholds: per domain (prompt for user/system/assistant, document for
 *    document/tool), the out-of-fold scores of ordinary benign sources, each
 *    source weighted equally, give the raw score at each target FPR.
 * 3. The shipped model is fitted on every source and written with those thresholds.
 * 4. The out-of-fold results are written to docs/model-card.md and
 *    bench/results/ (crossval.jsonl and the fold models, for bench:detect).
 *
 *   npm run train                   rebuild data/model and the model card
 *   npm run train -- --check        retrain into a temporary directory and compare weights and metadata byte for byte
 *   npm run train -- --scale 0.3    a quicker, smaller run (not the shipped model; writes nothing into data/model)
 *   npm run train -- --dry          the full run and report without writing data/model or the card
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

import { buildCorpus, FOLDS, type Sample } from "../src/model/corpus.js";
import { outOfFoldScores } from "../src/model/crossval.js";
import { rawAtFpr } from "../src/model/detect.js";
import { markdownTable } from "../src/model/evaluate.js";
import type { LexiconSource } from "../src/model/lexicon.js";
import { computeMetrics, type Scored } from "../src/model/metrics.js";
import type { CalibrationPoint, Domain, ModelMetadata } from "../src/model/model.js";
import { domainCalibration, writeTrained } from "../src/model/pipeline.js";
import type { TrainingTemplates } from "../src/model/synth.js";
import { DEFAULT_TRAIN_OPTIONS, fitWeights, prepareTraining } from "../src/model/train.js";
import { WEIGHTS_FILE } from "../src/model/weights.js";

/** Bump when the training data, templates or method change. */
const MODEL_VERSION = "2025.11.4";

/** Ordinary benign traffic: the sources the block and flag thresholds are calibrated on. */
export const CALIBRATION_SETS = new Set([
  "clinc150", "banking77", "hwu64", "gsm8k", "self-instruct", "p3-prompts", "deepset",
  "p3-passages", "python-peps", "tldr-pages", "bipia-table", "bipia-email", "bipia-code", "composed-documents", "tool-json",
]);
/** Benign text full of trigger words (target: at most 5% FPR). */
const TRIGGER_SETS = new Set(["xstest-safe", "trigger-word-benign", "multilingual"]);
const INDIRECT_SETS = new Set(["indirect-documents", "tool-json"]);

const root = resolve(import.meta.dirname, "..");
const args = process.argv.slice(2);
const check = args.includes("--check");
const numberArg = (name: string): number | undefined => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : undefined);
const scale = numberArg("--scale") ?? 1;
const datasets = resolve(root, "../shared/datasets");
const lexiconText = readFileSync(join(root, "data/model/lexicon.json"), "utf8");
const lexicon = JSON.parse(lexiconText) as LexiconSource;
const templates = JSON.parse(readFileSync(join(root, "data/model/training-templates.json"), "utf8")) as TrainingTemplates;
const log = (line: string): void => console.error(line);

const started = performance.now();
// --l2, --epochs, --boost, --hidden, --seed, --window, --stride and --sub (0: none) exist for experiments; the shipped model uses the defaults.
const options = { ...DEFAULT_TRAIN_OPTIONS, l2: numberArg("--l2") ?? DEFAULT_TRAIN_OPTIONS.l2, epochs: numberArg("--epochs") ?? DEFAULT_TRAIN_OPTIONS.epochs, hardNegativeBoost: numberArg("--boost") ?? DEFAULT_TRAIN_OPTIONS.hardNegativeBoost, hidden: numberArg("--hidden") ?? DEFAULT_TRAIN_OPTIONS.hidden, seed: numberArg("--seed") ?? DEFAULT_TRAIN_OPTIONS.seed, settings: { ...DEFAULT_TRAIN_OPTIONS.settings, window: numberArg("--window") ?? DEFAULT_TRAIN_OPTIONS.settings.window, stride: numberArg("--stride") ?? DEFAULT_TRAIN_OPTIONS.settings.stride, sub: numberArg("--sub") ?? DEFAULT_TRAIN_OPTIONS.settings.sub } };
const shipping = !args.includes("--dry") && options.seed === DEFAULT_TRAIN_OPTIONS.seed && options.settings.window === DEFAULT_TRAIN_OPTIONS.settings.window && options.settings.stride === DEFAULT_TRAIN_OPTIONS.settings.stride && options.settings.sub === DEFAULT_TRAIN_OPTIONS.settings.sub && options.hidden === DEFAULT_TRAIN_OPTIONS.hidden && scale === 1 && options.l2 === DEFAULT_TRAIN_OPTIONS.l2 && options.epochs === DEFAULT_TRAIN_OPTIONS.epochs && options.hardNegativeBoost === DEFAULT_TRAIN_OPTIONS.hardNegativeBoost;
const corpus = buildCorpus({ datasets, templates, seed: options.seed, scale });
const samples = corpus.samples;
log(`corpus: ${samples.length} texts in ${FOLDS} folds`);
const prepared = prepareTraining(lexicon, samples.filter((s) => s.weight > 0), options, log);

// 1. Out-of-fold scores.
const oof = outOfFoldScores(prepared, samples, FOLDS, lexicon, options, log);

// 2. Thresholds from ordinary benign text the scoring model never saw, each source weighted equally.
const benignRaw = (exclude?: string): Record<Domain, Array<{ raw: number; set: string }>> => {
  const raw: Record<Domain, Array<{ raw: number; set: string }>> = { prompt: [], document: [] };
  samples.forEach((s, i) => {
    if (s.label === 0 && CALIBRATION_SETS.has(s.set) && s.set !== exclude) raw[s.domain].push({ raw: oof[i]!, set: s.set });
  });
  return raw;
};
const calibration = domainCalibration(benignRaw());

// 3. The shipped model: every source.
const outDir = check || !shipping ? mkdtempSync(join(tmpdir(), "bulwark-train-")) : join(root, "data/model");
const final = fitWeights(prepared, options, () => true, log);
const extra = { scale, folds: FOLDS, corpus: corpus.stats };
const written = writeTrained(outDir, lexiconText, prepared.parts, final.weights, calibration, options, MODEL_VERSION, final.windows, extra);
const weightBytes = readFileSync(join(outDir, WEIGHTS_FILE)).length;
log(`weights: ${written.weightsSha256} (${(weightBytes / 1024).toFixed(0)} KiB) in ${((performance.now() - started) / 1000).toFixed(1)} s`);

if (check) {
  const shipped = JSON.parse(readFileSync(join(root, "data/model/classifier.json"), "utf8")) as ModelMetadata;
  const same = shipped.weightsSha256 === written.weightsSha256 && readFileSync(join(root, "data/model", WEIGHTS_FILE)).equals(readFileSync(join(outDir, WEIGHTS_FILE)));
  const sameMeta = readFileSync(join(root, "data/model/classifier.json"), "utf8") === readFileSync(join(outDir, "classifier.json"), "utf8");
  rmSync(outDir, { recursive: true, force: true });
  console.log(same && sameMeta ? `reproduced: ${written.weightsSha256}` : `MISMATCH: shipped ${shipped.weightsSha256}, rebuilt ${written.weightsSha256}${same ? " (metadata differs)" : ""}`);
  process.exit(same && sameMeta ? 0 : 1);
}
if (!shipping) rmSync(outDir, { recursive: true, force: true });

// 4. Out-of-fold report. A benign source's FPR is measured at thresholds calibrated without that source,
// so it predicts a new source of ordinary traffic rather than restating the calibration.
const BLOCK_FPR = 0.01;
const FLAG_FPR = 0.03;
const pointsWithout = new Map<string, Record<Domain, CalibrationPoint[]>>();
const thresholdFor = (set: string, domain: Domain, fpr: number): number => {
  if (!CALIBRATION_SETS.has(set)) return rawAtFpr(calibration[domain], fpr);
  if (!pointsWithout.has(set)) pointsWithout.set(set, domainCalibration(benignRaw(set)));
  return rawAtFpr(pointsWithout.get(set)![domain], fpr);
};
const pct = (v: number | null | undefined): string => (v === null || v === undefined ? "-" : (100 * v).toFixed(1));
const bySet = new Map<string, number[]>();
samples.forEach((s, i) => bySet.set(s.set, [...(bySet.get(s.set) ?? []), i]));
const setRows: string[][] = [];
const summary: Record<string, unknown> = {};
for (const set of [...bySet.keys()].sort()) {
  const idx = bySet.get(set)!;
  const at = (fpr: number): Scored[] => idx.map((i) => ({ label: samples[i]!.label, score: oof[i]!, flagged: oof[i]! >= thresholdFor(set, samples[i]!.domain, fpr) }));
  const block = computeMetrics(at(BLOCK_FPR));
  const flag = computeMetrics(at(FLAG_FPR));
  const folds = [...new Set(idx.map((i) => samples[i]!.fold))].sort().join(",");
  const kind = CALIBRATION_SETS.has(set) ? "ordinary" : TRIGGER_SETS.has(set) ? "trigger words" : INDIRECT_SETS.has(set) ? "indirect" : "";
  setRows.push([set, kind, folds, String(block.attacks), String(block.benign), pct(block.tpr), pct(flag.tpr), pct(block.fpr), pct(flag.fpr), block.auc === null ? "-" : block.auc.toFixed(3)]);
  summary[set] = { tpr: block.tpr, fpr: block.fpr, flagTpr: flag.tpr, flagFpr: flag.fpr };
}
const recallAt = (fpr: number, filter: (s: Sample) => boolean = () => true): number => {
  const attacks = samples.map((s, i) => [s, i] as const).filter(([s]) => s.label === 1 && filter(s));
  return attacks.filter(([s, i]) => oof[i]! >= rawAtFpr(calibration[s.domain], fpr)).length / Math.max(1, attacks.length);
};
const benignFpr = (fpr: number, sets: ReadonlySet<string>): number => {
  const benign = samples.map((s, i) => [s, i] as const).filter(([s]) => s.label === 0 && sets.has(s.set));
  return benign.filter(([s, i]) => oof[i]! >= thresholdFor(s.set, s.domain, fpr)).length / Math.max(1, benign.length);
};
const curveFprs = [0.005, 0.01, 0.02, 0.03, 0.05];
const curveRows = curveFprs.map((fpr) => [
  `${(100 * fpr).toFixed(1)}%`,
  pct(recallAt(fpr)),
  pct(recallAt(fpr, (s) => s.domain === "prompt")),
  pct(recallAt(fpr, (s) => INDIRECT_SETS.has(s.set))),
  pct(benignFpr(fpr, CALIBRATION_SETS)),
  pct(benignFpr(fpr, TRIGGER_SETS)),
]);
const auc = computeMetrics(samples.map((s, i) => ({ label: s.label, score: oof[i]!, flagged: false }))).auc;
const setTable = markdownTable(["set", "kind", "folds", "attacks", "benign", "TPR % (block)", "TPR % (flag)", "FPR % (block)", "FPR % (flag)", "ROC AUC"], setRows);
const curveTable = markdownTable(["target FPR", "recall % (all attacks)", "recall % (direct)", "recall % (indirect)", "FPR % ordinary (pooled rows)", "FPR % trigger-word sets"], curveRows);
console.log(setTable);
console.log(`\nOut-of-fold ROC AUC (all sources pooled): ${auc?.toFixed(3)}\n`);
console.log(curveTable);

mkdirSync(join(root, "bench/results/folds"), { recursive: true });
const roleOf = (s: Sample): string => (s.domain === "prompt" ? "user" : s.set === "tool-json" ? "tool" : "document");
writeFileSync(join(root, "bench/results/crossval.jsonl"), samples.map((s, i) => JSON.stringify({ text: s.text, label: s.label ? "attack" : "benign", role: roleOf(s), set: s.set, fold: s.fold, oofRaw: oof[i] })).join("\n") + "\n");
writeFileSync(join(root, "bench/results/crossval-summary.json"), JSON.stringify({ modelVersion: MODEL_VERSION, scale, auc, sets: summary, curve: Object.fromEntries(curveFprs.map((f, k) => [f, curveRows[k]])) }, null, 1) + "\n");
function corpusTable(): string {
  const stats = corpus.stats as { beforeDedup: number; exactDuplicates: number; nearDuplicates: number; sets: Record<string, { attack: number; benign: number; folds: number[] }> };
  const rows = Object.entries(stats.sets)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([set, c]) => [set, String(c.attack), String(c.benign), c.folds.join(",")]);
  return `${stats.beforeDedup} real-source rows before deduplication; ${stats.exactDuplicates} exact and ${stats.nearDuplicates} near duplicates dropped.\n\n${markdownTable(["set", "attacks", "benign", "folds"], rows)}`;
}
if (shipping) {
  // Fold models with the shipped thresholds, so bench:detect can score every source out of fold.
  for (let fold = 0; fold < FOLDS; fold++) {
    const { weights, windows } = fitWeights(prepared, options, (f) => f !== fold);
    writeTrained(join(root, `bench/results/folds/${fold}`), lexiconText, prepared.parts, weights, calibration, options, `${MODEL_VERSION}-fold${fold}`, windows, { fold });
  }
  const card = readFileSync(join(root, "docs/model-card.template.md"), "utf8")
    .replace("{{CROSSVAL_TABLE}}", setTable)
    .replace("{{CURVE_TABLE}}", curveTable)
    .replace("{{AUC}}", auc?.toFixed(3) ?? "-")
    .replace("{{CORPUS}}", corpusTable())
    .replace("{{WEIGHTS}}", `${written.weightsSha256} (${weightBytes} bytes)`)
    .replace("{{WINDOWS}}", String(final.windows))
    .replace("{{CALIBRATION}}", markdownTable(["FPR", "prompt raw", "document raw"], written.calibration.prompt.map((p, i) => [String(p.fpr), p.raw.toFixed(3), written.calibration.document[i]!.raw.toFixed(3)])));
  writeFileSync(join(root, "docs/model-card.md"), card);
}

