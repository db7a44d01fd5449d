/**
 * The featurizer: one left-to-right pass over the folded text that records
 * - hashed features (character 4-grams over whitespace-collapsed text,
 *   word unigrams and bigrams), each with the position where it was seen to
 *   end (the character after a word, or the last one for the text's last word);
 * - lexicon concept hits (multilingual trigger phrases, special-token markers);
 * - per-character bigram surprise under a character-class language model of
 *   benign text, and whitespace tokens that look like optimised gibberish.
 * Windows of the text are then scored from these records without another pass,
 * which is what keeps long documents cheap: every window is a range. Running
 * totals are kept at checkpoints every gcd(window, stride, sub/2) characters and at
 * the end, which is where every window and sub-window starts and ends. When scoring, the hashed
 * features are summed into their weights as they are found instead of stored.
 */
import { inFilter, MAX_PHRASE_WORDS, OPENING_BIT, PHRASE_SEED, tableGet, type CompiledLexicon } from "./lexicon.js";
import { CHAR_CLASSES, FNV_OFFSET, OTHER_LETTER_CLASS, charClass, combineHash, featureCode, fnvStep, isSegmentingChar, isSpace, isWordChar, mixBits } from "./text.js";

/** Character-class bigram surprise model of benign text (negative log-probabilities, nats). */
export interface GibberishModel {
  /** CHAR_CLASSES x CHAR_CLASSES, row = previous class. */
  readonly nll: Float32Array;
  /** Surprise at or above which a bigram counts as rare. */
  readonly rareNll: number;
  /** Mean surprise above which a whitespace token counts as gibberish. */
  readonly tokenNll: number;
  /** Surprise used for bigrams involving letters outside ASCII, which the model has too little data for. */
  readonly neutralNll: number;
}

export interface FeatureSettings {
  readonly bucketBits: number;
  /** Window length and stride in UTF-16 units of the folded text. */
  readonly window: number;
  readonly stride: number;
  /**
   * Sub-window length: a window's hashed term is the highest of its own and those of the sub-windows of
   * this many characters inside it (see `subWindows`), so a short instruction in a long benign document is
   * diluted by less host text. The dense features stay the window's. Absent: the window's own term only.
   */
  readonly sub?: number;
}

const SEED_CHAR4 = 0x1b873593;
const SEED_WORD = 0x27d4eb2f;
const SEED_BIGRAM = 0x165667b1;
const ROLL_P = 0x01000193;
const ROLL_P2 = Math.imul(ROLL_P, ROLL_P);
const ROLL_P3 = Math.imul(ROLL_P2, ROLL_P);
/**
 * A word's hash before its first character: FNV_OFFSET as a signed 32-bit integer (every use of a word hash
 * reads it as one), so that the field holding it between stretches stays a small integer, not a boxed double.
 */
const WORD_START = FNV_OFFSET | 0;
/** charClass of the space; that of a lowercase ASCII letter is its offset from 'a'. */
const SPACE_CLASS = 27;

/** Reusable buffers of one featurized text. */
export class Trace {
  length = 0;
  /**
   * When set, hashed features are not stored: their weights are added to `hashedSum` as they are
   * found (scoring). When null, their buckets and positions are stored (training).
   */
  weights: Float32Array | null = null;
  hashedCount = 0;
  /** [0]: running sum of the weights of the hashed features (a typed slot: a double field would box every add). */
  readonly hashedSum = new Float64Array(1);
  hashedBucket = new Uint32Array(1024);
  hashedPos = new Int32Array(1024);
  conceptCount = 0;
  conceptPos = new Int32Array(64);
  conceptMask = new Int32Array(64);
  tokenCount = 0;
  tokenPos = new Int32Array(256);
  tokenGibberish = new Uint8Array(256);
  /** Checkpoint k is position k * checkpointEvery, the last one the end of the text: totals before it. */
  checkpointEvery = 1;
  checkpointCount = 0;
  checkHashedCount = new Int32Array(64);
  checkHashedSum = new Float64Array(64);
  checkSurprise = new Float64Array(64);
  checkRare = new Int32Array(64);

