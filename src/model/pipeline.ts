/**
 * Train, calibrate and write a model directory: the one path shared by
 * `npm run train` (the shipped model) and `bulwark train` (a user's model).
 */
import { calibrationPoints } from "./calibration.js";
import { detect } from "./detect.js";
import { denseNames } from "./features.js";
import type { LexiconSource } from "./lexicon.js";
import { Classifier, DOMAINS, type CalibrationPoint, type Domain, type ModelMetadata, type ModelParts, type RawWeights } from "./model.js";
import { foldText } from "./text.js";
import { trainModel, type TrainOptions, type TrainingSample } from "./train.js";
import { writeModel } from "./weights.js";

export interface CalibrationSample {
  readonly text: string;
  readonly domain: Domain;
  /** Benign sets are weighted equally when choosing thresholds. */
  readonly set: string;
}

export interface PipelineResult {
  readonly metadata: ModelMetadata;
  readonly windows: number;
}

function baseMetadata(parts: ModelParts, options: TrainOptions, modelVersion: string) {
  return {
    format: "bulwark-classifier/1" as const,
    modelVersion,
    settings: options.settings,
    denseNames: denseNames(parts.lexicon),
    surpriseLevels: parts.surprise.levels,
    gibberish: { rareNll: parts.gibberish.rareNll, tokenNll: parts.gibberish.tokenNll, neutralNll: parts.gibberish.neutralNll },
    ...(options.hidden ? { hiddenUnits: options.hidden } : {}),
  };
}

/** A scoring model straight from trained (unquantised) weights, for calibration and cross-validation. */
export function unquantisedClassifier(parts: ModelParts, weights: RawWeights, lexicon: LexiconSource, options: TrainOptions): Classifier {
  return new Classifier({ ...baseMetadata(parts, options, "provisional"), hashedScale: 1, calibration: { prompt: [], document: [] }, lexiconSha256: "", weightsSha256: "", training: {} }, lexicon, weights);
}

/** Calibration points per domain from benign raw scores; a domain without any borrows the other's. */
export function domainCalibration(raw: Record<Domain, ReadonlyArray<{ raw: number; set: string }>>): Record<Domain, CalibrationPoint[]> {
  if (raw.prompt.length === 0 && raw.document.length === 0) throw new Error("train: no benign text to calibrate on");
  const points = {} as Record<Domain, CalibrationPoint[]>;
  for (const domain of DOMAINS) points[domain] = calibrationPoints(raw[domain]);
  if (raw.prompt.length === 0) points.prompt = points.document;
  if (raw.document.length === 0) points.document = points.prompt;
  return points;
}

/** Write a trained model with its calibration and training record. */
export function writeTrained(
  outDir: string,
  lexiconText: string,
  parts: ModelParts,
  weights: RawWeights,
  calibration: Record<Domain, CalibrationPoint[]>,
  options: TrainOptions,
  modelVersion: string,
  windows: number,
  extraTraining: Record<string, unknown>,
): ModelMetadata {
  return writeModel(
    outDir,
    {
      ...baseMetadata(parts, options, modelVersion),
      calibration,
      training: { seed: options.seed, epochs: options.epochs, learningRate: options.learningRate, l2: options.l2, domainL2: options.domainL2, maxWindows: options.maxWindows, hardNegativeBoost: options.hardNegativeBoost, windows, ...extraTraining },
    },
    weights,
    lexiconText,
  );
}

export function trainCalibrateWrite(
  outDir: string,
  lexiconText: string,
  samples: readonly TrainingSample[],
  calibrationSamples: readonly CalibrationSample[],
  options: TrainOptions,
  modelVersion: string,
  extraTraining: Record<string, unknown>,
  log: (line: string) => void,
): PipelineResult {
  const lexicon = JSON.parse(lexiconText) as LexiconSource;
  const trained = trainModel(lexicon, samples, options, log);
  const provisional = unquantisedClassifier(trained.parts, trained.weights, lexicon, options);
  const raw: Record<Domain, Array<{ raw: number; set: string }>> = { prompt: [], document: [] };
  for (const s of calibrationSamples) raw[s.domain].push({ raw: detect(provisional, foldText(s.text), s.text, s.domain).raw, set: s.set });
  const metadata = writeTrained(outDir, lexiconText, trained.parts, trained.weights, domainCalibration(raw), options, modelVersion, trained.examples, extraTraining);
  return { metadata, windows: trained.examples };
}
