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

interface Shingled {
  /** shingle hash -> [start, end] offsets in the source text of its first occurrence. */
  readonly shingles: Map<number, [number, number]>;
}

/** Prompts are shingled once and kept (a handful per process: sessions share their application's prompt). */
const PROMPT_CACHE = new Map<string, Shingled>();
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
      const output = shingle(input.text, n);
      let shared = 0;
      let first = Infinity;
      let last = -1;
      for (const [key, [start, end]] of output.shingles) {
        if (!reference.shingles.has(key)) continue;
        shared++;
        first = Math.min(first, start);
        last = Math.max(last, end);
      }
      if (shared < Math.min(options.minSharedShingles, reference.shingles.size)) return { findings: [] };
      const coverage = shared / reference.shingles.size;
      const density = shared / Math.max(1, output.shingles.size);
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
  const key = `${n}\u0000${prompt}`;
  let cached = PROMPT_CACHE.get(key);
  if (!cached) {
    cached = shingle(prompt, n);
    if (PROMPT_CACHE.size >= PROMPT_CACHE_LIMIT) PROMPT_CACHE.delete(PROMPT_CACHE.keys().next().value!);
    PROMPT_CACHE.set(key, cached);
  }
  return cached;
}

const WORD = /[\p{L}\p{N}]+(?:['’][\p{L}]+)?/gu;
const ASCII_WORD = /[a-z0-9]+(?:'[a-z]+)?/g;
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * Shingles as 32-bit hashes of n consecutive content words (FNV-1a per word, combined
 * polynomially): no per-shingle strings, so long outputs cost little. A collision only
 * adds one shared shingle by chance (~1 in 4 billion per pair).
 */
export function shingle(text: string, n: number): Shingled {
  const hashes: number[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  // Lower-casing can change length for a few characters (İ); offsets are only used for the finding's span.
  const lower = text.toLowerCase();
  const pattern = NON_ASCII.test(lower) ? WORD : ASCII_WORD;
  pattern.lastIndex = 0;
  let match: RegExpExecArray | null;
  while ((match = pattern.exec(lower)) !== null) {
    const raw = match[0];
    const word = raw.includes("’") ? raw.replace(/’/g, "'") : raw;
    if (STOP_WORDS.has(word)) continue;
    hashes.push(fnv1a(stem(word)));
    starts.push(match.index);
    ends.push(match.index + raw.length);
  }
  const shingles = new Map<number, [number, number]>();
  for (let i = 0; i + n <= hashes.length; i++) {
    let key = 0;
    for (let j = 0; j < n; j++) key = (Math.imul(key, 0x01000193) ^ hashes[i + j]!) >>> 0;
    if (!shingles.has(key)) shingles.set(key, [starts[i]!, ends[i + n - 1]!]);
  }
  return { shingles };
}

function fnv1a(word: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < word.length; i++) hash = Math.imul(hash ^ word.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

/** Crude suffix stripping: enough to make "rules"/"rule" and "answering"/"answer" meet. */
function stem(word: string): string {
  if (word.length <= 4) return word;
  for (const suffix of ["ing", "ed", "es", "ly", "s"]) {
    if (word.endsWith(suffix) && word.length - suffix.length >= 3) return word.slice(0, -suffix.length);
  }
  return word;
}
