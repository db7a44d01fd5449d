/**
 * The multilingual trigger lexicon (data/model/lexicon.json), compiled into hash
 * tables the featurizer probes while it walks the text. A concept ("override",
 * "secret", "persona", ...) gets one learned weight, so a phrase written in any
 * listed language counts like its English counterpart: this is how the model
 * scores languages it has few or no training examples in.
 */
import { FNV_OFFSET, combineHash, featureCode, fnvStep, foldText, isSegmentingChar, isWordChar } from "./text.js";

export interface LexiconSource {
  readonly version: number;
  readonly concepts: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;
  readonly markers: readonly string[];
}

export interface CompiledLexicon {
  readonly concepts: readonly string[];
  /**
   * Word runs (hashes of 1..MAX_PHRASE_WORDS words, see `tableGet`): a phrase's bit set of concept indexes,
   * plus OPENING_BIT when the run is the first 1..n-1 words of a phrase of n words (the featurizer extends a
   * run into a longer phrase only while the run opens one). One probe answers both, behind a quick filter of
   * the table's keys; per word this is cheaper than a Map lookup.
   */
  readonly runTable: Int32Array;
  readonly runFilter: Uint8Array;
  /** Hash of a word prefix to bit set of concept indexes, as a `keyTable`, behind its own quick filter. */
  readonly prefixTable: Int32Array;
  readonly prefixFilter: Uint8Array;
  readonly markers: readonly string[];
}

export const MAX_PHRASE_WORDS = 6;
export const FILTER_BITS = 16;
export const PHRASE_SEED = 0x2f1a6b3d;
/** In `runTable` values: the run opens a longer phrase. Concept bits are 0..29 (at most 30 concepts). */
export const OPENING_BIT = 1 << 30;
/** Latin-script prefixes need four letters to stay specific; other scripts carry more per letter. */
const MIN_PREFIX = 4;

/** Word hashes of a folded phrase, split exactly as the featurizer splits text. */
export function wordHashes(folded: string): number[] {
  const hashes: number[] = [];
  let h = FNV_OFFSET;
  let inWord = false;
  for (let i = 0; i < folded.length; i++) {
    const code = folded.charCodeAt(i);
    if (isSegmentingChar(code)) {
      if (inWord) hashes.push(h);
      hashes.push(fnvStep(FNV_OFFSET, code));
      inWord = false;
      h = FNV_OFFSET;
    } else if (isWordChar(code)) {
      h = fnvStep(h, featureCode(code));
      inWord = true;
    } else if (inWord) {
      hashes.push(h);
      h = FNV_OFFSET;
      inWord = false;
    }
  }
  if (inWord) hashes.push(h);
  return hashes;
}

/** A letter of each script with look-alikes that has no Latin look-alike itself (see foldedForms). */
const SCRIPT_ANCHORS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\p{Script=Cyrillic}/u, "\u0436"],
  [/\p{Script=Greek}/u, "\u03bb"],
];

/**
 * The folded forms of a lexicon entry as it can appear in folded text. The folded view turns a word made
 * only of letters with Latin look-alikes (Cyrillic "без", "с", "усі") into Latin when it opens a text or
 * stands in Latin text, and keeps it in running text of its own script: an entry folded on its own gets
 * the first form only, so the form inside running text is added, found by folding the entry after a word
 * of its script.
 */
export function foldedForms(entry: string): string[] {
  const forms = [foldText(entry).trim()];
  for (const [script, anchor] of SCRIPT_ANCHORS) {
    if (!script.test(entry)) continue;
    const prefix = foldText(`${anchor.repeat(12)} `);
    const inText = foldText(`${anchor.repeat(12)} ${entry}`);
    if (inText.startsWith(prefix)) {
      const form = inText.slice(prefix.length).trim();
      if (!forms.includes(form)) forms.push(form);
    }
  }
  return forms;
}

/** Hash of a run of words, as a signed 32-bit integer (like every hash the featurizer passes around). */
export function phraseHash(words: readonly number[]): number {
  let p = PHRASE_SEED;
  for (const w of words) p = combineHash(p, w);
  return p | 0;
}

function setFilter(filter: Uint8Array, key: number): void {
  const slot = key & ((1 << FILTER_BITS) - 1);
  filter[slot >>> 3]! |= 1 << (slot & 7);
}

