/**
 * `bulwark train`: train a classifier from labelled JSONL into a model directory
 * that a policy can point at (`layers.classifier.modelDir`). `--add` folds in
 * cases that got through or were wrongly blocked, weighted up, and retrains.
 */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import type { CalibrationSample } from "../model/pipeline.js";
import { trainCalibrateWrite } from "../model/pipeline.js";
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
        "Every seventh benign line is kept out of training to calibrate the thresholds on.",
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
      const samples: TrainingSample[] = [];
      const calibration: CalibrationSample[] = [];
      // Each file and class gets the same total weight, so no file dominates by size; --add cases get more.
      const budgets = new Map<string, number>();
      for (const r of [...base, ...extra]) budgets.set(`${r.set}:${r.label}`, (budgets.get(`${r.set}:${r.label}`) ?? 0) + 1);
      let benignIndex = 0;
      for (const r of base) {
        const domain = domainForRole(r.role);
        if (r.label === 0 && benignIndex++ % 7 === 3) {
          calibration.push({ text: r.text, domain, set: r.set });
          continue;
        }
        samples.push({ text: r.text, label: r.label, domain, weight: 1 / budgets.get(`${r.set}:${r.label}`)! });
      }
      for (const r of extra) samples.push({ text: r.text, label: r.label, domain: domainForRole(r.role), weight: 2 / budgets.get(`${r.set}:${r.label}`)! });
      const lexiconText = readFileSync(options.lexicon ?? join(shippedModelDir(), LEXICON_FILE), "utf8");
      const { metadata, windows } = trainCalibrateWrite(
        options.out,
        lexiconText,
        samples,
        calibration,
        { ...DEFAULT_TRAIN_OPTIONS, seed: options.seed, epochs: options.epochs },
        "custom",
        { data: options.data, add: options.add, records: base.length + extra.length },
        stderr,
      );
      stderr(`wrote ${options.out}: ${windows} training windows, weights sha256 ${metadata.weightsSha256}`);
      stderr(`use it with a policy: layers: { classifier: { modelDir: ${JSON.stringify(options.out)} } }`);
    });
}
