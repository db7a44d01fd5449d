import { scanText } from "../detectors/normalize/index.js";

/**
 * Text primitives shared by training and inference: the folding used when no
 * folded view is supplied, character classes, and the 32-bit hashes behind
 * every feature. Everything here is deterministic and allocation-light,
 * because it runs once per character of every checked input.
 */

/**
 * The detection view the model was trained on: the normalize layer's folded
 * view (compatibility-normalised, confusables folded in mixed-script text,
 * diacritics and invisible characters removed, lower-cased). Training, the
 * lexicon, decoded payloads and JSON string values all go through this one
 * function, so the model sees at check time exactly what it was trained on.
 */
export function foldText(text: string): string {
  return scanText(text, FOLD_OPTIONS).folded;
}

const FOLD_OPTIONS = { stripInvisible: true, stripControl: true } as const;

/** FNV-1a offset basis; feature families start from different seeds. */
export const FNV_OFFSET = 0x811c9dc5;

export function fnvStep(hash: number, code: number): number {
  return Math.imul(hash ^ code, 0x01000193);
}

/**
 * Final avalanche (murmur3 fmix32) so that nearby hashes spread over all buckets, as a signed 32-bit integer.
 * Signed because V8 keeps such a value unboxed even when the call is not inlined: an unsigned one of 2^31 or
 * more is returned as a heap number, an allocation per call. (After a long input of some shapes, V8 stopped
 * inlining these calls in the featurizer, and every later check allocated twice as much.)
 */
export function mixBits(hash: number): number {
  let h = hash ^ (hash >>> 16);
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** mixBits as an unsigned 32-bit integer, for the callers that order hashes (min-hash signatures). */
export function mix32(hash: number): number {
  return mixBits(hash) >>> 0;
}

/** Order-sensitive combination of two hashes (word n-grams, phrases), signed like mixBits. */
export function combineHash(a: number, b: number): number {
  return mixBits(Math.imul(a, 0x9e3779b1) ^ b);
}

export function hashString(text: string, seed = FNV_OFFSET): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) h = fnvStep(h, text.charCodeAt(i));
  return h >>> 0;
}

/** Characters of scripts written without spaces: each one is treated as a word. */
export function isSegmentingChar(code: number): boolean {
  return (
    (code >= 0x4e00 && code <= 0x9fff) ||
    (code >= 0x3400 && code <= 0x4dbf) ||
    (code >= 0x3040 && code <= 0x30ff) ||
    (code >= 0xf900 && code <= 0xfaff) ||
    (code >= 0x0e00 && code <= 0x0e7f)
  );
}

/** Letters and digits of any script; punctuation, symbols, spaces and surrogates are not word characters. */
export function isWordChar(code: number): boolean {
  if (code < 0x80) return (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a);
  if (code < 0xc0) return code === 0xaa || code === 0xb5 || code === 0xba;
  if (code === 0xd7 || code === 0xf7) return false;
  if (code >= 0x2000 && code <= 0x2bff) return false;
  if (code >= 0x3000 && code <= 0x303f) return false;
  if (code >= 0xd800 && code <= 0xdfff) return false;
  if (code >= 0xfe30 && code <= 0xfe4f) return false;
  if (code >= 0xff00 && code <= 0xff20) return false;
  if (code === 0x060c || code === 0x061b || code === 0x061f || code === 0x06d4 || code === 0x0964 || code === 0x0965) return false;
  return true;
}

/** Digits all hash alike, so numbers generalise by shape rather than value. */
export function featureCode(code: number): number {
  return code >= 0x30 && code <= 0x39 ? 0x30 : code;
}

export function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x09 || code === 0x0d || code === 0x0c || code === 0x0b || code === 0xa0 || code === 0x3000 || (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029;
}

/** Character classes of the gibberish model: letters, digit, space, each ASCII punctuation mark, other letters, other. */
export const CHAR_CLASSES = 62;
export const OTHER_LETTER_CLASS = 60;
const PUNCTUATION = ".,!?;:'\"()[]{}<>/\\-_*+=#@$%^&|~`";

const ASCII_CLASS = new Int8Array(128).fill(61);
for (let c = 0; c < 26; c++) {
  ASCII_CLASS[0x61 + c] = c;
  ASCII_CLASS[0x41 + c] = c;
}
for (let c = 0x30; c <= 0x39; c++) ASCII_CLASS[c] = 26;
ASCII_CLASS[0x20] = 27;
ASCII_CLASS[0x0a] = 27;
ASCII_CLASS[0x09] = 27;
ASCII_CLASS[0x0d] = 27;
for (let i = 0; i < PUNCTUATION.length; i++) ASCII_CLASS[PUNCTUATION.charCodeAt(i)] = 28 + i;

export function charClass(code: number): number {
  if (code < 128) return ASCII_CLASS[code]!;
  if (isSpace(code)) return 27;
  return isWordChar(code) ? OTHER_LETTER_CLASS : 61;
}
