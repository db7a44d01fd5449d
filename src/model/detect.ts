/**
 * Scoring one input the way the layer does: the folded text window by window,
 * plus the string values of JSON tool output and decoded base64/hex payloads,
 * each scored on its own; the highest wins. Then calibration turns the raw
 * log-odds into the policy's 0..1 scale for the message's role.
 */
import type { CalibrationPoint, Classifier, Domain } from "./model.js";
import { foldText } from "./text.js";

export type Via = "text" | "json" | "decoded";

export interface Detection {
  readonly raw: number;
  readonly via: Via;
  /** Window in the folded text (for `text`), else the whole input. */
  readonly start: number;
  readonly end: number;
  readonly concepts: number;
}

const MAX_JSON_CHARS = 256 * 1024;
const MAX_DECODED = 8;
/**
 * Characters of one encoded run that are decoded and scored (a multiple of 4 and of 2). A megabyte of
 * base64 would otherwise be decoded and scored a second time in full; an instruction encoded in it is
 * judged on its first 48 KB of decoded text, and the heuristics layer decodes on its own.
 */
const MAX_PAYLOAD_CHARS = 64 * 1024;

const MAX_JSON_STRINGS = 10_000;

/**
 * The text a JSON document is judged by: its string values (and long keys), one per line, so that
 * braces, quotes, escapes and field names do not count as evidence either way. Null when the text is
 * not JSON (or is too large to parse); `complete` is false when the string list was cut short.
 */
export function jsonView(text: string): { readonly text: string; readonly complete: boolean } | null {
  const trimmed = text.trimStart();
  if (!(trimmed.startsWith("{") || trimmed.startsWith("[")) || text.length > MAX_JSON_CHARS) return null;
  const strings = jsonStrings(text);
  if (strings === null || strings.length === 0) return null;
  return { text: strings.join("\n"), complete: strings.length < MAX_JSON_STRINGS };
}

export function detect(classifier: Classifier, folded: string, original: string, domain: Domain): Detection {
  const json = jsonView(original);
  let best: Detection | null = null;
  // JSON is scored on its string values only; the raw text too when the values could not all be read.
  if (json === null || !json.complete) {
    const main = classifier.scoreFolded(folded, domain);
    best = { raw: main.raw, via: "text", start: main.start, end: main.end, concepts: main.concepts };
  }
  if (json !== null) {
    const scored = classifier.scoreFolded(foldText(json.text), domain);
    if (best === null || scored.raw > best.raw) best = { raw: scored.raw, via: "json", start: 0, end: folded.length, concepts: scored.concepts };
  }
  let result: Detection = best!;
  for (const decoded of decodedPayloads(original)) {
    const scored = classifier.scoreFolded(foldText(decoded), domain);
    if (scored.raw > result.raw) result = { raw: scored.raw, via: "decoded", start: 0, end: folded.length, concepts: scored.concepts };
  }
  return result;
}

/** String values (and long keys) of a JSON document, or null when it is not JSON. */
export function jsonStrings(text: string): string[] | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const out: string[] = [];
  const stack: unknown[] = [value];
  while (stack.length > 0 && out.length < MAX_JSON_STRINGS) {
    const item = stack.pop();
    if (typeof item === "string") {
      if (item.trim().length > 0) out.push(item);
    } else if (Array.isArray(item)) {
      for (let i = item.length - 1; i >= 0; i--) stack.push(item[i]);
    } else if (item !== null && typeof item === "object") {
      const entries = Object.entries(item as Record<string, unknown>);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i]!;
        if (key.length >= 24) out.push(key);
        stack.push(child);
      }
    }
  }
  return out;
}

/** Shortest run of the base64 alphabet worth decoding: shorter runs decode to nothing (a hex payload needs 32). */
const MIN_RUN = 24;
const ALPHABET = new Uint8Array(128);
for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-") ALPHABET[ch.charCodeAt(0)] = 1;

function inAlphabet(code: number): boolean {
  return code < 128 && ALPHABET[code] === 1;
}

/** Base64 and hex runs that decode to readable text. */
export function decodedPayloads(text: string): string[] {
  const out: string[] = [];
  const n = text.length;
  // Maximal runs of the alphabet at least MIN_RUN long, found by looking back from MIN_RUN - 1 characters
  // ahead for the last character outside the alphabet: no such run starts before it, so ordinary text is
  // skipped nearly a run's length at a time after a look at the end of one word (a tenth of what an anchored
  // regex took; fewer characters looked at, and fewer mispredicted branches, than probing one character and
  // then walking its whole word both ways).
  // Invariant: `start` is 0 or follows a character outside the alphabet.
  let start = 0;
  while (start + MIN_RUN <= n && out.length < MAX_DECODED) {
    let last = start + MIN_RUN - 1;
    while (last >= start && inAlphabet(text.charCodeAt(last))) last--;
    if (last >= start) {
      start = last + 1;
      continue;
    }
    // text[start, start + MIN_RUN) is all in the alphabet: the run starts at `start`.
    let end = start + MIN_RUN;
    while (end < n && inAlphabet(text.charCodeAt(end))) end++;
    scanRun(text, start, end, out);
    start = end + 1;
  }
  return out;
}