  constructor() {
    // The buffers are replaced when a longer text needs more room. Assigning each once more here shows V8
    // from the start that these fields change: otherwise optimised code that read them as constants is
    // thrown away ("code dependencies") in the middle of the first long text, which then runs unoptimised.
    this.hashedBucket = new Uint32Array(1024);
    this.hashedPos = new Int32Array(1024);
    this.conceptPos = new Int32Array(64);
    this.conceptMask = new Int32Array(64);
    this.tokenPos = new Int32Array(256);
    this.tokenGibberish = new Uint8Array(256);
    this.checkHashedCount = new Int32Array(64);
    this.checkHashedSum = new Float64Array(64);
    this.checkSurprise = new Float64Array(64);
    this.checkRare = new Int32Array(64);
  }

  reset(length: number, checkpointEvery: number): void {
    this.length = length;
    this.hashedCount = 0;
    this.hashedSum[0] = 0;
    this.conceptCount = 0;
    this.tokenCount = 0;
    this.checkpointEvery = checkpointEvery;
    this.checkpointCount = 0;
    const checkpoints = Math.floor(length / checkpointEvery) + 2;
    if (this.checkSurprise.length < checkpoints) {
      const size = Math.max(checkpoints, this.checkSurprise.length * 2);
      this.checkHashedCount = new Int32Array(size);
      this.checkHashedSum = new Float64Array(size);
      this.checkSurprise = new Float64Array(size);
      this.checkRare = new Int32Array(size);
    }
  }

  /** `charSum`/`charCount`: the character n-grams' share, which the scoring loop sums on its own. */
  checkpoint(surprise: number, rare: number, charSum: number, charCount: number): void {
    const k = this.checkpointCount++;
    this.checkHashedCount[k] = this.hashedCount + charCount;
    this.checkHashedSum[k] = this.hashedSum[0]! + charSum;
    this.checkSurprise[k] = surprise;
    this.checkRare[k] = rare;
  }

  /** Index of the checkpoint at `pos`, which must be a multiple of `checkpointEvery` or the end. */
  at(pos: number): number {
    if (pos === this.length) return this.checkpointCount - 1;
    const k = pos / this.checkpointEvery;
    if (!Number.isInteger(k) || k < 0 || k >= this.checkpointCount) throw new RangeError(`featurizer: no checkpoint at ${pos} (every ${this.checkpointEvery} characters, text of ${this.length})`);
    return k;
  }

  /**
   * The hashed term of the range between checkpoints `from` and `to` when scoring: the sum of its hashed
   * features' weights over the square root of their count.
   */
  hashedTerm(from: number, to: number): number {
    return (this.checkHashedSum[to]! - this.checkHashedSum[from]!) / Math.sqrt(Math.max(1, this.checkHashedCount[to]! - this.checkHashedCount[from]!));
  }

  /** Sum of per-character surprise over [start, end). */
  surpriseBetween(start: number, end: number): number {
    return this.checkSurprise[this.at(end)]! - this.checkSurprise[this.at(start)]!;
  }

  pushHashed(bucket: number, pos: number): void {
    const weights = this.weights;
    if (weights !== null) {
      this.hashedSum[0]! += weights[bucket]!;
      this.hashedCount++;
      return;
    }
    if (this.hashedCount === this.hashedBucket.length) {
      this.hashedBucket = grow(this.hashedBucket, new Uint32Array(this.hashedCount * 2));
      this.hashedPos = grow(this.hashedPos, new Int32Array(this.hashedCount * 2));
    }
    this.hashedBucket[this.hashedCount] = bucket;
    this.hashedPos[this.hashedCount++] = pos;
  }

  pushConcept(mask: number, pos: number): void {
    if (this.conceptCount === this.conceptMask.length) {
      this.conceptMask = grow(this.conceptMask, new Int32Array(this.conceptCount * 2));
      this.conceptPos = grow(this.conceptPos, new Int32Array(this.conceptCount * 2));
    }
    this.conceptMask[this.conceptCount] = mask;
    this.conceptPos[this.conceptCount++] = pos;
  }

