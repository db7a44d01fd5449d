/**
 * `bulwark train`: train a classifier from labelled JSONL into a model directory
 * that a policy can point at (`layers.classifier.modelDir`). `--add` folds in
 * cases that got through or were wrongly blocked, weighted up, and retrains.
 */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import type { CalibrationSample } from "../model/pipeline.js";
import { trainCalibrateWrite } from "../model/pipeline.js";
import { trainWithOutOfFoldCalibration, type GroupedSample } from "../model/crossval.js";
import { readLabelled, type LabelledRecord } from "../model/records.js";
import { DEFAULT_TRAIN_OPTIONS, type TrainingSample } from "../model/train.js";
import { LEXICON_FILE, shippedModelDir } from "../model/weights.js";
import { domainForRole } from "../model/layer.js";
import { join } from "node:path";
import { stderr } from "./output.js";

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function register(program: Command): void {
  program
    .command("train")
    .summary("train the injection classifier from labelled JSONL")
    .description(
      [
        "Train the injection and jailbreak classifier from JSONL lines {\"text\", \"label\": \"attack\"|\"benign\", \"role\"?}.",
        "Role document or tool trains the document model (indirect injection); anything else the prompt model.",
        "Thresholds are calibrated out of fold: with three or more sets (files, or the lines' `set`), each set is",
        "scored by a model fitted without it, and the benign scores place the thresholds; the model written is",
        "fitted on everything. With fewer sets, every seventh benign line is kept out of training instead.",
        "Training is deterministic: the same files and seed give the same weights.",
      ].join("\n"),
    )
    .requiredOption("-d, --data <file>", "labelled JSONL (repeatable)", collect, [])
    .requiredOption("-o, --out <dir>", "model directory to write (classifier.json, classifier.bin, lexicon.json)")
    .option("-a, --add <file>", "extra cases (missed attacks, false alarms), weighted up (repeatable)", collect, [])
    .option("--seed <n>", "random seed", (v) => Number.parseInt(v, 10), DEFAULT_TRAIN_OPTIONS.seed)
    .option("--epochs <n>", "passes over the data", (v) => Number.parseInt(v, 10), DEFAULT_TRAIN_OPTIONS.epochs)
    .option("--lexicon <file>", "trigger lexicon (default: the shipped data/model/lexicon.json)")
    .addHelpText("after", ["", "Examples:", "  $ bulwark train --data attacks.jsonl --data benign.jsonl --out ./my-model", "  $ bulwark train --data attacks.jsonl --data benign.jsonl --add missed.jsonl --out ./my-model", "  then in the policy:  layers: { classifier: { modelDir: ./my-model } }"].join("\n"))
    .action((options: { data: string[]; out: string; add: string[]; seed: number; epochs: number; lexicon?: string }) => {
      const read = (paths: readonly string[]): LabelledRecord[] =>
        paths.flatMap((path) => {
          const { records, skipped } = readLabelled(path);
          if (skipped > 0) stderr(`${path}: skipped ${skipped} lines whose label is neither attack nor benign`);
          return records;
        });
      const base = read(options.data);
      const extra = read(options.add);
      if (!base.some((r) => r.label === 1) || !base.some((r) => r.label === 0)) {
        stderr("train: the --data files need both attack and benign lines");
        process.exitCode = 2;
        return;
      }
      // Each file and class gets the same total weight, so no file dominates by size; --add cases get more.
      const budgets = new Map<string, number>();
      for (const r of [...base, ...extra]) budgets.set(`${r.set}:${r.label}`, (budgets.get(`${r.set}:${r.label}`) ?? 0) + 1);
      const weightOf = (r: LabelledRecord, factor: number): number => factor / budgets.get(`${r.set}:${r.label}`)!;
      const lexiconText = readFileSync(options.lexicon ?? join(shippedModelDir(), LEXICON_FILE), "utf8");
      const trainOptions = { ...DEFAULT_TRAIN_OPTIONS, seed: options.seed, epochs: options.epochs };
      const record = { data: options.data, add: options.add, records: base.length + extra.length };
      const sets = [...new Set(base.map((r) => r.set))].sort();
      const folds = Math.min(5, sets.length);
      const grouped: GroupedSample[] = [
        ...base.map((r) => ({ text: r.text, label: r.label, domain: domainForRole(r.role), weight: weightOf(r, 1), set: r.set, fold: sets.indexOf(r.set) % folds })),
        // Added cases join the fold of their own set when it is one of the data sets, else the first fold.
        ...extra.map((r) => ({ text: r.text, label: r.label, domain: domainForRole(r.role), weight: weightOf(r, 2), set: r.set, fold: Math.max(0, sets.indexOf(r.set)) % folds })),
      ];
      let result = folds >= 3 ? trainWithOutOfFoldCalibration(options.out, lexiconText, grouped, folds, trainOptions, "custom", record, stderr) : null;
      if (result === null) {
        const samples: TrainingSample[] = [];
        const calibration: CalibrationSample[] = [];
        let benignIndex = 0;
        for (const s of grouped.slice(0, base.length)) {
          if (s.label === 0 && benignIndex++ % 7 === 3) calibration.push({ text: s.text, domain: s.domain, set: s.set });
          else samples.push(s);
        }
        samples.push(...grouped.slice(base.length));
        result = trainCalibrateWrite(options.out, lexiconText, samples, calibration, trainOptions, "custom", record, stderr);
      }
      const { metadata, windows } = result;
      stderr(`wrote ${options.out}: ${windows} training windows, weights sha256 ${metadata.weightsSha256}`);
      stderr(`use it with a policy: layers: { classifier: { modelDir: ${JSON.stringify(options.out)} } }`);
    });
}
