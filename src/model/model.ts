/**
 * The classifier: weights, the binary weights format, and scoring.
 *
 * A text is featurized once; each window of it is scored as
 *   bias + max over the window and its sub-windows of
 *          (sum of hashed-feature weights in the range) / sqrt(feature count in the range)
 *        + dense weights . dense features x of the window
 *        + v . relu(W x + c)   (a small hidden layer over the same dense features)
 * and the text's score is its highest-scoring window, so an instruction hidden
 * in the middle of a long document is judged on its own rather than averaged
 * away. There are two domains: `prompt` (user, system and assistant messages)
 * and `document` (documents and tool output). They share one set of weights plus
 * a per-domain correction learned jointly (feature augmentation), because an
 * imperative like "write a poem" is ordinary from a user and suspicious inside
 * a fetched e-mail.
 */
import { createHash } from "node:crypto";
import { compileLexicon, type CompiledLexicon, type LexiconSource } from "./lexicon.js";
import { CHAR_CLASSES, foldText } from "./text.js";
import { Trace, denseFeatures, denseNames, featurize, markerPositions, pairIndexes, windowCount, windowEnd, windowRanges, type FeatureSettings, type GibberishModel, type SurpriseLevels } from "./features.js";

export type Domain = "prompt" | "document";
export const DOMAINS: readonly Domain[] = ["prompt", "document"];

/** Benign score quantiles of one domain: raw score reached by a fraction `fpr` of benign inputs. */
export interface CalibrationPoint {
  readonly fpr: number;
  readonly raw: number;
}

export interface ModelMetadata {
  readonly format: "bulwark-classifier/1";
  readonly modelVersion: string;
  readonly settings: FeatureSettings;
  readonly denseNames: readonly string[];
  readonly surpriseLevels: SurpriseLevels["levels"];
  readonly gibberish: { readonly rareNll: number; readonly tokenNll: number; readonly neutralNll: number };
  /** Hashed weights are stored as int16 times this scale. */
  readonly hashedScale: number;
  /** Units of the hidden layer over the dense features (absent or 0: none). */
  readonly hiddenUnits?: number;
  readonly calibration: Readonly<Record<Domain, readonly CalibrationPoint[]>>;
  readonly lexiconSha256: string;
  readonly weightsSha256: string;
  readonly training: Readonly<Record<string, unknown>>;
}

/** Trained parameters before quantisation. Index 0 is shared, 1 the document correction. */
export interface RawWeights {
  readonly hashed: readonly [Float32Array, Float32Array];
  readonly dense: readonly [Float32Array, Float32Array];
  readonly bias: readonly [number, number];
  readonly gibberishNll: Float32Array;
  /** Optional hidden ReLU layer over the dense features: units x dense weights `w`, offsets `c`, output weights `v`. */
  readonly hidden?: { readonly w: Float32Array; readonly c: Float32Array; readonly v: Float32Array };
}

export interface WindowScore {
  /** Raw (uncalibrated) score, a log-odds. */
  readonly raw: number;
  readonly start: number;
  readonly end: number;
  /** Bit set of lexicon concepts seen in the window. */
  readonly concepts: number;
}

/**
 * Serialise weights: int16 hashed tables, then float32 dense, bias and gibberish model, then (when there is
 * one) the hidden layer's float32 weights, offsets and output weights; little-endian.
 */
export function encodeWeights(weights: RawWeights): { bytes: Uint8Array; hashedScale: number } {
  let largest = 0;
  for (const table of weights.hashed) for (let i = 0; i < table.length; i++) largest = Math.max(largest, Math.abs(table[i]!));
  const hashedScale = largest > 0 ? Math.fround(largest / 32767) : 1;
  const buckets = weights.hashed[0].length;
  const denseSize = weights.dense[0].length;
  const hidden = weights.hidden;
  const floats = 2 * denseSize + 2 + CHAR_CLASSES * CHAR_CLASSES + (hidden ? hidden.w.length + hidden.c.length + hidden.v.length : 0);
  const view = new DataView(new ArrayBuffer(2 * 2 * buckets + 4 * floats));
  let at = 0;
  for (const table of weights.hashed) {
    for (let i = 0; i < buckets; i++) {
      view.setInt16(at, Math.round(table[i]! / hashedScale), true);
      at += 2;
    }
  }
  const writeFloat = (value: number): void => {
    view.setFloat32(at, value, true);
    at += 4;
  };
  for (const table of weights.dense) for (let i = 0; i < denseSize; i++) writeFloat(table[i]!);
  writeFloat(weights.bias[0]);
  writeFloat(weights.bias[1]);
  for (let i = 0; i < CHAR_CLASSES * CHAR_CLASSES; i++) writeFloat(weights.gibberishNll[i]!);
  if (hidden) for (const table of [hidden.w, hidden.c, hidden.v]) for (let i = 0; i < table.length; i++) writeFloat(table[i]!);
  return { bytes: new Uint8Array(view.buffer), hashedScale };
}