  pushToken(pos: number, gibberish: boolean): void {
    if (this.tokenCount === this.tokenPos.length) {
      this.tokenPos = grow(this.tokenPos, new Int32Array(this.tokenCount * 2));
      this.tokenGibberish = grow(this.tokenGibberish, new Uint8Array(this.tokenCount * 2));
    }
    this.tokenGibberish[this.tokenCount] = gibberish ? 1 : 0;
    this.tokenPos[this.tokenCount++] = pos;
  }
}

function grow<T extends Uint32Array | Int32Array | Uint8Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

/**
 * The word-level half of the featurizer: unigram and bigram features of each finished word, and the
 * lexicon phrases the last words form. A class rather than a closure, so that the character loop keeps
 * its own state in registers and every call of `end` has one stable target.
 */
class WordRun {
  private previous = 0;
  private seen = 0;
  /** Bit n: the last n words begin some lexicon phrase. */
  private open = 0;
  /** tail[n]: hash of the last n words. */
  private readonly tail = new Int32Array(MAX_PHRASE_WORDS + 1);

  constructor(
    private readonly trace: Trace,
    private readonly lexicon: CompiledLexicon,
    private readonly mask: number,
  ) {}

  /**
   * A word ended (`prefixMask`: concepts its prefixes matched); its features are placed at `pos`. Hashes here
   * are signed 32-bit integers: an unsigned one of 2^31 or more, passed to a call or stored in a field or a
   * Map key, would be boxed as a heap number (an allocation per word).
   */
  end(hash: number, prefixMask: number, pos: number): void {
    const { trace, mask, tail } = this;
    const { runFilter, runTable } = this.lexicon;
    const weights = trace.weights;
    const unigram = mixBits(hash ^ SEED_WORD) & mask;
    if (weights !== null) {
      // Scoring: pushHashed's sum for the unigram then the bigram, with one load and store of the running sum.
      const sums = trace.hashedSum;
      let sum = sums[0]! + weights[unigram]!;
      if (this.seen > 0) {
        sum += weights[combineHash(this.previous, hash ^ SEED_BIGRAM) & mask]!;
        trace.hashedCount += 2;
      } else trace.hashedCount++;
      sums[0] = sum;
    } else {
      trace.pushHashed(unigram, pos);
      if (this.seen > 0) trace.pushHashed(combineHash(this.previous, hash ^ SEED_BIGRAM) & mask, pos);
    }
    this.previous = hash;
    this.seen++;
    // Only runs that open a phrase are extended (longest first, before the shorter tail is overwritten):
    // most words open none, so this is one hash per word instead of one per possible phrase length.
    let found = prefixMask;
    let opened = 0;
    const open = this.open;
    // Bit n - 1 of `open | 1` is the run of n words ending here (bit 0, the word on its own, always), visited highest first.
    for (let bits = open | 1; bits !== 0; ) {
      const length = 32 - Math.clz32(bits);
      bits ^= 1 << (length - 1);
      const key = combineHash(length === 1 ? PHRASE_SEED : tail[length - 1]!, hash) | 0;
      tail[length] = key;
      if (inFilter(runFilter, key)) {
        const value = tableGet(runTable, key);
        found |= value & (OPENING_BIT - 1);
        if (length < MAX_PHRASE_WORDS && (value & OPENING_BIT) !== 0) opened |= 1 << length;
      }
    }
    this.open = opened;
    if (found !== 0) trace.pushConcept(found, pos);
  }
}

/** Fill `trace` with the features of `folded`. */
export function featurize(folded: string, lexicon: CompiledLexicon, gibberish: GibberishModel, settings: FeatureSettings, trace: Trace): Trace {
  const n = folded.length;
  const every = checkpointEvery(settings);
  trace.reset(n, every);
  const pass = new CharacterPass(trace, lexicon, gibberish, (1 << settings.bucketBits) - 1);
  for (let from = 0; from < n; from += every) {
    pass.checkpoint();
    pass.run(folded, from, Math.min(n, from + every));
  }
  pass.finish(n);
  return trace;
}

