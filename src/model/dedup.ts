/**
 * Deduplication before any split: exact duplicates on folded, whitespace-
 * collapsed text, and near-duplicates by MinHash over word 5-grams with LSH
 * banding (estimated Jaccard >= 0.7). Earlier items win, so callers order
 * their sources by priority (training sources first: a template that appears
 * in both a training and a held-out source is removed from the held-out one,
 * which keeps the held-out measurement honest).
 */
import { combineHash, foldText, hashString, mix32 } from "./text.js";

const PERMUTATIONS = 64;
const BANDS = 16;
const ROWS = PERMUTATIONS / BANDS;
const SEEDS = Array.from({ length: PERMUTATIONS }, (_, i) => mix32(0x9e3779b9 + i * 0x7f4a7c15));

export function canonicalForDedup(text: string): string {
  return foldText(text).replace(/\s+/g, " ").trim();
}

function signature(canonical: string): Uint32Array {
  const words = canonical.split(" ").filter((w) => w.length > 0).map((w) => hashString(w));
  const k = Math.min(5, words.length);
  const sig = new Uint32Array(PERMUTATIONS).fill(0xffffffff);
  for (let i = 0; i + k <= words.length; i++) {
    let shingle = 0x3c6ef372;
    for (let j = 0; j < k; j++) shingle = combineHash(shingle, words[i + j]!);
    for (let p = 0; p < PERMUTATIONS; p++) {
      const value = mix32(shingle ^ SEEDS[p]!);
      if (value < sig[p]!) sig[p] = value;
    }
  }
  return sig;
}

export interface DedupResult {
  /** Indexes of the items kept, ascending. */
  readonly kept: number[];
  readonly exactDuplicates: number;
  readonly nearDuplicates: number;
}

export function deduplicate(texts: readonly string[], threshold = 0.7): DedupResult {
  const seenExact = new Set<string>();
  const buckets = new Map<string, number[]>();
  const signatures: Uint32Array[] = [];
  const kept: number[] = [];
  let exactDuplicates = 0;
  let nearDuplicates = 0;
  texts.forEach((text, index) => {
    const canonical = canonicalForDedup(text);
    if (canonical.length === 0 || seenExact.has(canonical)) {
      exactDuplicates++;
      return;
    }
    seenExact.add(canonical);
    const sig = signature(canonical);
    const keys: string[] = [];
    const candidates = new Set<number>();
    for (let band = 0; band < BANDS; band++) {
      let h = band;
      for (let r = 0; r < ROWS; r++) h = combineHash(h, sig[band * ROWS + r]!);
      const key = `${band}:${h}`;
      keys.push(key);
      for (const other of buckets.get(key) ?? []) candidates.add(other);
    }
    for (const other of [...candidates].sort((a, b) => a - b)) {
      const otherSig = signatures[other]!;
      let agree = 0;
      for (let p = 0; p < PERMUTATIONS; p++) if (otherSig[p] === sig[p]) agree++;
      if (agree / PERMUTATIONS >= threshold) {
        nearDuplicates++;
        return;
      }
    }
    const slot = signatures.length;
    signatures.push(sig);
    kept.push(index);
    for (const key of keys) {
      const list = buckets.get(key);
      if (list) list.push(slot);
      else buckets.set(key, [slot]);
    }
  });
  // `kept` indexes texts; candidates index signatures, which are stored in the same order as `kept`.
  return { kept, exactDuplicates, nearDuplicates };
}
