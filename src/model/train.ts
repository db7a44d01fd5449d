/**
 * Training: the gibberish model from benign text, then window-level examples,
 * then logistic regression by AdaGrad over shared and per-domain weights.
 * Deterministic: a seeded shuffle, fixed iteration order, sums in index order.
 */
import { CHAR_CLASSES } from "./text.js";
import { countClassBigrams, subWindows, type FeatureSettings, type GibberishModel } from "./features.js";
import type { LexiconSource } from "./lexicon.js";
import { buildParts, DOMAINS, WindowFeaturizer, hiddenLayer, type Domain, type ModelParts, type RawWeights } from "./model.js";
import { jsonView } from "./detect.js";
import { Random } from "./random.js";
import { foldText } from "./text.js";

export interface TrainingSample {
  readonly text: string;
  readonly label: 0 | 1;
  readonly domain: Domain;
  readonly weight: number;
  /** For inserted instructions: where the instruction is in the folded text that is judged (for JSON, its string values). */
  readonly span?: readonly [number, number];
  /** Cross-validation fold of the sample's source (grouped k-fold); 0 when there is none. */
  readonly fold?: number;
}

export interface TrainOptions {
  readonly seed: number;
  readonly settings: FeatureSettings;
  readonly epochs: number;
  readonly learningRate: number;
  readonly l2: number;
  /** Extra L2 on the per-domain corrections, so they only learn real differences. */
  readonly domainL2: number;
  /** Most windows taken from one long text. */
  readonly maxWindows: number;
  /** Weight multiplier for benign texts that hit two or more trigger concepts (hard negatives). */
  readonly hardNegativeBoost: number;
  /** Units of a hidden ReLU layer over the dense features, added to the linear score (0: none). */
  readonly hidden?: number;
}

export const DEFAULT_TRAIN_OPTIONS: TrainOptions = {
  seed: 20_251_121,
  settings: { bucketBits: 17, window: 384, stride: 192, sub: 192 },
  epochs: 4,
  learningRate: 0.1,
  l2: 2e-5,
  domainL2: 1e-4,
  maxWindows: 12,
  hardNegativeBoost: 3,
  hidden: 16,
};

interface Example {
  readonly buckets: Uint32Array;
  readonly values: Float32Array;
  /** The window's sub-windows (settings.sub): its hashed term is the highest of the whole window's and theirs. */
  readonly subs?: ReadonlyArray<{ readonly buckets: Uint32Array; readonly values: Float32Array }>;
  readonly dense: Float32Array;
  readonly domain: 0 | 1;
  readonly label: 0 | 1;
  readonly weight: number;
  readonly fold: number;
}

/** Character-class bigram model of benign text, and the thresholds derived from it. */
export function trainGibberish(benignTexts: readonly string[]): { nll: Float32Array; rareNll: number; tokenNll: number; neutralNll: number } {
  const counts = new Float64Array(CHAR_CLASSES * CHAR_CLASSES);
  for (const text of benignTexts) countClassBigrams(foldText(text), counts);
  const nll = new Float32Array(CHAR_CLASSES * CHAR_CLASSES);
  const alpha = 0.5;
  let letterPairs = 0;
  let letterTotal = 0;
  for (let row = 0; row < CHAR_CLASSES; row++) {
    let total = 0;
    for (let col = 0; col < CHAR_CLASSES; col++) total += counts[row * CHAR_CLASSES + col]!;
    for (let col = 0; col < CHAR_CLASSES; col++) {
      const p = (counts[row * CHAR_CLASSES + col]! + alpha) / (total + alpha * CHAR_CLASSES);
      nll[row * CHAR_CLASSES + col] = Math.fround(-Math.log(p));
      if (row < 26 && col < 26) {
        letterPairs += counts[row * CHAR_CLASSES + col]! * -Math.log(p);
        letterTotal += counts[row * CHAR_CLASSES + col]!;
      }
    }
  }
  const neutralNll = Math.fround(letterTotal > 0 ? letterPairs / letterTotal : 2.5);
  return { nll, rareNll: 7, tokenNll: 4.2, neutralNll };
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.floor(q * (sorted.length - 1))))]!;
}

