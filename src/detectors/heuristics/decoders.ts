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

const BASE64_RUN = /[A-Za-z0-9+/_-]{16,}={0,2}/g;
const HEX_RUN = /(?:\\x|0x|%)?[0-9a-f]{2}(?:[ ,:]?(?:\\x|0x|%)?[0-9a-f]{2}){7,}/g;
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
export function decodePieces(text: string, view: string, shapes: Shapes): DecodedPiece[] {
  const budget = new Budget();
  const pieces: DecodedPiece[] = [];
  if (shapes.longWord) decodeBase64Runs(text, budget, pieces);
  if (shapes.longWord || shapes.hexWords >= 8) decodeHexRuns(view, budget, pieces);
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

function decodeBase64Runs(text: string, budget: Budget, pieces: DecodedPiece[]): void {
  BASE64_RUN.lastIndex = 0;
  for (let match = BASE64_RUN.exec(text); match; match = BASE64_RUN.exec(text)) {
    const run = match[0].slice(0, MAX_RUN).replace(/=+$/, "");
    // Words, paths and identifiers are runs of this alphabet too: real base64 mixes cases or digits.
    if (run.length % 4 === 1 || !/[A-Z]/.test(run) || !/[a-z]/.test(run)) continue;
    if (!budget.take(run.length)) return;
    const decoded = Buffer.from(run, "base64").toString("utf8");
    if (isMostlyPrintable(decoded)) pieces.push({ decoder: "base64", text: prepareView(decoded) });
  }
}

function decodeHexRuns(view: string, budget: Budget, pieces: DecodedPiece[]): void {
  HEX_RUN.lastIndex = 0;
  for (let match = HEX_RUN.exec(view); match; match = HEX_RUN.exec(view)) {
    const digits = match[0].slice(0, MAX_RUN).replace(/\\x|0x|%|[ ,:]/g, "");
    if (!budget.take(digits.length)) return;
    const decoded = Buffer.from(digits.length % 2 === 0 ? digits : digits.slice(0, -1), "hex").toString("utf8");
    if (isMostlyPrintable(decoded)) pieces.push({ decoder: "hex", text: prepareView(decoded) });
  }
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