/**
 * The featurizer's character loop, run from one checkpoint to the next, its state kept in fields between
 * stretches. Why not one loop over the whole text: V8 optimises a function whose loop runs long while the loop
 * is still running (on-stack replacement), and code entered that way can stay in use for every later call of a
 * long text, with the running sums boxed on every character: 180 KiB of garbage per 4 KB text and a whole check
 * about 1.5 times as slow, in two processes of six whose guard saw 4 KB texts first. A stretch is a short call,
 * optimised the usual way.
 */
class CharacterPass {
  private readonly weights: Float32Array | null;
  private readonly prefixFilter: Uint8Array;
  private readonly prefixTable: Int32Array;
  private readonly surpriseOf: Float64Array;
  private readonly rareNll: number;
  private readonly tokenNll: number;
  private readonly words: WordRun;
  private charSum = 0;
  private charCount = 0;
  // The last four characters of the collapsed text (c1 the latest) and how many there have been.
  private c1 = 0;
  private c2 = 0;
  private c3 = 0;
  private c4 = 0;
  private seen = 0;
  private h4 = 0;
  private previousWasSpace = true;
  private wordHash = WORD_START;
  private wordLen = 0;
  private wordMask = 0;
  private previousClass = SPACE_CLASS;
  private surpriseSum = 0;
  private rareCount = 0;
  private tokenStart = -1;
  private tokenSurprise = 0;
  private tokenLength = 0;

  constructor(
    private readonly trace: Trace,
    lexicon: CompiledLexicon,
    gibberish: GibberishModel,
    private readonly mask: number,
  ) {
    this.weights = trace.weights;
    this.prefixFilter = lexicon.prefixFilter;
    this.prefixTable = lexicon.prefixTable;
    this.surpriseOf = surpriseTable(gibberish);
    this.rareNll = gibberish.rareNll;
    this.tokenNll = gibberish.tokenNll;
    this.words = new WordRun(trace, lexicon, mask);
  }

  checkpoint(): void {
    this.trace.checkpoint(this.surpriseSum, this.rareCount, this.charSum, this.charCount);
  }