/** Mean surprise levels at the 90th, 99th and 99.9th percentile of benign windows. */
export function surpriseLevels(parts: Omit<ModelParts, "surprise">, benignTexts: readonly string[]): [number, number, number] {
  const featurizer = new WindowFeaturizer({ ...parts, surprise: { levels: [0, 0, 0] } });
  const means: number[] = [];
  for (const text of benignTexts) {
    const ranges = featurizer.load(foldText(text));
    const t = featurizer.current;
    for (const [start, end] of ranges) means.push(t.surpriseBetween(start, end) / Math.max(1, end - start));
  }
  means.sort((a, b) => a - b);
  return [Math.fround(quantile(means, 0.9)), Math.fround(quantile(means, 0.99)), Math.fround(quantile(means, 0.999))];
}

function pickWindows(ranges: Array<[number, number]>, limit: number): Array<[number, number]> {
  if (ranges.length <= limit) return ranges;
  const out: Array<[number, number]> = [];
  for (let k = 0; k < limit; k++) out.push(ranges[Math.floor((k * (ranges.length - 1)) / (limit - 1))]!);
  return out;
}

/** Whether a window holds enough of an inserted instruction (its span in the folded text) to be a positive. */
function overlaps(range: [number, number], span: readonly [number, number]): boolean {
  const inter = Math.min(range[1], span[1]) - Math.max(range[0], span[0]);
  return inter >= Math.min(120, 0.6 * (span[1] - span[0]));
}

