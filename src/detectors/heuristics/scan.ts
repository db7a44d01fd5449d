/**
 * The matching engine. One pass over a view splits it into words, looks each
 * word up in a table of rule anchors, and tries only the rules anchored on that
 * word, sticky, at that position. Substring anchors (scripts without spaces,
 * punctuation such as `<|`) are found in the same pass by their first two
 * units. The pass also notes the shapes decoders care about (leetspeak
 * words, spaced-out letters, long alphanumeric runs, rot13 and reversed
 * trigger words), so decoding costs nothing when there is nothing to decode.
 *
 * Cost: one pass over the text plus, per anchor occurrence, one sticky attempt
 * for each rule on that anchor that has not matched yet, for at most the first
 * and last MAX_ATTEMPTS occurrences per rule; the occurrences in between cost
 * a table test each, however many rules share their anchor. Every pattern is proven free of
 * catastrophic backtracking (test/detectors/heuristics), so an attempt is
 * bounded by the pattern, and a rule stops being tried once it has matched.
 */
import { endianness } from "node:os";
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

/** Flag in AnchorIndex.unitFlags, above the character class. */
const FIRST_UNIT = 4;

/** Words whose rot13 or reversal is a common English or attack word: seeing two means a rot13 or reversed passage. */
export const Trigger = { None: 0, Rot13: 1, Reversed: 2 } as const;
export type Trigger = number;

interface WordEntry {
  readonly word: string;
  /** wordHash(word). */
  readonly hash: number;
  rules: number[];
  /** Index of `rules` in AnchorIndex.lists (-1 when the word anchors no rule). */
  list: number;
  trigger: number;
  /** Rules (by index) whose `requires` list names this word. */
  satisfies: number[];
}

interface SubstringAnchor {
  readonly text: string;
  /** Its first UTF-16 unit. */
  readonly first: number;
  /** Its second UTF-16 unit, -1 when it has none. */
  readonly second: number;
  /** Its third UTF-16 unit, -1 when it has none. */
  readonly third: number;
  readonly rules: number[];
  /** Index of `rules` in AnchorIndex.lists. */
  list: number;
}

/** The anchors of one rule set (for one role), ready for scanning. */
export interface AnchorIndex {
  readonly rules: readonly CompiledRule[];
  readonly words: ReadonlyMap<string, WordEntry>;
  /**
   * The same entries chained by the low 16 bits of their wordHash: slot s starts at bucketEntries[bucketHead[s]]
   * and goes on at bucketNext of each (-1: end). The scan looks a word up with a typed-array read and no string
   * per word; most words are no anchor, and their slot is empty.
   */
  readonly bucketHead: Int32Array;
  readonly bucketNext: Int32Array;
  readonly bucketEntries: readonly WordEntry[];
  /** Substring anchors keyed by their first UTF-16 unit. */
  readonly substrings: ReadonlyMap<number, readonly SubstringAnchor[]>;
  /** The same lists numbered from 1 (substringLists), and per UTF-16 unit the number of the list of anchors starting with it (0: none). */
  readonly substringSlot: Uint16Array;
  readonly substringLists: ReadonlyArray<readonly SubstringAnchor[]>;
  /**
   * The anchors of two units or more again, by a hash of their first two units (pairKey): per key the number of
   * a list in pairLists (0: none). A unit such as "<" starts several anchors; the pair narrows them to the few
   * that can match here. Anchors with the same first two units keep their order.
   */
  readonly pairSlot: Uint16Array;
  readonly pairLists: ReadonlyArray<readonly SubstringAnchor[]>;
  /** Per UTF-16 unit: 0 when no substring anchor starts with it, 1 when some do (all two units or longer), 2 when one is that unit alone. */
  readonly firstUnits: Uint8Array;
  /** Per UTF-16 unit: its character class (CHAR_CLASS) plus FIRST_UNIT when a substring anchor starts with it, so the pass reads one table per unit. */
  readonly unitFlags: Uint8Array;
  /** 1 for every unit that is the second of some substring anchor: a first unit followed by none of these starts no anchor. */
  readonly secondUnits: Uint8Array;
  readonly maxWordLength: number;
  /** The most anchor occurrences one unit can add: the longest list of substring anchors sharing a first unit, plus a word's. */
  readonly maxHitsPerUnit: number;
  /** Per rule: 1 when it has a `requires` list (tried only if one of those words occurs in the view). */
  readonly hasRequirement: Uint8Array;
  /** The rule list of every anchor that has rules, numbered: an anchor occurrence is recorded as its list's number. */
  readonly lists: ReadonlyArray<readonly number[]>;
  /** Per rule: the numbers of the lists it is in. */
  readonly listsOfRule: ReadonlyArray<readonly number[]>;
}

