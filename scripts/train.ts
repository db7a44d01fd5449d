/**
 * `npm run train`: rebuild the shipped classifier (data/model/) from
 * ../shared/datasets and data/model/training-templates.json, deterministically,
 * evaluate it on the held-out sources, and write docs/model-card.md and the
 * held-out sets (bench/results/heldout.jsonl, for `bulwark eval`).
 *
 *   npm run train                   rebuild data/model and the model card
 *   npm run train -- --check        retrain into a temporary directory and compare weight hashes byte for byte
 *   npm run train -- --scale 0.1    a quick, smaller run (not the shipped model)
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildCorpus, type Sample } from "../src/model/corpus.js";
import { detect, rawAtFpr } from "../src/model/detect.js";
import { evaluateDetector, evalRowCells, EVAL_HEADER, markdownTable, type EvalItem, type EvalRow } from "../src/model/evaluate.js";
import type { Domain, ModelMetadata } from "../src/model/model.js";
import { trainCalibrateWrite, type CalibrationSample } from "../src/model/pipeline.js";
import { Random } from "../src/model/random.js";
import { sentences, toolOutput, type TrainingTemplates } from "../src/model/synth.js";
import { DEFAULT_TRAIN_OPTIONS } from "../src/model/train.js";
import { foldText } from "../src/model/text.js";
import { loadClassifier, WEIGHTS_FILE } from "../src/model/weights.js";

/** Bump when the training data, templates or method change. */
const MODEL_VERSION = "2025.11.1";

const root = resolve(import.meta.dirname, "..");
const args = process.argv.slice(2);
const check = args.includes("--check");
const scaleArg = args.indexOf("--scale");
const scale = scaleArg >= 0 ? Number(args[scaleArg + 1]) : 1;
const datasets = resolve(root, "../shared/datasets");
const lexiconText = readFileSync(join(root, "data/model/lexicon.json"), "utf8");
const templates = JSON.parse(readFileSync(join(root, "data/model/training-templates.json"), "utf8")) as TrainingTemplates;
const log = (line: string): void => console.error(line);

const started = performance.now();
const numberArg = (name: string): number | undefined => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : undefined);
// --l2 and --epochs exist for experiments; the shipped model uses the defaults.
const options = { ...DEFAULT_TRAIN_OPTIONS, l2: numberArg("--l2") ?? DEFAULT_TRAIN_OPTIONS.l2, epochs: numberArg("--epochs") ?? DEFAULT_TRAIN_OPTIONS.epochs };
const corpus = buildCorpus({ datasets, templates, seed: options.seed, scale });
log(`corpus: ${corpus.train.length} training texts, ${corpus.calibration.length} calibration, ${corpus.heldOut.length} held out`);
const ORDINARY = new Set(["clinc150", "banking77", "gsm8k", "p3-prompts", "p3-passages", "python-peps", "bipia-table"]);
// Calibrate on the benign slice of the training sources (never trained on), plus JSON tool output built from its documents.
const calibrationSamples: CalibrationSample[] = corpus.calibration.filter((s) => ORDINARY.has(s.set));
const rng = new Random(options.seed + 1);
const calibrationFields = calibrationSamples.filter((s) => s.domain === "document").flatMap((s) => sentences(s.text).slice(0, 6));
for (let i = 0; i < Math.min(400, calibrationFields.length); i++) {
  calibrationSamples.push({ text: toolOutput(Array.from({ length: 2 + rng.int(4) }, () => rng.pick(calibrationFields)), rng), domain: "document", set: "tool-json" });
}
const outDir = check ? mkdtempSync(join(tmpdir(), "bulwark-train-")) : join(root, "data/model");
const { metadata: written, windows } = trainCalibrateWrite(outDir, lexiconText, corpus.train, calibrationSamples, options, MODEL_VERSION, { scale, corpus: corpus.stats }, log);
log(`weights: ${written.weightsSha256} (${(readFileSync(join(outDir, WEIGHTS_FILE)).length / 1024).toFixed(0)} KiB) in ${((performance.now() - started) / 1000).toFixed(1)} s`);

if (check) {
  const shipped = JSON.parse(readFileSync(join(root, "data/model/classifier.json"), "utf8")) as ModelMetadata;
  const same = shipped.weightsSha256 === written.weightsSha256 && readFileSync(join(root, "data/model", WEIGHTS_FILE)).equals(readFileSync(join(outDir, WEIGHTS_FILE)));
  const sameMeta = readFileSync(join(root, "data/model/classifier.json"), "utf8") === readFileSync(join(outDir, "classifier.json"), "utf8");
  rmSync(outDir, { recursive: true, force: true });
  console.log(same && sameMeta ? `reproduced: ${written.weightsSha256}` : `MISMATCH: shipped ${shipped.weightsSha256}, rebuilt ${written.weightsSha256}${same ? " (metadata differs)" : ""}`);
  process.exit(same && sameMeta ? 0 : 1);
}

// Held-out evaluation of the model as written (quantised weights, loaded the way the layer loads them).
const model = loadClassifier(outDir);
const roleOf = (s: Sample): EvalItem["role"] => (s.domain === "prompt" ? "user" : s.set.startsWith("tool-json") ? "tool" : "document");
const items: EvalItem[] = corpus.heldOut.map((s) => ({ text: s.text, label: s.label, role: roleOf(s), set: s.set }));
mkdirSync(join(root, "bench/results"), { recursive: true });
writeFileSync(join(root, "bench/results/heldout.jsonl"), items.map((i) => JSON.stringify({ text: i.text, label: i.label ? "attack" : "benign", role: i.role, set: i.set })).join("\n") + "\n");
const rows: EvalRow[] = await evaluateDetector(items, (item) => {
  const domain: Domain = item.role === "user" ? "prompt" : "document";
  const d = detect(model, foldText(item.text), item.text, domain);
  return { score: d.raw, flagged: d.raw >= rawAtFpr(model.metadata.calibration[domain], 0.01) };
});
const table = markdownTable(EVAL_HEADER, rows.map(evalRowCells));
console.log(table);
if (scale === 1 && options.l2 === DEFAULT_TRAIN_OPTIONS.l2 && options.epochs === DEFAULT_TRAIN_OPTIONS.epochs) {
  const card = readFileSync(join(root, "docs/model-card.template.md"), "utf8")
    .replace("{{HELDOUT_TABLE}}", table)
    .replace("{{CORPUS}}", "```json\n" + JSON.stringify(corpus.stats, null, 1) + "\n```")
    .replace("{{WEIGHTS}}", `${written.weightsSha256} (${readFileSync(join(outDir, WEIGHTS_FILE)).length} bytes)`)
    .replace("{{WINDOWS}}", String(windows))
    .replace("{{CALIBRATION}}", markdownTable(["FPR", "prompt raw", "document raw"], written.calibration.prompt.map((p, i) => [String(p.fpr), p.raw.toFixed(3), written.calibration.document[i]!.raw.toFixed(3)])));
  writeFileSync(join(root, "docs/model-card.md"), card);
}