export function buildExamples(parts: ModelParts, samples: readonly TrainingSample[], maxWindows: number): Example[] {
  const featurizer = new WindowFeaturizer(parts);
  const examples: Example[] = [];
  for (const sample of samples) {
    // JSON is judged by its string values (see detect.ts), so it is trained on them too.
    const folded = foldText(jsonView(sample.text)?.text ?? sample.text);
    const ranges = featurizer.load(folded);
    const domain = sample.domain === "document" ? 1 : 0;
    const emit = (range: [number, number], label: 0 | 1, weight: number): void => {
      const { buckets, values } = featurizer.sparse(range[0], range[1]);
      const dense = new Float32Array(featurizer.denseSize);
      featurizer.dense(range[0], range[1], dense);
      const subs = subWindows(range[0], range[1], parts.settings).map(([from, to]) => featurizer.sparse(from, to));
      examples.push({ buckets, values, dense, domain, label, weight, fold: sample.fold ?? 0, ...(subs.length > 0 ? { subs } : {}) });
    };
    if (ranges.length === 1) {
      emit(ranges[0]!, sample.label, sample.weight);
    } else if (sample.span && sample.label === 1) {
      // Inserted instruction: windows holding it are positives; a couple of the others are negatives.
      const positives = ranges.filter((r) => overlaps(r, sample.span!));
      const negatives = ranges.filter((r) => r[1] <= sample.span![0] || r[0] >= sample.span![1]);
      for (const r of positives) emit(r, 1, sample.weight / Math.max(1, positives.length));
      for (const r of pickWindows(negatives, 2)) emit(r, 0, sample.weight / 4);
    } else {
      // The windows share the text's weight, so a long text (a jailbreak, a long document) weighs as much as a short one.
      const picked = pickWindows(ranges, maxWindows);
      for (const r of picked) emit(r, sample.label, sample.weight / picked.length);
    }
  }
  return examples;
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

export interface TrainedModel {
  readonly parts: ModelParts;
  readonly weights: RawWeights;
  readonly examples: number;
}

/** Featurized training windows and the model parts they were built with; fitted once per fold and once on everything. */
export interface PreparedTraining {
  readonly parts: ModelParts;
  readonly examples: readonly Example[];
}

export function prepareTraining(lexicon: LexiconSource, samples: readonly TrainingSample[], options: TrainOptions = DEFAULT_TRAIN_OPTIONS, log: (line: string) => void = () => {}): PreparedTraining {
  const benignTexts = samples.filter((s) => s.label === 0).map((s) => s.text);
  const gib = trainGibberish(benignTexts);
  const gibberish: GibberishModel = gib;
  const base = buildParts(options.settings, lexicon, gibberish, [0, 0, 0]);
  const levels = surpriseLevels(base, benignTexts.filter((_, i) => i % 4 === 0));
  const parts: ModelParts = { ...base, surprise: { levels } };
  // Benign text full of trigger words is what a plain model gets wrong: weigh it up.
  const probe = new WindowFeaturizer(parts);
  const scratch = new Float32Array(probe.denseSize);
  let boosted = 0;
  const weighted = samples.map((s) => {
    if (s.label !== 0) return s;
    const folded = foldText(s.text);
    probe.load(folded);
    let mask = probe.dense(0, folded.length, scratch);
    let distinct = 0;
    for (; mask !== 0; mask &= mask - 1) distinct++;
    if (distinct < 2) return s;
    boosted++;
    return { ...s, weight: s.weight * options.hardNegativeBoost };
  });
  log(`hard negatives weighted up: ${boosted}`);
  const examples = buildExamples(parts, weighted, options.maxWindows);
  log(`featurized ${examples.length} windows from ${samples.length} texts`);
  return { parts, examples };
}

/** Logistic regression by AdaGrad over the prepared windows whose fold passes `include` (all by default). */
export function fitWeights(prepared: PreparedTraining, options: TrainOptions, include: (fold: number) => boolean = () => true, log: (line: string) => void = () => {}): { weights: RawWeights; windows: number } {
  const examples = prepared.examples.filter((e) => include(e.fold));
  // Class balance: the two classes carry equal total weight.
  let positive = 0;
  let negative = 0;
  for (const e of examples) {
    if (e.label === 1) positive += e.weight;
    else negative += e.weight;
  }
  const scale = [examples.length / (2 * Math.max(1e-9, negative)), examples.length / (2 * Math.max(1e-9, positive))];

  const buckets = 1 << options.settings.bucketBits;
  const denseSize = examples[0]?.dense.length ?? 0;
  const hashed: [Float32Array, Float32Array] = [new Float32Array(buckets), new Float32Array(buckets)];
  const hashedG: [Float32Array, Float32Array] = [new Float32Array(buckets), new Float32Array(buckets)];
  const dense: [Float32Array, Float32Array] = [new Float32Array(denseSize), new Float32Array(denseSize)];
  const denseG: [Float32Array, Float32Array] = [new Float32Array(denseSize), new Float32Array(denseSize)];
  const bias = [0, 0];
  const biasG = [0, 0];
  // Hidden layer over the dense features (shared by both domains): z += v . relu(W x + c).
  const units = options.hidden ?? 0;
  const init = new Random(options.seed ^ 0x5bd1e995);
  const hw = Float32Array.from({ length: units * denseSize }, () => (init.next() - 0.5) * 0.2);
  const hc = new Float32Array(units);
  const hv = Float32Array.from({ length: units }, () => (init.next() - 0.5) * 0.2);
  const hwG = new Float32Array(units * denseSize);
  const hcG = new Float32Array(units);
  const hvG = new Float32Array(units);
  const act = new Float32Array(units);
  const hidden = { w: hw, c: hc, v: hv };
  const active = new Int32Array(denseSize);
  const rng = new Random(options.seed);
  const order = examples.map((_, i) => i);
  const lr = options.learningRate;
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    rng.shuffle(order);
    let loss = 0;
    for (const index of order) {
      const e = examples[index]!;
      const d = e.domain;
      let z = bias[0]! + (d ? bias[1]! : 0);
      // The hashed term: the highest of the window's and its sub-windows' (the gradient goes to the one taken).
      const hashedDot = (buckets: Uint32Array, values: Float32Array): number => {
        let sum = 0;
        for (let k = 0; k < buckets.length; k++) {
          const b = buckets[k]!;
          sum += (hashed[0][b]! + (d ? hashed[1][b]! : 0)) * values[k]!;
        }
        return sum;
      };
      let taken = { buckets: e.buckets, values: e.values };
      let hashedTerm = hashedDot(e.buckets, e.values);
      if (e.subs) {
        for (const sub of e.subs) {
          const h = hashedDot(sub.buckets, sub.values);
          if (h > hashedTerm) {
            hashedTerm = h;
            taken = sub;
          }
        }
      }
      z += hashedTerm;
      for (let k = 0; k < denseSize; k++) z += (dense[0][k]! + (d ? dense[1][k]! : 0)) * e.dense[k]!;
      if (units > 0) z = hiddenLayer(hidden, e.dense, active, z, act);
      const p = sigmoid(z);
      const w = e.weight * scale[e.label]!;
      loss += w * -Math.log(e.label ? Math.max(p, 1e-12) : Math.max(1 - p, 1e-12));
      const g = (p - e.label) * w;
      for (let t = 0; t <= d; t++) {
        const l2 = t === 0 ? options.l2 : options.domainL2;
        const table = hashed[t]!;
        const acc = hashedG[t]!;
        for (let k = 0; k < taken.buckets.length; k++) {
          const b = taken.buckets[k]!;
          adagrad(table, acc, b, g * taken.values[k]! + l2 * table[b]!, lr);
        }
        const dt = dense[t]!;
        const dg = denseG[t]!;
        for (let k = 0; k < denseSize; k++) {
          const x = e.dense[k]!;
          if (x === 0) continue;
          adagrad(dt, dg, k, g * x + l2 * dt[k]!, lr);
        }
        // The biases are plain numbers (doubles), kept apart so that adagrad() sees only Float32Arrays.
        biasG[t]! += g * g;
        bias[t]! -= (lr * g) / Math.sqrt(biasG[t]! + ADAGRAD_EPS);
      }
      for (let h = 0; h < units; h++) {
        const a = act[h]!;
        const back = a > 0 ? g * hv[h]! : 0;
        adagrad(hv, hvG, h, g * a + options.l2 * hv[h]!, lr);
        if (back === 0) continue;
        for (let k = 0; k < denseSize; k++) {
          const x = e.dense[k]!;
          if (x === 0) continue;
          const at = h * denseSize + k;
          adagrad(hw, hwG, at, back * x + options.l2 * hw[at]!, lr);
        }
        adagrad(hc, hcG, h, back, lr);
      }
    }
    log(`epoch ${epoch + 1}/${options.epochs}: weighted loss ${(loss / Math.max(1, examples.length)).toFixed(4)}`);
  }
  return {
    weights: { hashed, dense, bias: [Math.fround(bias[0]!), Math.fround(bias[1]!)], gibberishNll: prepared.parts.gibberish.nll, ...(units > 0 ? { hidden } : {}) },
    windows: examples.length,
  };
}

export function trainModel(lexicon: LexiconSource, samples: readonly TrainingSample[], options: TrainOptions = DEFAULT_TRAIN_OPTIONS, log: (line: string) => void = () => {}): TrainedModel {
  const prepared = prepareTraining(lexicon, samples, options, log);
  const { weights, windows } = fitWeights(prepared, options, () => true, log);
  return { parts: prepared.parts, weights, examples: windows };
}

export { DOMAINS };

/** One AdaGrad step on params[i] for gradient `grad`; `squares` sums each parameter's squared gradients. */
function adagrad(params: Float32Array, squares: Float32Array, i: number, grad: number, lr: number): void {
  squares[i]! += grad * grad;
  params[i]! -= (lr * grad) / Math.sqrt(squares[i]! + ADAGRAD_EPS);
}

const ADAGRAD_EPS = 1e-8;