export function isWordAnchor(anchor: string): boolean {
  for (let i = 0; i < anchor.length; i++) if (CHAR_CLASS[anchor.charCodeAt(i)] !== 1) return false;
  return anchor.length > 0;
}

export function buildAnchorIndex(rules: readonly CompiledRule[], triggers: ReadonlyMap<string, Trigger>): AnchorIndex {
  const words = new Map<string, WordEntry>();
  const substrings = new Map<number, SubstringAnchor[]>();
  const firstUnits = new Uint8Array(0x10000);
  const secondUnits = new Uint8Array(0x10000);
  let maxWordLength = 0;
  const hasRequirement = new Uint8Array(rules.length);
  const entryFor = (word: string): WordEntry => {
    let entry = words.get(word);
    if (!entry) {
      entry = { word, hash: wordHash(word), rules: [], list: -1, trigger: Trigger.None, satisfies: [] };
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
        else {
          const unitAt = (k: number): number => (anchor.length > k ? anchor.charCodeAt(k) : -1);
          list.push({ text: anchor, first, second: unitAt(1), third: unitAt(2), rules: [index], list: -1 });
        }
        substrings.set(first, list);
        if (anchor.length > 1) {
          secondUnits[anchor.charCodeAt(1)] = 1;
          firstUnits[first] = Math.max(firstUnits[first]!, 1);
        } else firstUnits[first] = 2;
      }
    }
  });
  for (const [word, trigger] of triggers) {
    entryFor(word).trigger |= trigger;
    maxWordLength = Math.max(maxWordLength, word.length);
  }
  const bucketEntries = [...words.values()];
  const bucketHead = new Int32Array(0x10000).fill(-1);
  const bucketNext = new Int32Array(bucketEntries.length);
  bucketEntries.forEach((entry, at) => {
    bucketNext[at] = bucketHead[entry.hash & 0xffff]!;
    bucketHead[entry.hash & 0xffff] = at;
  });
  const lists: Array<readonly number[]> = [];
  const listsOfRule: number[][] = rules.map(() => []);
  const number = (ruleList: readonly number[]): number => {
    const id = lists.length;
    lists.push(ruleList);
    for (const ruleIndex of ruleList) listsOfRule[ruleIndex]!.push(id);
    return id;
  };
  for (const entry of words.values()) if (entry.rules.length > 0) entry.list = number(entry.rules);
  for (const anchors of substrings.values()) for (const anchor of anchors) anchor.list = number(anchor.rules);
  const unitFlags = CHAR_CLASS.slice();
  const substringSlot = new Uint16Array(0x10000);
  const substringLists: Array<readonly SubstringAnchor[]> = [[]];
  for (const [first, anchors] of substrings) {
    unitFlags[first]! |= FIRST_UNIT;
    substringSlot[first] = substringLists.length;
    substringLists.push(anchors);
  }
  const pairSlot = new Uint16Array(0x10000);
  const pairLists: SubstringAnchor[][] = [[]];
  for (const anchors of substrings.values()) {
    for (const anchor of anchors) {
      if (anchor.second < 0) continue;
      const key = pairKey(anchor.first, anchor.second);
      if (pairSlot[key] === 0) {
        pairSlot[key] = pairLists.length;
        pairLists.push([]);
      }
      pairLists[pairSlot[key]!]!.push(anchor);
    }
  }
  const maxHitsPerUnit = 1 + Math.max(0, ...[...substrings.values()].map((anchors) => anchors.length));
  return { rules, words, bucketHead, bucketNext, bucketEntries, substrings, substringSlot, substringLists, pairSlot, pairLists, firstUnits, unitFlags, secondUnits, maxWordLength, maxHitsPerUnit, hasRequirement, lists, listsOfRule };
}