export function inFilter(filter: Uint8Array, key: number): boolean {
  const slot = key & ((1 << FILTER_BITS) - 1);
  return (filter[slot >>> 3]! & (1 << (slot & 7))) !== 0;
}

/**
 * An open-addressing hash table of signed 32-bit keys to non-zero values, as [key, value] pairs in one array
 * (a value of 0 marks an empty slot), a quarter full at most; `tableGet` answers what Map.get would (0 for absent).
 */
export function keyTable(entries: ReadonlyMap<number, number>): Int32Array {
  let slots = 8;
  while (slots < entries.size * 4) slots *= 2;
  const table = new Int32Array(slots * 2);
  for (const [key, value] of entries) {
    if (value === 0 || (key | 0) !== key) throw new Error("lexicon: table keys are int32 and values non-zero");
    let i = slotOf(key, slots - 1);
    while (table[2 * i + 1] !== 0 && table[2 * i] !== key) i = (i + 1) & (slots - 1);
    table[2 * i] = key;
    table[2 * i + 1] = value;
  }
  return table;
}

function slotOf(key: number, mask: number): number {
  return (key ^ (key >>> 15)) & mask;
}

/** The value of `key` in a `keyTable`, 0 when absent. */
export function tableGet(table: Int32Array, key: number): number {
  const mask = (table.length >> 1) - 1;
  for (let i = slotOf(key, mask); ; i = (i + 1) & mask) {
    const value = table[2 * i + 1]!;
    if (value === 0 || table[2 * i] === key) return value;
  }
}

function filterOf(keys: Iterable<number>): Uint8Array {
  const filter = new Uint8Array(1 << (FILTER_BITS - 3));
  for (const key of keys) setFilter(filter, key);
  return filter;
}

export function compileLexicon(source: LexiconSource): CompiledLexicon {
  const concepts = Object.keys(source.concepts).sort();
  if (concepts.length > 30) throw new Error("lexicon: at most 30 concepts");
  // Word runs: a phrase's concept bits, and OPENING_BIT on the first 1..n-1 words of a phrase of n.
  const runs = new Map<number, number>();
  const prefixes = new Map<number, number>();
  const addBits = (map: Map<number, number>, key: number, bits: number): void => {
    map.set(key, (map.get(key) ?? 0) | bits);
  };
  concepts.forEach((concept, index) => {
    const bit = 1 << index;
    const byLanguage = source.concepts[concept]!;
    for (const language of Object.keys(byLanguage).sort()) {
      for (const entry of byLanguage[language]!) {
        const isPrefix = entry.endsWith("*");
        for (const folded of foldedForms(isPrefix ? entry.slice(0, -1) : entry)) {
          let words = wordHashes(folded);
          if (words.length === 0) throw new Error(`lexicon: ${concept}/${language} entry "${entry}" has no word in it`);
          if (isPrefix) {
            // The featurizer matches prefixes within one word only.
            if (words.length > 1) throw new Error(`lexicon: ${concept}/${language} entry "${entry}": a prefix (*) must be one word; list the phrase's forms instead`);
            if (folded.length >= (folded.charCodeAt(0) >= 0x370 ? 2 : MIN_PREFIX) && !isSegmentingChar(folded.charCodeAt(0))) {
              const key = words[0]! ^ PHRASE_SEED;
              addBits(prefixes, key, bit);
              continue;
            }
          }
          if (words.length > MAX_PHRASE_WORDS) {
            // In scripts written without spaces every character is a word: a long phrase there is matched by its
            // first MAX_PHRASE_WORDS characters, which are as specific as several words elsewhere.
            if (!isSegmentingChar(folded.charCodeAt(0))) throw new Error(`lexicon: ${concept}/${language} entry "${entry}" has more than ${MAX_PHRASE_WORDS} words`);
            words = words.slice(0, MAX_PHRASE_WORDS);
          }
          addBits(runs, phraseHash(words), bit);
          for (let length = 1; length < words.length; length++) addBits(runs, phraseHash(words.slice(0, length)), OPENING_BIT);
        }
      }
    }
  });
  const markers = [...new Set(source.markers.map((m) => foldText(m)))].sort();
  return { concepts, runTable: keyTable(runs), runFilter: filterOf(runs.keys()), prefixTable: keyTable(prefixes), prefixFilter: filterOf(prefixes.keys()), markers };
}