  /** The characters folded[from, to), in locals while they run. */
  run(folded: string, from: number, to: number): void {
    const { trace, weights, mask, prefixFilter, prefixTable, surpriseOf, rareNll, tokenNll, words } = this;
    let { charSum, charCount, c1, c2, c3, c4, seen, h4, previousWasSpace, wordHash, wordLen, wordMask, previousClass, surpriseSum, rareCount, tokenStart, tokenSurprise, tokenLength } = this;
    for (let i = from; i < to; i++) {
      const code = folded.charCodeAt(i);
      // Lowercase ASCII letters, most of any text, take a shorter path: the steps below with what such a letter
      // settles taken out (not a space, its own feature code, a word character, not of a script written without spaces).
      if (code >= 0x61 && code <= 0x7a) {
        previousWasSpace = false;
        h4 = (Math.imul(h4 - Math.imul(c4, ROLL_P3), ROLL_P) + code) | 0;
        c4 = c3;
        c3 = c2;
        c2 = c1;
        c1 = code;
        if (++seen >= 4) {
          const bucket = mixBits(h4 ^ SEED_CHAR4) & mask;
          if (weights !== null) {
            charSum += weights[bucket]!;
            charCount++;
          } else trace.pushHashed(bucket, i);
        }
        wordHash = fnvStep(wordHash, code);
        wordLen++;
        if (wordLen >= 2) {
          const key = wordHash ^ PHRASE_SEED;
          if (inFilter(prefixFilter, key)) wordMask |= tableGet(prefixTable, key);
        }
        const cls = code - 0x61;
        const value = surpriseOf[previousClass * CHAR_CLASSES + cls]!;
        surpriseSum += value;
        if (value >= rareNll) rareCount++;
        previousClass = cls;
        if (tokenStart < 0) {
          tokenStart = i;
          tokenSurprise = 0;
          tokenLength = 0;
        }
        tokenSurprise += value;
        tokenLength++;
        continue;
      }
      // Most other characters are ASCII too: settle them in one comparison before the full whitespace test.
      const space = code <= 0x20 ? code === 0x20 || (code >= 0x09 && code <= 0x0d) : code >= 0xa0 && isSpace(code);

      // Character n-grams over whitespace-collapsed text, by rolling polynomial hashes.
      if (!(space && previousWasSpace)) {
        const c = space ? 0x20 : featureCode(code);
        h4 = (Math.imul(h4 - Math.imul(c4, ROLL_P3), ROLL_P) + c) | 0;
        c4 = c3;
        c3 = c2;
        c2 = c1;
        c1 = c;
        if (++seen >= 4) {
          const bucket = mixBits(h4 ^ SEED_CHAR4) & mask;
          // Scoring sums the weights here, in a register; a sum kept in memory is a store-to-load chain per character.
          if (weights !== null) {
            charSum += weights[bucket]!;
            charCount++;
          } else trace.pushHashed(bucket, i);
        }
      }
      previousWasSpace = space;

      // Words, phrases and prefixes.
      if (code >= 0x0e00 && isSegmentingChar(code)) {
        if (wordLen > 0) words.end(wordHash, wordMask, i);
        words.end(fnvStep(FNV_OFFSET, code), 0, i);
        wordHash = WORD_START;
        wordLen = 0;
        wordMask = 0;
      } else if (isWordChar(code)) {
        wordHash = fnvStep(wordHash, featureCode(code));
        wordLen++;
        if (wordLen >= 2) {
          const key = wordHash ^ PHRASE_SEED;
          if (inFilter(prefixFilter, key)) wordMask |= tableGet(prefixTable, key);
        }
      } else if (wordLen > 0) {
        words.end(wordHash, wordMask, i);
        wordHash = WORD_START;
        wordLen = 0;
        wordMask = 0;
      }

      // Character-class surprise and gibberish tokens.
      const cls = charClass(code);
      const value = surpriseOf[previousClass * CHAR_CLASSES + cls]!;
      surpriseSum += value;
      if (value >= rareNll) rareCount++;
      previousClass = cls;
      if (space) {
        if (tokenStart >= 0) {
          trace.pushToken(tokenStart, tokenLength >= 3 && tokenSurprise / tokenLength >= tokenNll);
          tokenStart = -1;
        }
      } else {
        if (tokenStart < 0) {
          tokenStart = i;
          tokenSurprise = 0;
          tokenLength = 0;
        }
        tokenSurprise += value;
        tokenLength++;
      }
    }
    this.charSum = charSum;
    this.charCount = charCount;
    this.c1 = c1;
    this.c2 = c2;
    this.c3 = c3;
    this.c4 = c4;
    this.seen = seen;
    this.h4 = h4;
    this.previousWasSpace = previousWasSpace;
    this.wordHash = wordHash;
    this.wordLen = wordLen;
    this.wordMask = wordMask;
    this.previousClass = previousClass;
    this.surpriseSum = surpriseSum;
    this.rareCount = rareCount;
    this.tokenStart = tokenStart;
    this.tokenSurprise = tokenSurprise;
    this.tokenLength = tokenLength;
  }

  /** The end of a text of length `n`: its last word, last token and last checkpoint. */
  finish(n: number): void {
    // The last word ends at the end of the text: it is placed on the last character, inside the last window.
    if (this.wordLen > 0) this.words.end(this.wordHash, this.wordMask, n - 1);
    if (this.tokenStart >= 0) this.trace.pushToken(this.tokenStart, this.tokenLength >= 3 && this.tokenSurprise / this.tokenLength >= this.tokenNll);
    this.checkpoint();
  }
}

const surpriseTables = new WeakMap<GibberishModel, Float64Array>();

/**
 * The surprise of each pair of character classes (row = previous class) as the featurizer adds it: the model's
 * `nll`, or `neutralNll` when either class is OTHER_LETTER_CLASS. One lookup per character instead of a test and
 * a lookup; float64 holds every float32 and `neutralNll` exactly. Made once per model, which is not changed
 * after it is made (the classifier's and the trainer's are each built once).
 */
