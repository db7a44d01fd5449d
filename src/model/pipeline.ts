/**
 * Train, calibrate and write a model directory: the one path shared by
 * `npm run train` (the shipped model) and `bulwark train` (a user's model).
 */
import { calibrationPoints } from "./calibration.js";
import { detect } from "./detect.js";
import { denseNames } from "./features.js";
import type { LexiconSource } from "./lexicon.js";
import { Classifier, DOMAINS, type CalibrationPoint, type Domain, type ModelMetadata } from "./model.js";
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
  const base = {
    format: "bulwark-classifier/1" as const,
    modelVersion,
    settings: options.settings,
    denseNames: denseNames(trained.parts.lexicon),
    surpriseLevels: trained.parts.surprise.levels,
    gibberish: { rareNll: trained.parts.gibberish.rareNll, tokenNll: trained.parts.gibberish.tokenNll, neutralNll: trained.parts.gibberish.neutralNll },
  };
  const provisional = new Classifier({ ...base, hashedScale: 1, calibration: { prompt: [], document: [] }, lexiconSha256: "", weightsSha256: "", training: {} }, lexicon, trained.weights);
  const raw: Record<Domain, Array<{ raw: number; set: string }>> = { prompt: [], document: [] };
  for (const s of calibrationSamples) raw[s.domain].push({ raw: detect(provisional, foldText(s.text), s.text, s.domain).raw, set: s.set });
  const points = {} as Record<Domain, CalibrationPoint[]>;
  for (const domain of DOMAINS) points[domain] = calibrationPoints(raw[domain]);
  // A domain without benign calibration text borrows the other's thresholds.
  if (raw.prompt.length === 0) points.prompt = points.document;
  if (raw.document.length === 0) points.document = points.prompt;
  if (raw.prompt.length === 0 && raw.document.length === 0) throw new Error("train: no benign text to calibrate on");
  const metadata = writeModel(
    outDir,
    {
      ...base,
      calibration: points,
      training: { seed: options.seed, epochs: options.epochs, learningRate: options.learningRate, l2: options.l2, domainL2: options.domainL2, maxWindows: options.maxWindows, hardNegativeBoost: options.hardNegativeBoost, windows: trained.examples, ...extraTraining },
    },
    trained.weights,
    lexiconText,
  );
  return { metadata, windows: trained.examples };
}
