/**
 * The matching engine. One pass over a view splits it into words, looks each
 * word up in a table of rule anchors, and tries only the rules anchored on that
 * word, sticky, at that position. Substring anchors (scripts without spaces,
 * punctuation such as `<|`) are found in the same pass by their first
 * character. The pass also notes the shapes decoders care about (leetspeak
 * words, spaced-out letters, long alphanumeric runs, rot13 and reversed
 * trigger words), so decoding costs nothing when there is nothing to decode.
 *
 * Cost: one pass over the text plus, per anchor occurrence, one sticky attempt
 * for each rule on that anchor that has not matched yet, for at most the first
 * and last MAX_ATTEMPTS occurrences per rule. Every pattern is proven free of
 * catastrophic backtracking (test/detectors/heuristics), so an attempt is
 * bounded by the pattern, and a rule stops being tried once it has matched.
 */
import type { CompiledRule } from "./rules.js";

/** Character classes for tokenising: 0 separator, 1 word character, 2 character of a script written without spaces. */
const CHAR_CLASS = buildCharClasses();

function buildCharClasses(): Uint8Array {
  const table = new Uint8Array(0x10000);
  const letterOrDigit = /[\p{L}\p{N}]/u;
  for (let code = 0; code < 0x10000; code++) {
    if (code >= 0xd800 && code <= 0xdfff) continue;
    const spaceless =
      (code >= 0x3040 && code <= 0x30ff) || // kana
      (code >= 0x3400 && code <= 0x4dbf) ||
      (code >= 0x4e00 && code <= 0x9fff) || // CJK ideographs
      (code >= 0xac00 && code <= 0xd7af) || // hangul syllables
      (code >= 0xf900 && code <= 0xfaff) ||
      (code >= 0x0e00 && code <= 0x0e7f); // thai
    if (spaceless) table[code] = 2;
    else if (letterOrDigit.test(String.fromCharCode(code))) table[code] = 1;
  }
  return table;
}

/** Words whose rot13 or reversal is a common English or attack word: seeing two means a rot13 or reversed passage. */
export const Trigger = { None: 0, Rot13: 1, Reversed: 2 } as const;
export type Trigger = number;

interface WordEntry {
  readonly word: string;
  rules: number[];
  trigger: number;
  /** Rules (by index) whose `requires` list names this word. */
  satisfies: number[];
}

interface SubstringAnchor {
  readonly text: string;
  readonly rules: number[];
}

/** The anchors of one rule set (for one role), ready for scanning. */
export interface AnchorIndex {
  readonly rules: readonly CompiledRule[];
  readonly words: ReadonlyMap<string, WordEntry>;
  /** The same entries keyed by wordHash, so the scan looks words up without allocating a string per word. */
  readonly byHash: ReadonlyMap<number, readonly WordEntry[]>;
  /** Substring anchors keyed by their first UTF-16 unit. */
  readonly substrings: ReadonlyMap<number, readonly SubstringAnchor[]>;
  readonly firstUnits: Uint8Array;
  readonly maxWordLength: number;
  /** Per rule: 1 when it has a `requires` list (tried only if one of those words occurs in the view). */
  readonly hasRequirement: Uint8Array;
  /** One bit per low 16 bits of an entry's wordHash: most words are no anchor, and a bit test rules them out before a map lookup. */
  readonly hashBits: Uint8Array;
}

export function isWordAnchor(anchor: string): boolean {
  for (let i = 0; i < anchor.length; i++) if (CHAR_CLASS[anchor.charCodeAt(i)] !== 1) return false;
  return anchor.length > 0;
}

export function buildAnchorIndex(rules: readonly CompiledRule[], triggers: ReadonlyMap<string, Trigger>): AnchorIndex {
  const words = new Map<string, WordEntry>();
  const substrings = new Map<number, SubstringAnchor[]>();
  const firstUnits = new Uint8Array(0x10000);
  let maxWordLength = 0;
  const hasRequirement = new Uint8Array(rules.length);
  const entryFor = (word: string): WordEntry => {
    let entry = words.get(word);
    if (!entry) {
      entry = { word, rules: [], trigger: Trigger.None, satisfies: [] };
      words.set(word, entry);
    }
    return entry;
  };
  rules.forEach((rule, index) => {
    if (rule.requires) {
      hasRequirement[index] = 1;
      for (const word of rule.requires) {
        entryFor(word).satisfies.push(index);
        maxWordLength = Math.max(maxWordLength, word.length);
      }
    }
    for (const anchor of rule.anchors) {
      if (isWordAnchor(anchor)) {
        const entry = entryFor(anchor);
        entry.rules.push(index);
        maxWordLength = Math.max(maxWordLength, anchor.length);
      } else {
        const first = anchor.charCodeAt(0);
        const list = substrings.get(first) ?? [];
        const existing = list.find((item) => item.text === anchor);
        if (existing) existing.rules.push(index);
        else list.push({ text: anchor, rules: [index] });
        substrings.set(first, list);
        firstUnits[first] = 1;
      }
    }
  });
  for (const [word, trigger] of triggers) {
    entryFor(word).trigger |= trigger;
    maxWordLength = Math.max(maxWordLength, word.length);
  }
  const byHash = new Map<number, WordEntry[]>();
  const hashBits = new Uint8Array(0x10000 >>> 3);
  for (const entry of words.values()) {
    const hash = wordHash(entry.word);
    hashBits[(hash & 0xffff) >>> 3]! |= 1 << (hash & 7);
    const list = byHash.get(hash);
    if (list) list.push(entry);
    else byHash.set(hash, [entry]);
  }
  return { rules, words, byHash, substrings, firstUnits, maxWordLength, hasRequirement, hashBits };
}