/** The payloads in the run text[from, to) (`to` is the end of the text or a character outside the alphabet). */
function scanRun(text: string, from: number, to: number, out: string[]): void {
  let runStart = from;
  let hexStart = from;
  let hasLetters = 0;
  const flush = (end: number): void => {
    if (out.length >= MAX_DECODED) return;
    const length = end - runStart;
    if (length >= 24 && hasLetters === 3) {
      let run = text.slice(runStart, Math.min(end, runStart + MAX_PAYLOAD_CHARS));
      while (run.length === length && end < text.length && text.charCodeAt(end) === 0x3d && run.length % 4 !== 0) {
        run += "=";
        end++;
      }
      const decoded = readable(Buffer.from(run.replace(/-/g, "+").replace(/_/g, "/"), "base64"));
      if (decoded !== null) {
        out.push(decoded);
        return;
      }
    }
    const hexLength = end - hexStart;
    if (hexLength >= 32) {
      const decoded = readable(Buffer.from(text.slice(hexStart, hexStart + Math.min(hexLength & ~1, MAX_PAYLOAD_CHARS)), "hex"));
      if (decoded !== null) out.push(decoded);
    }
  };
  for (let i = from; i <= to; i++) {
    const code = i < to ? text.charCodeAt(i) : 0x20;
    const lower = code >= 0x61 && code <= 0x7a;
    const upper = code >= 0x41 && code <= 0x5a;
    const digit = code >= 0x30 && code <= 0x39;
    const inRun = inAlphabet(code);
    const hex = digit || (code >= 0x61 && code <= 0x66) || (code >= 0x41 && code <= 0x46);
    if (!inRun) {
      if (i - runStart >= 24) flush(i);
      runStart = i + 1;
      hexStart = i + 1;
      hasLetters = 0;
      continue;
    }
    if (!hex) {
      if (i - hexStart >= 32 && i - runStart < 24) {
        const saved = runStart;
        runStart = i;
        flush(i);
        runStart = saved;
      }
      hexStart = i + 1;
    }
    if (lower) hasLetters |= 1;
    if (upper) hasLetters |= 2;
  }
}

/** Decodes whole inputs only (no `stream`), so one instance serves every call. */
const UTF8 = new TextDecoder("utf-8", { fatal: false });

function readable(bytes: Uint8Array): string | null {
  if (bytes.length < 12) return null;
  const text = UTF8.decode(bytes);
  let good = 0;
  let letters = 0;
  let spaces = 0;
  let total = 0;
  for (const ch of text) {
    total++;
    const code = ch.codePointAt(0)!;
    if (code === 0xfffd || (code < 0x20 && code !== 0x0a && code !== 0x0d && code !== 0x09)) continue;
    good++;
    if (code < 0x80 ? (code | 0x20) >= 0x61 && (code | 0x20) <= 0x7a : /\p{L}/u.test(ch)) letters++;
    if (code === 0x20) spaces++;
  }
  return good / total >= 0.95 && letters / total >= 0.5 && spaces >= 2 ? text : null;
}

export interface OperatingPoint {
  /** Target false-positive rate at which the score reaches the block threshold. */
  readonly blockFpr: number;
  /** Target false-positive rate at which the score reaches the flag threshold. */
  readonly flagFpr: number;
}

/** Raw score reached by a fraction `fpr` of benign calibration inputs (linear between stored points). */
export function rawAtFpr(points: readonly CalibrationPoint[], fpr: number): number {
  const sorted = [...points].sort((a, b) => a.fpr - b.fpr);
  if (sorted.length === 0) return 0;
  if (fpr <= sorted[0]!.fpr) return sorted[0]!.raw;
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    if (fpr <= b.fpr) {
      const t = (Math.log(fpr) - Math.log(a.fpr)) / (Math.log(b.fpr) - Math.log(a.fpr));
      return a.raw + t * (b.raw - a.raw);
    }
  }
  return sorted[sorted.length - 1]!.raw;
}

/**
 * Map a raw score onto the policy scale so that the raw score at the target
 * block FPR lands exactly on the block threshold and the one at the flag FPR on
 * the flag threshold; monotonic and continuous everywhere.
 */
export function calibrate(raw: number, points: readonly CalibrationPoint[], operating: OperatingPoint, thresholds: { flag: number; block: number }): number {
  return calibrateAt(raw, rawOperatingPoint(points, operating), thresholds);
}

/** The raw scores at an operating point's block and flag FPRs (the flag one strictly below). */
export interface RawOperatingPoint {
  readonly rawBlock: number;
  readonly rawFlag: number;
}

export function rawOperatingPoint(points: readonly CalibrationPoint[], operating: OperatingPoint): RawOperatingPoint {
  const rawBlock = rawAtFpr(points, operating.blockFpr);
  return { rawBlock, rawFlag: Math.min(rawBlock - 1e-6, rawAtFpr(points, operating.flagFpr)) };
}

/** `calibrate` with the operating point's raw scores worked out beforehand (they depend only on the policy). */
export function calibrateAt(raw: number, { rawBlock, rawFlag }: RawOperatingPoint, thresholds: { flag: number; block: number }): number {
  const { flag, block } = thresholds;
  const softness = 1.5;
  let score: number;
  if (raw >= rawBlock) score = block + (1 - block) * (1 - Math.exp(-(raw - rawBlock) / softness));
  else if (raw >= rawFlag) score = flag + ((block - flag) * (raw - rawFlag)) / (rawBlock - rawFlag);
  else score = flag * Math.exp((raw - rawFlag) / softness);
  return Math.min(1, Math.max(0, score));
}
