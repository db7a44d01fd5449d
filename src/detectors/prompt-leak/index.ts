/**
 * detectors/prompt-leak: the system prompt's own text reappearing in output.
 *
 * Both texts become sequences of content words (lower-cased, stop words
 * dropped, light suffix stemming), and overlap is measured on n-grams of them
 * ("shingles"). Reflowed lines, changed punctuation or case, inserted filler
 * words and small rewordings leave most shingles intact; an answer that merely
 * shares the topic shares few. Two views of overlap: how much of the prompt the
 * output reproduces (coverage), and how much of the output is prompt text
 * (density), so that a leak is found in a whole response and in a stream window.
 *
 * May import: src/policy (types), src/guard/types, ./.
 */
import type { Finding, GuardSession, Layer, LayerInput, LayerOutput } from "../../guard/types.js";
import type { Policy, PromptLeakOptions } from "../../policy/schema.js";

export const PROMPT_LEAK_VERSION = "1.0.0";

export interface PromptLeakBinding {
  readonly session?: GuardSession;
  readonly systemPrompt?: string;
}

const STOP_WORDS = new Set(
  "a an the and or but if then else of to in on at by for with from as is are was were be been being am do does did have has had this that these those it its it's you your yours yourself i me my we our us they them their he she his her not no nor so such can could should would will shall may might must very just also any all each every some more most other into over under about above below up down out off again further once here there when where why how what which who whom whose than too only own same s t don't".split(" "),
);

/** The distinct shingles of a system prompt. */
interface Shingled {
  readonly shingles: ReadonlySet<number>;
}

/**
 * A text's content words: hashes and offsets, in typed arrays reused from one check to the next (valid
 * until the next contentWords call), so a check allocates next to nothing.
 */
class Words {
  count = 0;
  hashes: Uint32Array;
  starts: Int32Array;
  ends: Int32Array;

  constructor(capacity: number) {
    this.hashes = new Uint32Array(capacity);
    this.starts = new Int32Array(capacity);
    this.ends = new Int32Array(capacity);
  }

  /** Room for the words of a text of `length` characters (two words need a separator between them). */
  static for(length: number): Words {
    const capacity = (length >> 1) + 1;
    if (capacity > KEEP_WORDS) return new Words(capacity); // a rare long text does not keep its buffers
    if (shared.hashes.length < capacity) shared = new Words(Math.max(capacity, shared.hashes.length * 2));
    shared.count = 0;
    return shared;
  }

  push(hash: number, start: number, end: number): void {
    this.hashes[this.count] = hash;
    this.starts[this.count] = start;
    this.ends[this.count++] = end;
  }
}

const KEEP_WORDS = 16_384;
let shared = new Words(1_024);

/** Prompts are shingled once and kept (a handful per process: sessions share their application's prompt). */
const PROMPT_CACHE = new Map<number, Map<string, Shingled>>();
const PROMPT_CACHE_LIMIT = 64;

