/**
 * Grouped k-fold cross-validation: every source (benign corpus, attack
 * collection, template language, p3 task family) belongs to one fold, and each
 * fold is scored by a model fitted without it. The out-of-fold scores are what
 * generalisation to unseen sources looks like; they also place the shipped
 * model's thresholds (calibration on text the calibrating model never saw).
 */
import { detect } from "./detect.js";
import type { LexiconSource } from "./lexicon.js";
import type { Domain, ModelMetadata } from "./model.js";
import { domainCalibration, unquantisedClassifier, writeTrained } from "./pipeline.js";
import { foldText } from "./text.js";
import { fitWeights, prepareTraining, type PreparedTraining, type TrainOptions } from "./train.js";

export interface FoldSample {
  readonly text: string;
  readonly domain: Domain;
  readonly fold: number;
}

/** Raw score of every sample from the model fitted on the other folds. */
export function outOfFoldScores(prepared: PreparedTraining, samples: readonly FoldSample[], folds: number, lexicon: LexiconSource, options: TrainOptions, log: (line: string) => void = () => {}): Float64Array {
  const scores = new Float64Array(samples.length).fill(Number.NaN);
  for (let fold = 0; fold < folds; fold++) {
    const { weights, windows } = fitWeights(prepared, options, (f) => f !== fold);
    const model = unquantisedClassifier(prepared.parts, weights, lexicon, options);
    let scored = 0;
    samples.forEach((s, i) => {
      if (s.fold !== fold) return;
      scores[i] = detect(model, foldText(s.text), s.text, s.domain).raw;
      scored++;
    });
    log(`fold ${fold + 1}/${folds}: fitted on ${windows} windows, scored ${scored} texts`);
  }
  return scores;
}

export interface GroupedSample extends FoldSample {
  readonly label: 0 | 1;
  readonly weight: number;
  /** Source name: benign sources are weighted equally in calibration. */
  readonly set: string;
}

/**
 * Fit on every sample and calibrate on the out-of-fold scores of the benign
 * ones (each set weighted equally), so the thresholds sit where text from a
 * source the model never saw falls. Null when some fold's complement lacks a
 * class (too few sources to cross-validate).
 */
export function trainWithOutOfFoldCalibration(
  outDir: string,
  lexiconText: string,
  samples: readonly GroupedSample[],
  folds: number,
  options: TrainOptions,
  modelVersion: string,
  extraTraining: Record<string, unknown>,
  log: (line: string) => void = () => {},
): { metadata: ModelMetadata; windows: number } | null {
  for (let fold = 0; fold < folds; fold++) {
    const rest = samples.filter((s) => s.fold !== fold && s.weight > 0);
    if (!rest.some((s) => s.label === 1) || !rest.some((s) => s.label === 0)) return null;
  }
  const lexicon = JSON.parse(lexiconText) as LexiconSource;
  const prepared = prepareTraining(lexicon, samples.filter((s) => s.weight > 0), options, log);
  const scores = outOfFoldScores(prepared, samples, folds, lexicon, options, log);
  const raw: Record<Domain, Array<{ raw: number; set: string }>> = { prompt: [], document: [] };
  samples.forEach((s, i) => {
    if (s.label === 0) raw[s.domain].push({ raw: scores[i]!, set: s.set });
  });
  const { weights, windows } = fitWeights(prepared, options, () => true, log);
  const metadata = writeTrained(outDir, lexiconText, prepared.parts, weights, domainCalibration(raw), options, modelVersion, windows, { folds, ...extraTraining });
  return { metadata, windows };
}