function wordHash(word: string): number {
  let hash = 0;
  for (let i = 0; i < word.length; i++) hash = (Math.imul(hash, 31) + word.charCodeAt(i)) | 0;
  return hash;
}

export interface RuleMatch {
  readonly rule: number;
  readonly start: number;
  readonly end: number;
}

/** What the pass saw that decoders may want. Positions are in the scanned view. */
export interface Shapes {
  /** Words mixing letters and leet digits whose leet reading is an anchor. */
  readonly leet: number[];
  /** Runs of six or more single characters separated by short gaps: [start, end). */
  readonly spaced: number[];
  readonly rot13: number[];
  readonly reversed: number[];
  /** Starts of words of 16+ letters and digits (base64 or hex candidates). */
  readonly longWords: number[];
  /** Starts of runs of 8+ consecutive short words that look like hex bytes (`69 67`, `\\x69\\x67`, `0x69`). */
  readonly hexRuns: number[];
}

const LEET: Readonly<Record<string, string>> = { "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", $: "s" };
const MAX_RECORDED = 64;
/** Regex attempts per rule and view, at each end of the anchor occurrences (see scan). */
export const MAX_ATTEMPTS = 2048;

export function leetToLetters(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    out += LEET[c] ?? c;
  }
  return out;
}

/**
 * Scan one view. `fired` marks rules that already matched (they are not tried
 * again); matches are appended to `out`. With `shapes`, decoder cues are
 * recorded as well; with `skipped`, attempts left out by the per-rule cap
 * (MAX_ATTEMPTS) are counted.
 */
export function scan(view: string, index: AnchorIndex, fired: Uint8Array, out: RuleMatch[], shapes?: Shapes, skipped?: { count: number }): void {
  const length = view.length;
  const { words, byHash, substrings, firstUnits, rules, maxWordLength, hasRequirement, hashBits } = index;
  // Anchor occurrences are collected first and tried after the pass, once it is
  // known which rules' required words occur at all.
  const hitPositions: number[] = [];
  const hitRules: Array<readonly number[]> = [];
  const requirementMet = new Uint8Array(rules.length);
  let tokenStart = -1;
  let digits = 0;
  let hash = 0;
  // Spaced-out letters: a run of one-character words.
  let runStart = -1;
  let runCount = 0;
  let lastSingleEnd = -10;
  // Hex bytes written as separate words ("69 67 6e"): only consecutive ones count.
  let hexRun = 0;
  let hexRunStart = 0;

  // One loop, no closures: the position past the end acts as a final separator.
  for (let i = 0; i <= length; i++) {
    const code = i < length ? view.charCodeAt(i) : 32;
    if (firstUnits[code] === 1) {
      const candidates = substrings.get(code);
      if (candidates) {
        for (const anchor of candidates) {
          if (view.startsWith(anchor.text, i)) {
            hitPositions.push(i);
            hitRules.push(anchor.rules);
          }
        }
      }
    }
    if (CHAR_CLASS[code] === 1) {
      if (tokenStart < 0) {
        tokenStart = i;
        digits = 0;
        hash = 0;
      }
      hash = (Math.imul(hash, 31) + code) | 0;
      if (code >= 48 && code <= 57) digits++;
      continue;
    }
    if (tokenStart < 0) continue;
    const start = tokenStart;
    const size = i - start;
    tokenStart = -1;
    if (shapes) {
      if (size === 1) {
        if (start - lastSingleEnd <= 3 && !hasLineBreak(view, lastSingleEnd, start)) runCount++;
        else {
          if (runCount >= 6) pushPair(shapes.spaced, runStart, lastSingleEnd);
          runStart = start;
          runCount = 1;
        }
        lastSingleEnd = i;
      } else if (size >= 16) pushBounded(shapes.longWords, start);
      if (size >= 2 && size <= 4 && looksLikeHexByte(view, start, i)) {
        if (hexRun === 0) hexRunStart = start;
        if (++hexRun === 8) pushBounded(shapes.hexRuns, hexRunStart);
      } else hexRun = 0;
    }
    if (size > maxWordLength) continue;
    let entry: WordEntry | undefined;
    const candidates = (hashBits[(hash & 0xffff) >>> 3]! & (1 << (hash & 7))) !== 0 ? byHash.get(hash) : undefined;
    if (candidates !== undefined) {
      for (const candidate of candidates) {
        if (candidate.word.length === size && view.startsWith(candidate.word, start)) {
          entry = candidate;
          break;
        }
      }
    }
    if (entry !== undefined) {
      if (entry.rules.length > 0) {
        hitPositions.push(start);
        hitRules.push(entry.rules);
      }
      for (const ruleIndex of entry.satisfies) requirementMet[ruleIndex] = 1;
      if (shapes && entry.trigger !== Trigger.None) {
        if (entry.trigger & Trigger.Rot13) pushBounded(shapes.rot13, start);
        if (entry.trigger & Trigger.Reversed) pushBounded(shapes.reversed, start);
      }
    } else if (shapes && digits > 0 && digits < size) {
      const leet = words.get(leetToLetters(view.slice(start, i)));
      if (leet && leet.rules.length > 0) pushBounded(shapes.leet, start);
    }
  }
  if (shapes && runCount >= 6) pushPair(shapes.spaced, runStart, lastSingleEnd);

  // A rule is tried at no more than the first and the last MAX_ATTEMPTS occurrences of its anchors. A text
  // that repeats an anchor word hundreds of thousands of times ("ignore ignore ignore ...") would otherwise
  // cost one regex attempt per occurrence per rule; attempts between are skipped and counted, and the caller
  // reports the flood. Ordinary text, even a megabyte of it, stays well under the bound.
  const occurrences = new Int32Array(rules.length);
  if (hitPositions.length > MAX_ATTEMPTS) for (const list of hitRules) for (const ruleIndex of list) occurrences[ruleIndex]!++;
  const attempts = new Int32Array(rules.length);
  for (let h = 0; h < hitPositions.length; h++) {
    const at = hitPositions[h]!;
    for (const ruleIndex of hitRules[h]!) {
      if (fired[ruleIndex] === 1 || (hasRequirement[ruleIndex] === 1 && requirementMet[ruleIndex] === 0)) continue;
      const attempt = attempts[ruleIndex]!++;
      if (attempt >= MAX_ATTEMPTS && attempt < occurrences[ruleIndex]! - MAX_ATTEMPTS) {
        if (skipped) skipped.count++;
        continue;
      }
      const regex = rules[ruleIndex]!.sticky;
      regex.lastIndex = at;
      const match = regex.exec(view);
      if (match !== null) {
        fired[ruleIndex] = 1;
        out.push({ rule: ruleIndex, start: at, end: at + match[0].length });
      }
    }
  }
}