export function createPromptLeakLayer(options: PromptLeakOptions, binding: PromptLeakBinding = {}): Layer {
  const n = options.shingleWords;
  return {
    name: "prompt-leak",
    version: PROMPT_LEAK_VERSION,
    stage: "output",
    phase: "detect",
    budgetMs: options.budgetMs,
    ...(options.failureMode ? { failureMode: options.failureMode } : {}),
    check(input: LayerInput): LayerOutput {
      const prompt = input.session?.systemPrompt ?? binding.session?.systemPrompt ?? binding.systemPrompt ?? options.systemPrompt;
      if (!prompt || input.text.length === 0) return { findings: [] };
      const reference = shinglePrompt(prompt, n);
      if (reference.shingles.size === 0) return { findings: [] };
      // The output's shingle keys, sorted: distinct ones counted and shared ones located without a set per check.
      const words = contentWords(input.text);
      const count = Math.max(0, words.count - n + 1);
      const keys = new Uint32Array(count);
      for (let i = 0; i < count; i++) keys[i] = shingleKey(words.hashes, i, n);
      const sortedKeys = keys.slice().sort();
      let distinct = 0;
      let shared = 0;
      for (let i = 0; i < count; i++) {
        if (i > 0 && sortedKeys[i] === sortedKeys[i - 1]) continue;
        distinct++;
        if (reference.shingles.has(sortedKeys[i]!)) shared++;
      }
      let first = Infinity;
      let last = -1;
      if (shared > 0) {
        for (let i = 0; i < count; i++) {
          if (!reference.shingles.has(keys[i]!)) continue;
          first = Math.min(first, words.starts[i]!);
          last = Math.max(last, words.ends[i + n - 1]!);
        }
      }
      if (shared < Math.min(options.minSharedShingles, reference.shingles.size)) return { findings: [] };
      const coverage = shared / reference.shingles.size;
      const density = shared / Math.max(1, distinct);
      const score = coverage >= options.minCoverage || (density >= 0.5 && shared >= 2 * options.minSharedShingles) ? 0.9 : coverage >= options.minCoverage / 2 || density >= 0.3 ? 0.6 : 0;
      if (score === 0) return { findings: [] };
      const finding: Finding = {
        detector: "prompt-leak",
        category: "system_prompt_leak",
        score,
        ruleId: "prompt-leak.overlap",
        span: { start: first, end: last },
        evidence: `${shared} of the system prompt's ${reference.shingles.size} ${n}-word phrases reappear (${Math.round(coverage * 100)}% of the prompt, ${Math.round(density * 100)}% of this text)`,
        replacement: "[REDACTED:system prompt]",
      };
      return { findings: [finding] };
    },
  };
}

export function promptLeakLayerFromPolicy(policy: Policy): Layer | null {
  return policy.layers.promptLeak.enabled ? createPromptLeakLayer(policy.layers.promptLeak) : null;
}

function shinglePrompt(prompt: string, n: number): Shingled {
  // Keyed by the prompt string itself: the same string object comes back on every check, and V8 keeps its
  // hash, so a lookup costs nothing like re-hashing a prompt joined into a new key would.
  let cache = PROMPT_CACHE.get(n);
  if (!cache) PROMPT_CACHE.set(n, (cache = new Map()));
  let cached = cache.get(prompt);
  if (!cached) {
    cached = shingle(prompt, n);
    if (cache.size >= PROMPT_CACHE_LIMIT) cache.delete(cache.keys().next().value!);
    cache.set(prompt, cached);
  }
  return cached;
}

