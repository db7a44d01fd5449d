/**
 * Reading and writing a model directory: classifier.json (metadata,
 * calibration, hashes), classifier.bin (weights) and lexicon.json. The shipped
 * model lives in data/model/ and is loaded once per process.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { LexiconSource } from "./lexicon.js";
import { Classifier, decodeWeights, encodeWeights, sha256, type ModelMetadata, type RawWeights } from "./model.js";

export const METADATA_FILE = "classifier.json";
export const WEIGHTS_FILE = "classifier.bin";
export const LEXICON_FILE = "lexicon.json";

/** data/model of the installed package, found by walking up from this module (src/ or dist/). */
export function shippedModelDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, "data", "model");
    if (existsSync(join(candidate, METADATA_FILE)) || existsSync(join(dir, "package.json"))) return candidate;
    dir = dirname(dir);
  }
  throw new Error("classifier: cannot find data/model");
}

export function loadClassifier(dir: string): Classifier {
  const metadata = JSON.parse(readFileSync(join(dir, METADATA_FILE), "utf8")) as ModelMetadata;
  if (metadata.format !== "bulwark-classifier/1") throw new Error(`classifier: unknown model format ${String(metadata.format)}`);
  const bytes = readFileSync(join(dir, WEIGHTS_FILE));
  const lexiconText = readFileSync(join(dir, LEXICON_FILE), "utf8");
  if (sha256(bytes) !== metadata.weightsSha256) throw new Error("classifier: weights do not match their metadata (sha256)");
  if (sha256(lexiconText) !== metadata.lexiconSha256) throw new Error("classifier: lexicon does not match the weights (sha256)");
  const weights = decodeWeights(bytes, metadata.settings.bucketBits, metadata.denseNames.length, metadata.hashedScale, metadata.hiddenUnits ?? 0);
  return new Classifier(metadata, JSON.parse(lexiconText) as LexiconSource, weights);
}

let shipped: Classifier | undefined;

/** The model shipped in the package, loaded on first use. */
export function shippedClassifier(): Classifier {
  shipped ??= loadClassifier(shippedModelDir());
  return shipped;
}

export function writeModel(dir: string, metadata: Omit<ModelMetadata, "weightsSha256" | "lexiconSha256" | "hashedScale">, weights: RawWeights, lexiconText: string): ModelMetadata {
  mkdirSync(dir, { recursive: true });
  const { bytes, hashedScale } = encodeWeights(weights);
  const full: ModelMetadata = { ...metadata, hashedScale, weightsSha256: sha256(bytes), lexiconSha256: sha256(lexiconText) };
  writeFileSync(join(dir, WEIGHTS_FILE), bytes);
  writeFileSync(join(dir, METADATA_FILE), JSON.stringify(full, null, 1) + "\n");
  if (!existsSync(join(dir, LEXICON_FILE)) || readFileSync(join(dir, LEXICON_FILE), "utf8") !== lexiconText) writeFileSync(join(dir, LEXICON_FILE), lexiconText);
  return full;
}
