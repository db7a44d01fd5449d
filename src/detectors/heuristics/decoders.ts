/**
 * Decoders for obfuscated payloads: base64, hex, rot13, leetspeak, spaced-out
 * letters and reversed text. Each turns a region of the input into a plain
 * reading that the rules then scan. They run only where the scanning pass saw
 * a cue (see Shapes in scan.ts), and all of them together decode at most
 * DECODE_BUDGET characters per check, so their cost stays bounded whatever the
 * input.
 */
import { leetToLetters, prepareView, type Shapes } from "./scan.js";

export type DecoderName = "base64" | "hex" | "rot13" | "leetspeak" | "spaced-out letters" | "reversed text";

export interface DecodedPiece {
  readonly decoder: DecoderName;
  /** The decoded text, prepared like the folded view (lower-case, no diacritics). */
  readonly text: string;
}

/** Characters decoded per check, over all decoders. */
export const DECODE_BUDGET = 64 * 1024;
/** Characters of context around a cue word for rot13, leetspeak and reversal. */
const WINDOW_BEFORE = 300;
const WINDOW_AFTER = 600;

const HEX_RUN = /(?:\\x|0x|%)?[0-9a-f]{2}(?:[ ,:]?(?:\\x|0x|%)?[0-9a-f]{2}){7,}/g;
const MIN_RUN = 16;
const MAX_RUN = 16 * 1024;

class Budget {
  remaining = DECODE_BUDGET;
  take(size: number): boolean {
    if (size > this.remaining) return false;
    this.remaining -= size;
    return true;
  }
}

/**
 * Decoded readings of a check's input. `text` is the layer's input text (case
 * matters for base64), `view` its prepared folded view, `shapes` what the
 * scanning pass of `view` noted.
 */