const WORD = /[\p{L}\p{N}]+(?:['’][\p{L}]+)?/gu;
const NON_ASCII = /[^\x00-\x7f]/;
const STEM_SUFFIXES = ["ing", "ed", "es", "ly", "s"];

/**
 * The distinct shingles of a text: 32-bit hashes of n consecutive content words (FNV-1a per word,
 * combined polynomially), so no per-shingle strings. A collision only adds one shared shingle by
 * chance (~1 in 4 billion per pair).
 */
export function shingle(text: string, n: number): Shingled {
  const { hashes, count } = contentWords(text);
  const shingles = new Set<number>();
  for (let i = 0; i + n <= count; i++) shingles.add(shingleKey(hashes, i, n));
  return { shingles };
}

function shingleKey(hashes: Uint32Array, at: number, n: number): number {
  let key = 0;
  for (let j = 0; j < n; j++) key = (Math.imul(key, 0x01000193) ^ hashes[at + j]!) >>> 0;
  return key;
}

/** Content words (lower-cased, stop words dropped, stemmed), hashed, with their offsets in `text`. */
function contentWords(text: string): Words {
  return NON_ASCII.test(text) ? unicodeWords(text) : asciiWords(text);
}

/**
 * ASCII text, the common case, without allocating per word: words are [a-z0-9]+ with an optional
 * apostrophe suffix ('s, 't), lower-cased as they are hashed. Gives exactly the hashes of unicodeWords.
 */
function asciiWords(text: string): Words {
  const words = Words.for(text.length);
  const length = text.length;
  let i = 0;
  while (i < length) {
    if (!isAsciiAlnum(text.charCodeAt(i))) {
      i++;
      continue;
    }
    const start = i;
    while (i < length && isAsciiAlnum(text.charCodeAt(i))) i++;
    if (i + 1 < length && text.charCodeAt(i) === 0x27 && isAsciiLetter(text.charCodeAt(i + 1))) {
      i += 2;
      while (i < length && isAsciiLetter(text.charCodeAt(i))) i++;
    }
    // One hash over the whole word (for the stop-word check) that passes through the stem's hash on the way.
    const stemEnd = start + stemLength(text, start, i);
    let hash = 0x811c9dc5;
    let stemHash = 0;
    for (let k = start; k < i; k++) {
      if (k === stemEnd) stemHash = hash;
      hash = Math.imul(hash ^ lowerAscii(text.charCodeAt(k)), 0x01000193);
    }
    if (stemEnd === i) stemHash = hash;
    if (isStopWord(hash >>> 0, text, start, i)) continue;
    words.push(stemHash >>> 0, start, i);
  }
  return words;
}

function unicodeWords(text: string): Words {
  // Lower-casing can change length for a few characters (İ); offsets are only used for the finding's span.
  const lower = text.toLowerCase();
  const words = Words.for(lower.length);
  WORD.lastIndex = 0;
  let match: RegExpExecArray | null;
  while ((match = WORD.exec(lower)) !== null) {
    const raw = match[0];
    const word = raw.includes("’") ? raw.replace(/’/g, "'") : raw;
    if (STOP_WORDS.has(word)) continue;
    words.push(fnv1a(stem(word)), match.index, match.index + raw.length);
  }
  return words;
}

function isAsciiAlnum(code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a) || (code >= 0x30 && code <= 0x39);
}

function isAsciiLetter(code: number): boolean {
  return (code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a);
}

function lowerAscii(code: number): number {
  return code >= 0x41 && code <= 0x5a ? code | 0x20 : code;
}

/** Stop words by their hash (the same FNV-1a as content words), checked character by character on a hit. */
const STOP_WORD_HASHES = new Map<number, string>([...STOP_WORDS].map((word) => [fnv1a(word), word]));

function isStopWord(hash: number, text: string, start: number, end: number): boolean {
  const word = STOP_WORD_HASHES.get(hash);
  if (word === undefined || word.length !== end - start) return false;
  for (let k = 0; k < word.length; k++) if (lowerAscii(text.charCodeAt(start + k)) !== word.charCodeAt(k)) return false;
  return true;
}

/** The length of stem(word) for the ASCII word text[start, end), compared case-insensitively. */
function stemLength(text: string, start: number, end: number): number {
  const length = end - start;
  if (length <= 4) return length;
  // Every suffix ends in g, d, s or y: most words end otherwise and keep their length.
  const last = lowerAscii(text.charCodeAt(end - 1));
  if (last !== 0x67 && last !== 0x64 && last !== 0x73 && last !== 0x79) return length;
  outer: for (const suffix of STEM_SUFFIXES) {
    if (length - suffix.length < 3) continue;
    for (let k = 0; k < suffix.length; k++) if (lowerAscii(text.charCodeAt(end - suffix.length + k)) !== suffix.charCodeAt(k)) continue outer;
    return length - suffix.length;
  }
  return length;
}

function fnv1a(word: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < word.length; i++) hash = Math.imul(hash ^ word.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** Crude suffix stripping: enough to make "rules"/"rule" and "answering"/"answer" meet. */
function stem(word: string): string {
  if (word.length <= 4) return word;
  for (const suffix of STEM_SUFFIXES) {
    if (word.endsWith(suffix) && word.length - suffix.length >= 3) return word.slice(0, -suffix.length);
  }
  return word;
}