export function decodeWeights(bytes: Uint8Array, bucketBits: number, denseSize: number, hashedScale: number, hiddenUnits = 0): RawWeights {
  const buckets = 1 << bucketBits;
  const expected = 4 * buckets + 4 * (2 * denseSize + 2 + CHAR_CLASSES * CHAR_CLASSES + hiddenUnits * (denseSize + 2));
  if (bytes.byteLength !== expected) throw new Error(`classifier weights: expected ${expected} bytes, found ${bytes.byteLength}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const hashed: [Float32Array, Float32Array] = [new Float32Array(buckets), new Float32Array(buckets)];
  for (const table of hashed) {
    for (let i = 0; i < buckets; i++) {
      table[i] = view.getInt16(at, true) * hashedScale;
      at += 2;
    }
  }
  const readFloat = (): number => {
    const value = view.getFloat32(at, true);
    at += 4;
    return value;
  };
  const dense: [Float32Array, Float32Array] = [new Float32Array(denseSize), new Float32Array(denseSize)];
  for (const table of dense) for (let i = 0; i < denseSize; i++) table[i] = readFloat();
  const bias: [number, number] = [readFloat(), readFloat()];
  const gibberishNll = new Float32Array(CHAR_CLASSES * CHAR_CLASSES);
  for (let i = 0; i < gibberishNll.length; i++) gibberishNll[i] = readFloat();
  if (hiddenUnits === 0) return { hashed, dense, bias, gibberishNll };
  const read = (length: number): Float32Array => Float32Array.from({ length }, readFloat);
  const w = read(hiddenUnits * denseSize);
  const c = read(hiddenUnits);
  const v = read(hiddenUnits);
  return { hashed, dense, bias, gibberishNll, hidden: { w, c, v } };
}

export function sha256(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export interface ModelParts {
  readonly settings: FeatureSettings;
  readonly lexicon: CompiledLexicon;
  readonly gibberish: GibberishModel;
  readonly surprise: SurpriseLevels;
}

export function buildParts(settings: FeatureSettings, lexiconSource: LexiconSource, gibberish: GibberishModel, surpriseLevels: SurpriseLevels["levels"]): ModelParts {
  return { settings, lexicon: compileLexicon(lexiconSource), gibberish, surprise: { levels: surpriseLevels } };
}

/**
 * Window-level feature extraction shared by training and scoring: featurize
 * once, then hand out windows.
 */
export class WindowFeaturizer {
  readonly parts: ModelParts;
  readonly denseSize: number;
  private readonly pairs: Int32Array;
  private readonly trace = new Trace();
  private readonly counts: Int32Array;
  private markers: number[] = [];

  constructor(parts: ModelParts) {
    this.parts = parts;
    this.denseSize = denseNames(parts.lexicon).length;
    this.pairs = pairIndexes(parts.lexicon);
    this.counts = new Int32Array(parts.lexicon.concepts.length);
  }

  /**
   * Featurize `folded`; returns its windows. The trace stays valid until the next call. With `weights`,
   * hashed features are summed into them instead of stored (scoring; `sparse` is then unavailable).
   */
  load(folded: string, weights: Float32Array | null = null): Array<[number, number]> {
    this.featurize(folded, weights);
    return windowRanges(folded.length, this.parts.settings);
  }

  /** `load` without building the list of windows (scoring walks them with windowCount/windowEnd). */
  featurize(folded: string, weights: Float32Array | null): void {
    this.trace.weights = weights;
    featurize(folded, this.parts.lexicon, this.parts.gibberish, this.parts.settings, this.trace);
    this.markers = markerPositions(folded, this.parts.lexicon);
  }

  get current(): Trace {
    return this.trace;
  }

  dense(start: number, end: number, out: Float32Array): number {
    let markerCount = 0;
    for (const at of this.markers) if (at >= start && at < end) markerCount++;
    denseFeatures(this.trace, start, end, this.parts.lexicon, this.pairs, markerCount, this.parts.surprise, out, this.counts);
    let mask = 0;
    for (let c = 0; c < this.parts.lexicon.concepts.length; c++) if (this.counts[c]! > 0) mask |= 1 << c;
    return mask;
  }

  /** Sorted distinct buckets of the window and their normalised counts (count / sqrt(total)). */
  sparse(start: number, end: number): { buckets: Uint32Array; values: Float32Array } {
    const t = this.trace;
    if (t.weights !== null) throw new Error("featurizer: the last text was scored, not stored");
    const from = t.checkHashedCount[t.at(start)]!;
    const to = t.checkHashedCount[t.at(end)]!;
    const raw = t.hashedBucket.slice(from, to).sort();
    const total = Math.max(1, to - from);
    const norm = 1 / Math.sqrt(total);
    const buckets: number[] = [];
    const values: number[] = [];
    for (let i = 0; i < raw.length; ) {
      let j = i;
      while (j < raw.length && raw[j] === raw[i]) j++;
      buckets.push(raw[i]!);
      values.push((j - i) * norm);
      i = j;
    }
    return { buckets: Uint32Array.from(buckets), values: Float32Array.from(values) };
  }
}

/**
 * `sum` plus v . relu(w x + c) for the dense features `x`, visiting only the non-zero ones (most are zero);
 * `active` is scratch of x's length. Training passes `activations` to get relu(w x + c) back for its gradient.
 */
export function hiddenLayer(hidden: NonNullable<RawWeights["hidden"]>, x: Float32Array, active: Int32Array, sum: number, activations?: Float32Array): number {
  const { w, c, v } = hidden;
  const size = x.length;
  let count = 0;
  for (let k = 0; k < size; k++) if (x[k] !== 0) active[count++] = k;
  let out = sum;
  for (let h = 0; h < v.length; h++) {
    const row = h * size;
    let a = c[h]!;
    for (let j = 0; j < count; j++) {
      const k = active[j]!;
      a += w[row + k]! * x[k]!;
    }
    if (activations) activations[h] = a > 0 ? a : 0;
    if (a > 0) out += v[h]! * a;
  }
  return out;
}

/** A trained model ready to score text. */
export class Classifier {
  readonly metadata: ModelMetadata;
  readonly parts: ModelParts;
  private readonly featurizer: WindowFeaturizer;
  /** Per domain: shared plus correction, summed once at load. */
  private readonly hashed: readonly [Float32Array, Float32Array];
  private readonly denseWeights: readonly [Float32Array, Float32Array];
  private readonly bias: readonly [number, number];
  private readonly denseScratch: Float32Array;
  private readonly hidden: RawWeights["hidden"];
  private readonly activeScratch: Int32Array;

  constructor(metadata: ModelMetadata, lexiconSource: LexiconSource, weights: RawWeights) {
    this.metadata = metadata;
    const gibberish: GibberishModel = { nll: weights.gibberishNll, ...metadata.gibberish };
    this.parts = buildParts(metadata.settings, lexiconSource, gibberish, metadata.surpriseLevels);
    this.featurizer = new WindowFeaturizer(this.parts);
    if (this.featurizer.denseSize !== metadata.denseNames.length) throw new Error("classifier: lexicon does not match the weights' dense features");
    const documentHashed = new Float32Array(weights.hashed[0].length);
    for (let i = 0; i < documentHashed.length; i++) documentHashed[i] = weights.hashed[0][i]! + weights.hashed[1][i]!;
    const documentDense = new Float32Array(weights.dense[0].length);
    for (let i = 0; i < documentDense.length; i++) documentDense[i] = weights.dense[0][i]! + weights.dense[1][i]!;
    this.hashed = [weights.hashed[0], documentHashed];
    this.denseWeights = [weights.dense[0], documentDense];
    this.bias = [weights.bias[0], weights.bias[0] + weights.bias[1]];
    this.denseScratch = new Float32Array(this.featurizer.denseSize);
    this.hidden = weights.hidden;
    this.activeScratch = new Int32Array(this.featurizer.denseSize);
    if (this.hidden && this.hidden.w.length !== this.hidden.v.length * this.featurizer.denseSize) throw new Error("classifier: the hidden layer does not match the dense features");
  }

  /** Highest-scoring window of already folded text. */
  scoreFolded(folded: string, domain: Domain): WindowScore {
    const d = domain === "document" ? 1 : 0;
    this.featurizer.featurize(folded, this.hashed[d]!);
    const { settings } = this.parts;
    const length = folded.length;
    const windows = windowCount(length, settings);
    const trace = this.featurizer.current;
    const dense = this.denseWeights[d]!;
    const subLength = this.parts.settings.sub ?? 0;
    const subStep = subLength / 2;
    const every = trace.checkpointEvery;
    // The best window is kept in locals and returned as one object: no allocation per window.
    let bestRaw = -Infinity;
    let bestWindow = 0;
    let bestConcepts = 0;
    for (let w = 0; w < windows; w++) {
      const start = w * settings.stride;
      const end = windowEnd(w, length, settings);
      const to = trace.at(end);
      let hashedTerm = trace.hashedTerm(trace.at(start), to);
      // The highest hashed term of the window and its sub-windows (the ranges of subWindows in features.ts).
      // Their bounds inside the window are checkpoints p / every (trace.at without its checks), the last one `to`.
      for (let p = start; subLength > 0 && p + subStep < end; p += subStep) {
        const a = p / every;
        const b = p + subLength >= end ? to : (p + subLength) / every;
        const term = trace.hashedTerm(a, b);
        if (term > hashedTerm) hashedTerm = term;
        if (p + subLength >= end) break;
      }
      let raw = this.bias[d]! + hashedTerm;
      const concepts = this.featurizer.dense(start, end, this.denseScratch);
      for (let k = 0; k < dense.length; k++) raw += dense[k]! * this.denseScratch[k]!;
      if (this.hidden) raw = hiddenLayer(this.hidden, this.denseScratch, this.activeScratch, raw);
      if (raw > bestRaw) {
        bestRaw = raw;
        bestWindow = w;
        bestConcepts = concepts;
      }
    }
    return { raw: bestRaw, start: bestWindow * settings.stride, end: windowEnd(bestWindow, length, settings), concepts: bestConcepts };
  }

  score(text: string, domain: Domain): WindowScore {
    return this.scoreFolded(foldText(text), domain);
  }
}