export function decodePieces(text: string, view: string, shapes: Shapes, viewToText: (index: number) => number | null): DecodedPiece[] {
  const budget = new Budget();
  const pieces: DecodedPiece[] = [];
  // Base64 is case-sensitive, so its runs are read from the text; the scan found them in the view.
  let covered = -1;
  for (const start of shapes.longWords) {
    const at = viewToText(start);
    if (at === null || at < covered) continue;
    const [from, to] = expand(text, at, isBase64Unit);
    covered = to;
    if (!decodeBase64Run(text.slice(from, to), budget, pieces)) break;
  }
  covered = -1;
  for (const start of [...shapes.longWords, ...shapes.hexRuns].sort((a, b) => a - b)) {
    if (start < covered) continue;
    const [from, to] = expand(view, start, isHexRunUnit);
    covered = to;
    if (!decodeHexRun(view.slice(from, to), budget, pieces)) break;
  }
  if (shapes.rot13.length >= 2) {
    for (const [start, end] of windows(shapes.rot13, view.length)) {
      if (!budget.take(end - start)) break;
      pieces.push({ decoder: "rot13", text: rot13(view.slice(start, end)) });
    }
  }
  if (shapes.leet.length > 0) {
    for (const [start, end] of windows(shapes.leet, view.length)) {
      if (!budget.take(end - start)) break;
      pieces.push({ decoder: "leetspeak", text: leetToLetters(view.slice(start, end)) });
    }
  }
  for (let i = 0; i + 1 < shapes.spaced.length; i += 2) {
    const start = shapes.spaced[i]!;
    const end = Math.min(shapes.spaced[i + 1]!, start + MAX_RUN);
    if (!budget.take(end - start)) break;
    pieces.push({ decoder: "spaced-out letters", text: joinSpacedLetters(view.slice(start, end)) });
  }
  if (shapes.reversed.length > 0) {
    for (const [start, end] of windows(shapes.reversed, view.length)) {
      if (!budget.take(2 * (end - start))) break;
      const window = view.slice(start, end);
      pieces.push({ decoder: "reversed text", text: reverse(window) });
      pieces.push({ decoder: "reversed text", text: window.replace(/[^\s.,;:!?"']+/g, reverse) });
    }
  }
  return pieces;
}

/** The maximal run around `at` of units that `accept`s, at most MAX_RUN long. */
function expand(text: string, at: number, accept: (code: number) => boolean): [number, number] {
  let from = at;
  while (from > 0 && at - from < MAX_RUN && accept(text.charCodeAt(from - 1))) from--;
  let to = at;
  while (to < text.length && to - from < MAX_RUN && accept(text.charCodeAt(to))) to++;
  return [from, to];
}

function isBase64Unit(code: number): boolean {
  return (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || (code >= 48 && code <= 57) || code === 43 || code === 47 || code === 95 || code === 45 || code === 61;
}

function isHexRunUnit(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 97 && code <= 102) || code === 120 || code === 92 || code === 37 || code === 58 || code === 44 || code === 32;
}

/** Returns false when the budget is spent. */
function decodeBase64Run(candidate: string, budget: Budget, pieces: DecodedPiece[]): boolean {
  const run = candidate.replace(/=+$/, "");
  // Words, paths and identifiers are runs of this alphabet too: real base64 mixes cases.
  if (run.length < MIN_RUN || run.length % 4 === 1 || !/[A-Z]/.test(run) || !/[a-z]/.test(run)) return true;
  if (!budget.take(run.length)) return false;
  const decoded = Buffer.from(run, "base64").toString("utf8");
  if (isMostlyPrintable(decoded)) pieces.push({ decoder: "base64", text: prepareView(decoded) });
  return true;
}

/** Returns false when the budget is spent. */
function decodeHexRun(candidate: string, budget: Budget, pieces: DecodedPiece[]): boolean {
  HEX_RUN.lastIndex = 0;
  for (let match = HEX_RUN.exec(candidate); match; match = HEX_RUN.exec(candidate)) {
    const digits = match[0].replace(/\\x|0x|%|[ ,:]/g, "");
    if (!budget.take(digits.length)) return false;
    const decoded = Buffer.from(digits.length % 2 === 0 ? digits : digits.slice(0, -1), "hex").toString("utf8");
    if (isMostlyPrintable(decoded)) pieces.push({ decoder: "hex", text: prepareView(decoded) });
  }
  return true;
}

/** Decoded bytes that are text: letters, spaces, punctuation; and some spaces (a sentence, not a token). */
function isMostlyPrintable(decoded: string): boolean {
  if (decoded.length < 8) return false;
  let printable = 0;
  let spaces = 0;
  for (let i = 0; i < decoded.length; i++) {
    const code = decoded.charCodeAt(i);
    if (code === 32) spaces++;
    if ((code >= 32 && code < 127) || code === 10 || code === 9 || (code >= 0xa0 && code !== 0xfffd)) printable++;
  }
  return printable / decoded.length >= 0.9 && spaces > 0;
}

/** Merge windows around cue positions into disjoint [start, end) ranges. */
function windows(positions: readonly number[], length: number): Array<[number, number]> {
  const sorted = [...positions].sort((a, b) => a - b);
  const merged: Array<[number, number]> = [];
  for (const position of sorted) {
    const start = Math.max(0, position - WINDOW_BEFORE);
    const end = Math.min(length, position + WINDOW_AFTER);
    const last = merged[merged.length - 1];
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

export function rot13(text: string): string {
  return text.replace(/[a-z]/g, (c) => String.fromCharCode(((c.charCodeAt(0) - 97 + 13) % 26) + 97));
}

function reverse(text: string): string {
  return text.split("").reverse().join("");
}

/**
 * "i g n o r e   a l l" -> "ignore all". The separator used most often between
 * letters is taken as the in-word separator; any other gap is a word break.
 */
export function joinSpacedLetters(run: string): string {
  const letters: string[] = [];
  const gaps: string[] = [];
  let gap = "";
  for (const char of run) {
    if (/[\p{L}\p{N}]/u.test(char)) {
      if (letters.length > 0) gaps.push(gap);
      letters.push(char);
      gap = "";
    } else gap += char;
  }
  const counts = new Map<string, number>();
  for (const g of gaps) counts.set(g, (counts.get(g) ?? 0) + 1);
  let inWord = "";
  let best = -1;
  for (const [g, count] of counts) if (count > best) [inWord, best] = [g, count];
  let out = letters[0] ?? "";
  for (let i = 1; i < letters.length; i++) out += (gaps[i - 1] === inWord ? "" : " ") + letters[i]!;
  return out;
}