function pairKey(first: number, second: number): number {
  return (Math.imul(first, 31) + second) & 0xffff;
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
 * The view of the scan in progress as UTF-16 units, plus a space after its end (the final separator): the pass
 * reads a typed array, which V8 does about twice as fast as charCodeAt on a string of unknown representation.
 * Filled by one native copy (Buffer.write, UTF-16LE; swapped on a big-endian machine). Shared by every scan.
 */
const UNIT_BUFFER = 4096;
/** Capacity kept between scans once grown (2 MB), like the hit buffers below. */
const MAX_KEPT_UNITS = 1 << 20;
const BIG_ENDIAN = endianness() === "BE";
let unitBytes = Buffer.alloc(2 * UNIT_BUFFER);
let units = new Uint16Array(unitBytes.buffer, unitBytes.byteOffset, UNIT_BUFFER);

/** Copies `view` into `units`, followed by a space. */
function loadUnits(view: string): Uint16Array {
  if (view.length + 1 > units.length) {
    unitBytes = Buffer.alloc(2 * (view.length + 1));
    units = new Uint16Array(unitBytes.buffer, unitBytes.byteOffset, view.length + 1);
  }
  const bytes = unitBytes.write(view, 0, "utf16le");
  if (BIG_ENDIAN) unitBytes.subarray(0, bytes).swap16();
  units[view.length] = 32;
  return units;
}

/** Anchor occurrences of the scan in progress: position in the view and number of the anchor's rule list. */
const HIT_BUFFER = 4096;
/** Capacity kept between scans once grown (2 MB for both buffers): a megabyte of "ignore ignore ..." holds 150,000 occurrences. */
const MAX_KEPT_HITS = 1 << 18;
let hitPositions = new Int32Array(HIT_BUFFER);
let hitLists = new Int32Array(HIT_BUFFER);

function growHits(): void {
  const positions = new Int32Array(2 * hitPositions.length);
  positions.set(hitPositions);
  hitPositions = positions;
  const numbers = new Int32Array(2 * hitLists.length);
  numbers.set(hitLists);
  hitLists = numbers;
}

/**
 * Scan one view. `fired` marks rules that already matched (they are not tried
 * again); matches are appended to `out`. With `shapes`, decoder cues are
 * recorded as well; with `skipped`, attempts left out by the per-rule cap
 * (MAX_ATTEMPTS) are counted.
 */
export function scan(view: string, index: AnchorIndex, fired: Uint8Array, out: RuleMatch[], shapes?: Shapes, skipped?: { count: number }): void {
  const length = view.length;
  const { words, bucketHead, bucketNext, bucketEntries, substringSlot, substringLists, pairSlot, pairLists, firstUnits, unitFlags, secondUnits, rules, maxWordLength, maxHitsPerUnit } = index;
  // Anchor occurrences are collected first and tried after the pass, once it is
  // known which rules' required words occur at all: each as its position and the
  // number of its anchor's rule list (hitPositions, hitLists).
  // The buffers are shared by every scan (one runs at a time) so a short text allocates none. They grow at one
  // place, the top of the loop, while a unit could fill them: a call first reached in the middle of a megabyte
  // throws away the pass's optimised code, so there is one such call rather than one per kind of anchor.
  let hitCount = 0;
  let hitRoom = hitPositions.length - maxHitsPerUnit;
  const requirementMet = new Uint8Array(rules.length);
  let tokenStart = -1;
  let digits = 0;
  let hash = 0;
  // Spaced-out letters: a run of one-character words.
  let runStart = -1;
  let runCount = 0;
  let lastSingleEnd = -10;
  let lastLineBreak = -1;
  // Hex bytes written as separate words ("69 67 6e"): only consecutive ones count.
  let hexRun = 0;
  let hexRunStart = 0;
  const unit = loadUnits(view);

  // One loop, no closures: the position past the end (a space in `unit`) acts as a final separator.
  for (let i = 0; i <= length; i++) {
    if (hitCount > hitRoom) {
      growHits();
      hitRoom = hitPositions.length - maxHitsPerUnit;
    }
    const code = unit[i]!;
    const flags = unitFlags[code]!;
    if (flags >= FIRST_UNIT) {
      const first = firstUnits[code]!;
      // Most units that start an anchor (punctuation such as "<" or "[") are followed by none of the anchors' second units.
      const next = i + 1 < length ? unit[i + 1]! : -1;
      if (first === 2) {
        // Some anchor is this unit alone: try them all, in order.
        const candidates = substringLists[substringSlot[code]!]!;
        for (let c = 0; c < candidates.length; c++) {
          const anchor = candidates[c]!;
          if (anchor.second < 0 || (anchor.second === next && startsAt(unit, length, anchor.text, i, 2))) {
            hitPositions[hitCount] = i;
            hitLists[hitCount++] = anchor.list;
          }
        }
      } else if (next >= 0 && secondUnits[next] === 1) {
        // Only anchors that start with these two units can match here; the third is compared before the rest.
        const candidates = pairLists[pairSlot[pairKey(code, next)]!]!;
        const third = i + 2 < length ? unit[i + 2]! : -1;
        for (let c = 0; c < candidates.length; c++) {
          const anchor = candidates[c]!;
          if (anchor.first === code && anchor.second === next && (anchor.third < 0 || (anchor.third === third && startsAt(unit, length, anchor.text, i, 3)))) {
            hitPositions[hitCount] = i;
            hitLists[hitCount++] = anchor.list;
          }
        }
      }
    }
    if ((flags & 3) === 1) {
      if (tokenStart < 0) {
        tokenStart = i;
        digits = 0;
        hash = 0;
      }
      hash = (Math.imul(hash, 31) + code) | 0;
      if (code >= 48 && code <= 57) digits++;
      continue;
    }
    // The last line break before this unit (a word has none, so before the word that ends here, if one does).
    const lineBreakBefore = lastLineBreak;
    if (code === 10) lastLineBreak = i;
    if (tokenStart < 0) continue;
    const start = tokenStart;
    const size = i - start;
    tokenStart = -1;
    if (shapes) {
      if (size === 1) {
        // No line break between the previous one-letter word and this one.
        if (start - lastSingleEnd <= 3 && lineBreakBefore < lastSingleEnd) runCount++;
        else {
          if (runCount >= 6) pushPair(shapes.spaced, runStart, lastSingleEnd);
          runStart = start;
          runCount = 1;
        }
        lastSingleEnd = i;
      } else if (size >= 16) pushBounded(shapes.longWords, start);
      if (size >= 2 && size <= 4 && looksLikeHexByte(unit, start, i)) {
        if (hexRun === 0) hexRunStart = start;
        if (++hexRun === 8) pushBounded(shapes.hexRuns, hexRunStart);
      } else hexRun = 0;
    }
    if (size > maxWordLength) continue;
    let entry: WordEntry | undefined;
    const slot = hash & 0xffff;
    for (let c = bucketHead[slot]!; c >= 0; c = bucketNext[c]!) {
      const candidate = bucketEntries[c]!;
      if (candidate.hash === hash && candidate.word.length === size && startsAt(unit, length, candidate.word, start, 0)) {
        entry = candidate;
        break;
      }
    }
    if (entry !== undefined) {
      if (entry.list >= 0) {
        hitPositions[hitCount] = start;
        hitLists[hitCount++] = entry.list;
      }
      if (entry.satisfies.length > 0) for (const ruleIndex of entry.satisfies) requirementMet[ruleIndex] = 1;
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

  if (hitCount <= 2 * MAX_ATTEMPTS) tryAll(view, index, hitCount, requirementMet, fired, out);
  else tryCapped(view, index, hitCount, requirementMet, fired, out, skipped);
  releaseBuffers();
}

/**
 * After a flood of more than a megabyte grew the shared buffers: let the memory go. (Called after every
 * scan: code in scan that only megabyte floods reach has no type feedback when V8 optimizes scan on a
 * flood, and the optimized code, reused, deoptimized there on every flood.)
 */
function releaseBuffers(): void {
  if (hitPositions.length > MAX_KEPT_HITS) {
    hitPositions = new Int32Array(HIT_BUFFER);
    hitLists = new Int32Array(HIT_BUFFER);
  }
  if (units.length > MAX_KEPT_UNITS) {
    unitBytes = Buffer.alloc(2 * UNIT_BUFFER);
    units = new Uint16Array(unitBytes.buffer, unitBytes.byteOffset, UNIT_BUFFER);
  }
}

/** No rule has more than 2 * MAX_ATTEMPTS occurrences, so none is capped: each is tried at every one, in order, until it matches. */
function tryAll(view: string, index: AnchorIndex, hitCount: number, requirementMet: Uint8Array, fired: Uint8Array, out: RuleMatch[]): void {
  const { rules, lists, hasRequirement } = index;
  for (let h = 0; h < hitCount; h++) {
    const at = hitPositions[h]!;
    for (const ruleIndex of lists[hitLists[h]!]!) {
      if (fired[ruleIndex] === 1 || (hasRequirement[ruleIndex] === 1 && requirementMet[ruleIndex] === 0)) continue;
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

/**
 * The regex attempts after the pass. A rule is tried at no more than the first and the last MAX_ATTEMPTS
 * occurrences of its anchors, in text order, until it matches. A text that repeats an anchor word hundreds of
 * thousands of times ("ignore ignore ignore ...") would otherwise cost one regex attempt per occurrence per
 * rule; attempts between are skipped and counted, and the caller reports the flood. Ordinary text, even a
 * megabyte of it, stays well under the bound.
 *
 * The work is done so that skipped occurrences cost nothing per rule: a forward walk over the occurrences
 * makes the first attempts and stops once every rule has had them; a backward walk finds where each capped
 * rule's last MAX_ATTEMPTS occurrences begin, and a forward walk from there makes those. Each walk passes over
 * an occurrence whose rules are all done (matched, capped, or not yet due) with one test. Matches are
 * reported in the order a single walk over every occurrence would find them.
 */
function tryCapped(view: string, index: AnchorIndex, hitCount: number, requirementMet: Uint8Array, fired: Uint8Array, out: RuleMatch[], skipped: { count: number } | undefined): void {
  const { rules, lists, hasRequirement } = index;
  const ruleCount = rules.length;
  const listHits = new Int32Array(lists.length);
  for (let h = 0; h < hitCount; h++) listHits[hitLists[h]!]!++;
  // Occurrences per rule: the sum over the lists it is in.
  const occurrences = new Int32Array(ruleCount);
  for (let list = 0; list < lists.length; list++) {
    const count = listHits[list]!;
    if (count > 0) for (const ruleIndex of lists[list]!) occurrences[ruleIndex]! += count;
  }
  // Per rule, how many of its first occurrences to try: all of them, or MAX_ATTEMPTS when capped (and then
  // also its last MAX_ATTEMPTS). `active` rules are due at the occurrences the current walk visits, and
  // `pending` counts the active rules of each list, so an occurrence whose list has none is passed over.
  const headLength = new Int32Array(ruleCount);
  const seen = new Int32Array(ruleCount);
  const walk = new CappedWalk(index, view, fired, out);
  const { active, pending, matchedAt } = walk;
  let capped = 0;
  for (let ruleIndex = 0; ruleIndex < ruleCount; ruleIndex++) {
    const count = occurrences[ruleIndex]!;
    if (count === 0 || fired[ruleIndex] === 1 || (hasRequirement[ruleIndex] === 1 && requirementMet[ruleIndex] === 0)) continue;
    const isCapped = count > 2 * MAX_ATTEMPTS;
    if (isCapped) capped++;
    headLength[ruleIndex] = isCapped ? MAX_ATTEMPTS : count;
    walk.activate(ruleIndex);
  }
  const matchesBefore = out.length;

  // The first attempts (every attempt, for a rule that is not capped).
  for (let h = 0; h < hitCount && walk.activeRules > 0; h++) {
    const list = hitLists[h]!;
    if (pending[list] === 0) continue;
    for (const ruleIndex of lists[list]!) {
      if (active[ruleIndex] === 0) continue;
      const nth = ++seen[ruleIndex]!;
      if (walk.attempt(ruleIndex, h) || nth === headLength[ruleIndex]) walk.retire(ruleIndex);
    }
  }

  if (capped > 0) {
    // Capped rules that have not matched: their middle occurrences are skipped, their last MAX_ATTEMPTS tried.
    const tailStart = new Int32Array(ruleCount).fill(-1);
    let skippedHere = 0;
    for (let ruleIndex = 0; ruleIndex < ruleCount; ruleIndex++) {
      if (headLength[ruleIndex] === MAX_ATTEMPTS && occurrences[ruleIndex]! > 2 * MAX_ATTEMPTS && fired[ruleIndex] === 0) {
        skippedHere += occurrences[ruleIndex]! - 2 * MAX_ATTEMPTS;
        seen[ruleIndex] = 0;
        walk.activate(ruleIndex);
      }
    }
    if (skipped) skipped.count += skippedHere;
    // Backward: where each one's last MAX_ATTEMPTS occurrences begin.
    let earliest = hitCount;
    for (let h = hitCount - 1; h >= 0 && walk.activeRules > 0; h--) {
      const list = hitLists[h]!;
      if (pending[list] === 0) continue;
      for (const ruleIndex of lists[list]!) {
        if (active[ruleIndex] === 0) continue;
        if (++seen[ruleIndex]! === MAX_ATTEMPTS) {
          tailStart[ruleIndex] = h;
          earliest = h;
          walk.retire(ruleIndex);
        }
      }
    }
    // Forward from the earliest of those: each rule becomes due at its own start.
    const order = [...tailStart.keys()].filter((ruleIndex) => tailStart[ruleIndex]! >= 0).sort((a, b) => tailStart[a]! - tailStart[b]!);
    let next = 0;
    for (let h = earliest; h < hitCount && (walk.activeRules > 0 || next < order.length); h++) {
      while (next < order.length && tailStart[order[next]!]! === h) walk.activate(order[next++]!);
      const list = hitLists[h]!;
      if (pending[list] === 0) continue;
      for (const ruleIndex of lists[list]!) {
        if (active[ruleIndex] === 1 && walk.attempt(ruleIndex, h)) walk.retire(ruleIndex);
      }
    }
  }

  // Report matches in occurrence order (ties: the order of the rules in the occurrence's list), as one walk
  // over every occurrence would.
  if (out.length - matchesBefore > 1) {
    const found = out.splice(matchesBefore);
    const rank = (match: RuleMatch): number => matchedAt[match.rule]!;
    const place = (match: RuleMatch): number => lists[hitLists[rank(match)]!]!.indexOf(match.rule);
    found.sort((a, b) => rank(a) - rank(b) || place(a) - place(b));
    out.push(...found);
  }
}

/**
 * The rules a capped walk has due (`active`), how many of them each anchor list holds (`pending`, so an
 * occurrence whose list has none is passed over), and their attempts. A class rather than closures made on
 * every call, so that its call sites keep one target (V8 deoptimized on each new closure).
 */
class CappedWalk {
  readonly active: Uint8Array;
  readonly pending: Int32Array;
  /** Per rule, the occurrence it matched at (-1: none). */
  readonly matchedAt: Int32Array;
  activeRules = 0;

  constructor(
    private readonly index: AnchorIndex,
    private readonly view: string,
    private readonly fired: Uint8Array,
    private readonly out: RuleMatch[],
  ) {
    this.active = new Uint8Array(index.rules.length);
    this.pending = new Int32Array(index.lists.length);
    this.matchedAt = new Int32Array(index.rules.length).fill(-1);
  }

  activate(ruleIndex: number): void {
    this.active[ruleIndex] = 1;
    this.activeRules++;
    for (const list of this.index.listsOfRule[ruleIndex]!) this.pending[list]!++;
  }

  retire(ruleIndex: number): void {
    this.active[ruleIndex] = 0;
    this.activeRules--;
    for (const list of this.index.listsOfRule[ruleIndex]!) this.pending[list]!--;
  }

  /** Tries the rule at occurrence `h`; records the match. */
  attempt(ruleIndex: number, h: number): boolean {
    const regex = this.index.rules[ruleIndex]!.sticky;
    const at = hitPositions[h]!;
    regex.lastIndex = at;
    const match = regex.exec(this.view);
    if (match === null) return false;
    this.fired[ruleIndex] = 1;
    this.matchedAt[ruleIndex] = h;
    this.out.push({ rule: ruleIndex, start: at, end: at + match[0].length });
    return true;
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

/** view.startsWith(text, at) given that the first `from` units are equal, without a call into the runtime (anchors are short, and most differ early). */
function startsAt(view: Uint16Array, length: number, text: string, at: number, from: number): boolean {
  if (at + text.length > length) return false;
  for (let k = from; k < text.length; k++) if (view[at + k] !== text.charCodeAt(k)) return false;
  return true;
}

function isHexDigit(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 97 && code <= 102);
}

function looksLikeHexByte(view: Uint16Array, start: number, end: number): boolean {
  let from = start;
  if (end - start === 3 && view[start] === 120) from = start + 1; // x69
  else if (end - start === 4 && view[start] === 48 && view[start + 1] === 120) from = start + 2; // 0x69
  if (end - from !== 2) return false;
  return isHexDigit(view[from]!) && isHexDigit(view[from + 1]!);
}

/** A unit that prepareView may change: an ASCII capital, or anything beyond ASCII. */
const NEEDS_PREPARING = /[A-Z\u0080-\uffff]/;

/**
 * The detection view as rules expect it: lower-case, no diacritics, straight
 * quotes. Length-preserving (one UTF-16 unit in, one out), so offsets stay valid.
 * The normalize layer's folded view already is this; when normalisation is
 * switched off the engine passes plain lower-cased text, and this closes the gap.
 */
export function prepareView(text: string): string {
  // Lower-case ASCII (the folded view usually is) is already prepared: lower-casing changes only A-Z below
  // 0x80 and the replacement only touches units above it. The test stops at the first unit that needs work.
  if (!NEEDS_PREPARING.test(text)) return text;
  // Lower-casing and folding, one unit at a time through one table, over a copy of the units: unless a unit's
  // lower case is more than a function of that unit (see preparedUnits), which the whole-string path handles.
  const { prepared, complex } = preparedUnits();
  const bytes = Buffer.alloc(2 * text.length);
  bytes.write(text, 0, "utf16le");
  if (BIG_ENDIAN) bytes.swap16();
  const units = new Uint16Array(bytes.buffer, bytes.byteOffset, text.length);
  for (let k = 0; k < units.length; k++) {
    const unit = units[k]!;
    if (complex[unit] === 1) return prepareWhole(text);
    units[k] = prepared[unit]!;
  }
  if (BIG_ENDIAN) bytes.swap16();
  return bytes.toString("utf16le");
}

/** prepareView for any text: lower-case the whole string (unless that changes its length), then fold per unit. */
function prepareWhole(text: string): string {
  const lowered = text.toLowerCase();
  const folded = lowered.length === text.length ? lowered : text; // rare: lower-casing changed the length; keep offsets
  if (!FOLDABLE.test(folded)) return folded;
  // Each unit of FOLDABLE folds to one unit (foldUnit): through a table, over a copy of the units, rather than a
  // replacement callback per unit (text in Cyrillic or with many accents has one at nearly every unit).
  const table = unitFoldTable();
  const bytes = Buffer.alloc(2 * folded.length);
  bytes.write(folded, 0, "utf16le");
  if (BIG_ENDIAN) bytes.swap16();
  const units = new Uint16Array(bytes.buffer, bytes.byteOffset, folded.length);
  for (let k = 0; k < units.length; k++) units[k] = table[units[k]!]!;
  if (BIG_ENDIAN) bytes.swap16();
  return bytes.toString("utf16le");
}

let preparedTables: { readonly prepared: Uint16Array; readonly complex: Uint8Array } | null = null;

/**
 * Per UTF-16 unit, what prepareView makes of it (its lower case, folded), and 1 in `complex` when that is not
 * a function of the unit alone: a surrogate (the letter is the pair's), capital sigma (its lower case depends
 * on whether a word ends after it), or a unit whose lower case is longer (İ; the whole text then stays as it is).
 */
function preparedUnits(): { readonly prepared: Uint16Array; readonly complex: Uint8Array } {
  if (preparedTables === null) {
    const folds = unitFoldTable();
    const prepared = new Uint16Array(0x10000);
    const complex = new Uint8Array(0x10000);
    for (let code = 0; code < 0x10000; code++) {
      const lower = String.fromCharCode(code).toLowerCase();
      if ((code >= 0xd800 && code <= 0xdfff) || code === 0x3a3 || lower.length !== 1) complex[code] = 1;
      else prepared[code] = folds[lower.charCodeAt(0)]!;
    }
    preparedTables = { prepared, complex };
  }
  return preparedTables;
}

/** The units prepareView folds (after lower-casing): Latin and Cyrillic letters with diacritics, curly quotes and primes. */
const FOLDABLE = /[\u00c0-\u024f\u0400-\u04ff\u1e00-\u1eff\u2018\u2019\u201a\u201b\u201c\u201d\u02bc\u00b4\u2032]/;
/** Per UTF-16 unit, what prepareView makes of it (itself unless FOLDABLE); built on first need. */
let unitFolds: Uint16Array | null = null;

function unitFoldTable(): Uint16Array {
  if (unitFolds === null) {
    const table = new Uint16Array(0x10000);
    for (let code = 0; code < 0x10000; code++) table[code] = code;
    // FOLDABLE lies within U+00B4..U+2032.
    for (let code = 0xb4; code <= 0x2032; code++) {
      const unit = String.fromCharCode(code);
      if (FOLDABLE.test(unit)) table[code] = foldUnit(unit).charCodeAt(0);
    }
    unitFolds = table;
  }
  return unitFolds;
}

function foldUnit(unit: string): string {
  let folded: string;
  if ("\u2018\u2019\u201a\u201b\u02bc\u00b4\u2032".includes(unit)) folded = "'";
  else if ("\u201c\u201d".includes(unit)) folded = '"';
  else {
    const decomposed = unit.normalize("NFD");
    const base = decomposed.charAt(0);
    folded = decomposed.length > 1 && /^\p{M}+$/u.test(decomposed.slice(1)) ? base.toLowerCase() : unit;
    if (folded.length !== 1) folded = unit;
  }
  return folded;
}
