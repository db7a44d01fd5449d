/**
 * Grouped cross-validation: every sample is scored by the model fitted without
 * its fold, and fitting on a subset of folds uses only those folds' windows.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { outOfFoldScores, trainWithOutOfFoldCalibration } from "../../src/model/crossval.js";
import { loadClassifier } from "../../src/model/weights.js";
import type { LexiconSource } from "../../src/model/lexicon.js";
import { multilingualAttacks, type TrainingTemplates } from "../../src/model/synth.js";
import { DEFAULT_TRAIN_OPTIONS, fitWeights, prepareTraining, type TrainingSample } from "../../src/model/train.js";

const root = new URL("../../", import.meta.url);
const lexiconText = readFileSync(new URL("data/model/lexicon.json", root), "utf8");
const lexicon = JSON.parse(readFileSync(new URL("data/model/lexicon.json", root), "utf8")) as LexiconSource;
const templates = JSON.parse(readFileSync(new URL("data/model/training-templates.json", root), "utf8")) as TrainingTemplates;
const options = { ...DEFAULT_TRAIN_OPTIONS, settings: { ...DEFAULT_TRAIN_OPTIONS.settings, bucketBits: 12 }, epochs: 2 };

// Two languages' templates per fold: attacks and benign look-alikes.
const samples: Array<TrainingSample & { fold: number }> = Object.keys(templates.languages)
  .sort()
  .slice(0, 6)
  .flatMap((language, index) => {
    const t = templates.languages[language]!;
    const fold = index % 3;
    return [
      ...multilingualAttacks(t).map((text) => ({ text, label: 1 as const, domain: "prompt" as const, weight: 1, fold })),
      ...t.benign.map((text) => ({ text, label: 0 as const, domain: "prompt" as const, weight: 1, fold })),
    ];
  });

describe("grouped cross-validation", () => {
  const prepared = prepareTraining(lexicon, samples, options);

  it("fits on the included folds only", () => {
    const all = fitWeights(prepared, options).windows;
    const withoutFirst = fitWeights(prepared, options, (f) => f !== 0).windows;
    const firstOnly = fitWeights(prepared, options, (f) => f === 0).windows;
    expect(withoutFirst + firstOnly).toBe(all);
    expect(firstOnly).toBeGreaterThan(0);
  });

  it("scores every sample out of fold, and ranks unseen-language attacks above their benign look-alikes", () => {
    const scores = outOfFoldScores(prepared, samples, 3, lexicon, options);
    expect(scores.every((s) => Number.isFinite(s))).toBe(true);
    const mean = (label: 0 | 1): number => {
      const picked = samples.map((s, i) => [s, scores[i]!] as const).filter(([s]) => s.label === label);
      return picked.reduce((sum, [, v]) => sum + v, 0) / picked.length;
    };
    expect(mean(1)).toBeGreaterThan(mean(0));
  });

  it("writes a model fitted on everything and calibrated on out-of-fold benign scores", () => {
    const dir = mkdtempSync(join(tmpdir(), "bulwark-oof-"));
    try {
      const grouped = samples.map((s) => ({ ...s, set: `set-${s.fold}` }));
      const result = trainWithOutOfFoldCalibration(dir, lexiconText, grouped, 3, options, "test", {});
      expect(result).not.toBeNull();
      const model = loadClassifier(dir);
      const points = model.metadata.calibration.prompt;
      expect(points.length).toBeGreaterThan(3);
      // A lower target FPR needs a higher raw score.
      expect(points.find((p) => p.fpr === 0.01)!.raw).toBeGreaterThanOrEqual(points.find((p) => p.fpr === 0.1)!.raw);
      // A fold whose complement has no attacks cannot be cross-validated.
      const onlyOneAttackFold = grouped.map((s) => (s.label === 1 ? { ...s, fold: 0 } : s));
      expect(trainWithOutOfFoldCalibration(dir, lexiconText, onlyOneAttackFold, 3, options, "test", {})).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