export function emptyShapes(): Shapes {
  return { leet: [], spaced: [], rot13: [], reversed: [], longWords: [], hexRuns: [] };
}

function pushBounded(list: number[], value: number): void {
  if (list.length < MAX_RECORDED) list.push(value);
}

function pushPair(list: number[], first: number, second: number): void {
  if (list.length < 2 * MAX_RECORDED) list.push(first, second);
}

function hasLineBreak(view: string, from: number, to: number): boolean {
  for (let i = Math.max(0, from); i < to; i++) if (view.charCodeAt(i) === 10) return true;
  return false;
}

function isHexDigit(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 97 && code <= 102);
}

function looksLikeHexByte(view: string, start: number, end: number): boolean {
  let from = start;
  if (end - start === 3 && view.charCodeAt(start) === 120) from = start + 1; // x69
  else if (end - start === 4 && view.charCodeAt(start) === 48 && view.charCodeAt(start + 1) === 120) from = start + 2; // 0x69
  if (end - from !== 2) return false;
  return isHexDigit(view.charCodeAt(from)) && isHexDigit(view.charCodeAt(from + 1));
}

/**
 * The detection view as rules expect it: lower-case, no diacritics, straight
 * quotes. Length-preserving (one UTF-16 unit in, one out), so offsets stay valid.
 * The normalize layer's folded view already is this; when normalisation is
 * switched off the engine passes plain lower-cased text, and this closes the gap.
 */
export function prepareView(text: string): string {
  const lowered = text.toLowerCase();
  const folded = lowered.length === text.length ? lowered : text; // rare: lower-casing changed the length; keep offsets
  return folded.replace(/[\u00c0-\u024f\u0400-\u04ff\u1e00-\u1eff\u2018\u2019\u201a\u201b\u201c\u201d\u02bc\u00b4\u2032]/g, foldUnit);
}

const FOLDED_UNITS = new Map<string, string>();

function foldUnit(unit: string): string {
  let folded = FOLDED_UNITS.get(unit);
  if (folded === undefined) {
    if ("\u2018\u2019\u201a\u201b\u02bc\u00b4\u2032".includes(unit)) folded = "'";
    else if ("\u201c\u201d".includes(unit)) folded = '"';
    else {
      const decomposed = unit.normalize("NFD");
      const base = decomposed.charAt(0);
      folded = decomposed.length > 1 && /^\p{M}+$/u.test(decomposed.slice(1)) ? base.toLowerCase() : unit;
      if (folded.length !== 1) folded = unit;
    }
    FOLDED_UNITS.set(unit, folded);
  }
  return folded;
}