function surpriseTable(gibberish: GibberishModel): Float64Array {
  let table = surpriseTables.get(gibberish);
  if (table === undefined) {
    table = new Float64Array(CHAR_CLASSES * CHAR_CLASSES);
    for (let previous = 0; previous < CHAR_CLASSES; previous++) {
      for (let cls = 0; cls < CHAR_CLASSES; cls++) {
        const k = previous * CHAR_CLASSES + cls;
        table[k] = previous === OTHER_LETTER_CLASS || cls === OTHER_LETTER_CLASS ? gibberish.neutralNll : gibberish.nll[k]!;
      }
    }
    surpriseTables.set(gibberish, table);
  }
  return table;
}

/** Every window starts and ends on a multiple of this (or at the end of the text). */
export function checkpointEvery(settings: FeatureSettings): number {
  const gcd = (x: number, y: number): number => (y === 0 ? x : gcd(y, x % y));
  const every = gcd(settings.window, settings.stride);
  return settings.sub ? gcd(every, settings.sub / 2) : every;
}

/**
 * Sub-windows of the window [start, end): `sub` characters long, one every sub/2 characters from its
 * start, the last one cut at `end` (kept when longer than sub/2). Scoring walks the same ranges inline.
 */
export function subWindows(start: number, end: number, settings: FeatureSettings): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const sub = settings.sub ?? 0;
  for (let p = start; sub > 0 && p + sub / 2 < end; p += sub / 2) {
    out.push([p, Math.min(end, p + sub)]);
    if (p + sub >= end) break;
  }
  return out;
}

/** Number of windows covering a text of `length`: one for short texts, else one every `stride` until one reaches the end. */
export function windowCount(length: number, settings: FeatureSettings): number {
  if (length <= Math.floor(settings.window * 1.25)) return 1;
  return Math.ceil((length - settings.window) / settings.stride) + 1;
}

/** End (exclusive) of window `k` of a text of `length`; window k starts at k * stride. */
export function windowEnd(k: number, length: number, settings: FeatureSettings): number {
  return length <= Math.floor(settings.window * 1.25) ? length : Math.min(length, k * settings.stride + settings.window);
}

/** Window ranges [start, end) covering the text (windowCount of them). */
export function windowRanges(length: number, settings: FeatureSettings): Array<[number, number]> {
  return Array.from({ length: windowCount(length, settings) }, (_, k): [number, number] => [k * settings.stride, windowEnd(k, length, settings)]);
}

/** First index in `positions[0..count)` whose value is >= `value`. */
export function lowerBound(positions: Int32Array, count: number, value: number): number {
  let lo = 0;
  let hi = count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (positions[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Names of the dense features, in order. Concept features are added per
 * lexicon concept in front of these (`concept:<name>`).
 */
export const PAIRS: ReadonlyArray<readonly [string, string]> = [
  ["override", "instructions"],
  ["override", "prior"],
  ["prior", "instructions"],
  ["reveal", "secret"],
  ["reveal", "instructions"],
  ["override", "secret"],
  ["persona", "unrestricted"],
  ["persona", "policy"],
  ["unrestricted", "policy"],
  ["obey", "unrestricted"],
  ["newtask", "ai_address"],
  ["newtask", "instructions"],
  ["authority", "override"],
  ["authority", "newtask"],
  ["authority", "ai_address"],
  ["exfil", "secret"],
  ["hypothetical", "unrestricted"],
  ["refusal", "unrestricted"],
  ["refusal", "persona"],
  ["persona", "ai_address"],
];

export const EXTRA_DENSE = ["markers", "distinct-concepts", "surprise-mean-1", "surprise-mean-2", "surprise-mean-3", "rare-rate", "gibberish-fraction", "gibberish-run-3", "gibberish-run-6"] as const;

export function denseNames(lexicon: CompiledLexicon): string[] {
  return [...lexicon.concepts.map((c) => `concept:${c}`), ...PAIRS.map(([a, b]) => `pair:${a}+${b}`), ...EXTRA_DENSE];
}

/** Indexes of the pair concepts, resolved once per lexicon. */
export function pairIndexes(lexicon: CompiledLexicon): Int32Array {
  const out = new Int32Array(PAIRS.length * 2);
  PAIRS.forEach(([a, b], k) => {
    out[2 * k] = lexicon.concepts.indexOf(a);
    out[2 * k + 1] = lexicon.concepts.indexOf(b);
  });
  return out;
}

/** Surprise levels (mean nats per character) from which the surprise features start to rise. */
export interface SurpriseLevels {
  readonly levels: readonly [number, number, number];
}

/**
 * Dense features of the window [start, end) into `out` (length denseNames().length).
 * `markerCount` is the number of special-token markers inside the window.
 */
export function denseFeatures(trace: Trace, start: number, end: number, lexicon: CompiledLexicon, pairs: Int32Array, markerCount: number, surprise: SurpriseLevels, out: Float32Array, counts: Int32Array): void {
  const conceptTotal = lexicon.concepts.length;
  counts.fill(0, 0, conceptTotal);
  const first = lowerBound(trace.conceptPos, trace.conceptCount, start);
  for (let k = first; k < trace.conceptCount && trace.conceptPos[k]! < end; k++) {
    let bits = trace.conceptMask[k]!;
    for (let c = 0; bits !== 0; c++, bits >>>= 1) if (bits & 1) counts[c]!++;
  }
  let distinct = 0;
  for (let c = 0; c < conceptTotal; c++) {
    const count = counts[c]!;
    out[c] = count >= 3 ? 1 : count / 3;
    if (count > 0) distinct++;
  }
  let at = conceptTotal;
  for (let k = 0; k < PAIRS.length; k++) {
    const a = pairs[2 * k]!;
    const b = pairs[2 * k + 1]!;
    out[at++] = a >= 0 && b >= 0 && counts[a]! > 0 && counts[b]! > 0 ? 1 : 0;
  }
  out[at++] = markerCount >= 2 ? 1 : markerCount / 2;
  out[at++] = Math.min(1, distinct / 6);
  const length = Math.max(1, end - start);
  const from = trace.at(start);
  const to = trace.at(end);
  const meanSurprise = (trace.checkSurprise[to]! - trace.checkSurprise[from]!) / length;
  const levels = surprise.levels;
  out[at++] = Math.min(1, Math.max(0, meanSurprise - levels[0]));
  out[at++] = Math.min(1, Math.max(0, meanSurprise - levels[1]));
  out[at++] = Math.min(1, Math.max(0, meanSurprise - levels[2]));
  out[at++] = Math.min(1, ((trace.checkRare[to]! - trace.checkRare[from]!) / length) * 20);
  let tokens = 0;
  let gib = 0;
  let run = 0;
  let longestRun = 0;
  for (let k = lowerBound(trace.tokenPos, trace.tokenCount, start); k < trace.tokenCount && trace.tokenPos[k]! < end; k++) {
    tokens++;
    if (trace.tokenGibberish[k]) {
      gib++;
      run++;
      if (run > longestRun) longestRun = run;
    } else run = 0;
  }
  out[at++] = tokens >= 4 ? gib / tokens : 0;
  out[at++] = longestRun >= 3 ? 1 : 0;
  out[at] = longestRun >= 6 ? 1 : 0;
}

/** Positions of special-token markers (chat-template tokens, fake system headers) in the folded text. */
export function markerPositions(folded: string, lexicon: CompiledLexicon): number[] {
  const { anchors, anchorOf, anchorAt, probeAt } = markerAnchors(lexicon.markers);
  // Most markers hold a character ordinary prose rarely has ('<', '[', ':', '#'...): the places of each such
  // character are found once, and a marker is only compared where its character stands, instead of one
  // search of the whole text per marker (a search for "system:" stops at every 's'). A marker of letters and
  // spaces only ("end of context") is anchored on three of its characters from its rarest letter ("xt"):
  // a search for those stops less often than one for the marker, which starts with a common letter. Where
  // the anchor is common (a page of '<'), one search per marker is cheaper again, and is what it gets (null).
  const most = 64 + (folded.length >> 8);
  const places = anchors.map((anchor) => occurrences(folded, anchor, most));
  const found: number[] = [];
  lexicon.markers.forEach((marker, m) => {
    const at = places[anchorOf[m]!]!;
    // The same matches, in the same order, as indexOf from the end of the previous match.
    let from = 0;
    if (at === null) {
      for (;;) {
        const start = folded.indexOf(marker, from);
        if (start < 0 || found.length > 256) break;
        found.push(start);
        from = start + marker.length;
      }
      return;
    }
    const offset = anchorAt[m]!;
    // One character next to the anchor is compared before the whole marker.
    const probe = probeAt[m]!;
    const probeCode = marker.charCodeAt(probe);
    for (const place of at) {
      const start = place - offset;
      if (start < from || folded.charCodeAt(start + probe) !== probeCode || !folded.startsWith(marker, start)) continue;
      if (found.length > 256) break;
      found.push(start);
      from = start + marker.length;
    }
  });
  return found.sort((a, b) => a - b);
}

/** Every index where `text` holds `needle`, in order (overlapping ones too); null when there are more than `most`. */
function occurrences(text: string, needle: string, most: number): number[] | null {
  const out: number[] = [];
  for (let at = text.indexOf(needle); at >= 0; at = text.indexOf(needle, at + 1)) {
    if (out.length === most) return null;
    out.push(at);
  }
  return out;
}

interface MarkerAnchors {
  /**
   * Distinct anchors: a marker's first character that is not a letter, digit or space, else up to three of its
   * characters from its rarest letter (`rareAnchor`).
   */
  readonly anchors: readonly string[];
  /** Per marker, the index of its anchor. */
  readonly anchorOf: readonly number[];
  /** Per marker, where its anchor stands in it (UTF-16 units). */
  readonly anchorAt: readonly number[];
  /** Per marker, where the character after its anchor stands (the one before when the anchor ends it). */
  readonly probeAt: readonly number[];
}

const anchorsByMarkers = new WeakMap<readonly string[], MarkerAnchors>();

function markerAnchors(markers: readonly string[]): MarkerAnchors {
  let cached = anchorsByMarkers.get(markers);
  if (!cached) {
    const anchors: string[] = [];
    const anchorAt: number[] = [];
    const probeAt: number[] = [];
    const anchorOf = markers.map((marker) => {
      const anchor = [...marker].find((ch) => !/[\p{L}\p{N}\s]/u.test(ch)) ?? rareAnchor(marker);
      if (!anchors.includes(anchor)) anchors.push(anchor);
      const at = marker.indexOf(anchor);
      anchorAt.push(at);
      probeAt.push(at + anchor.length < marker.length ? at + anchor.length : Math.max(0, at - 1));
      return anchors.indexOf(anchor);
    });
    cached = { anchors, anchorOf, anchorAt, probeAt };
    anchorsByMarkers.set(markers, cached);
  }
  return cached;
}

/** Lowercase Latin letters from the most to the least common in English text. */
const LETTER_ORDER = "etaoinsrhldcumfpgwybvkxjqz";

/** Up to three characters of `marker` from its rarest letter (spaces are the commonest; other characters rare). */
function rareAnchor(marker: string): string {
  const rarity = (ch: string): number => {
    if (ch === " ") return -1;
    const rank = LETTER_ORDER.indexOf(ch);
    return rank < 0 ? LETTER_ORDER.length : rank;
  };
  let at = 0;
  for (let i = 1; i < marker.length; i++) if (rarity(marker[i]!) > rarity(marker[at]!)) at = i;
  return marker.slice(at, at + 3);
}

/** Bigram counts of character classes, for training the gibberish model. */
export function countClassBigrams(text: string, counts: Float64Array): void {
  let previous = 27;
  for (let i = 0; i < text.length; i++) {
    const cls = charClass(text.charCodeAt(i));
    if (cls !== OTHER_LETTER_CLASS && previous !== OTHER_LETTER_CLASS) counts[previous * CHAR_CLASSES + cls]! += 1;
    previous = cls;
  }
}
