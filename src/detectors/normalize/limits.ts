/**
 * Size limits, checked before anything else so an oversized input costs next to
 * nothing: bytes come from the engine's intake, code points are counted only when
 * the UTF-16 length could exceed the limit, and tokens only when the byte size
 * could (a token is at least one UTF-8 byte).
 *
 * The tokenizer (gpt-tokenizer) takes a few hundred milliseconds to load, so it is
 * imported on first need and cached; `preloadTokenizer` lets a long-running host
 * load it ahead of the first large request.
 */
import type { Finding, Intake } from "../../guard/types.js";
import type { Policy } from "../../policy/schema.js";

type Limits = Policy["limits"];
type TokenizerName = Limits["tokenizer"];
type WithinLimit = (text: string, limit: number, options: { disallowedSpecial: Set<string> }) => false | number;

const loaded = new Map<TokenizerName, WithinLimit>();
const loading = new Map<TokenizerName, Promise<WithinLimit>>();

export function preloadTokenizer(name: TokenizerName): Promise<WithinLimit> {
  let promise = loading.get(name);
  if (promise === undefined) {
    const encoding = name === "o200k_base" ? import("gpt-tokenizer/encoding/o200k_base") : import("gpt-tokenizer/encoding/cl100k_base");
    promise = encoding.then(
      (module) => {
        loaded.set(name, module.isWithinTokenLimit);
        return module.isWithinTokenLimit;
      },
      (error: unknown) => {
        loading.delete(name);
        throw error;
      },
    );
    loading.set(name, promise);
  }
  return promise;
}

export function loadedTokenizer(name: TokenizerName): WithinLimit | undefined {
  return loaded.get(name);
}

function oversize(limit: string, evidence: string): Finding {
  return { detector: "normalize", category: "oversize", ruleId: limit, score: 1, evidence };
}

/** Byte and code point limits. */
export function checkSize(text: string, intake: Intake, limits: Limits): Finding | null {
  // UTF-8 is never shorter than UTF-16 in units; trust the intake unless it is impossible.
  const bytes = intake.bytes >= text.length ? intake.bytes : Buffer.byteLength(text, "utf8");
  if (bytes > limits.maxBytes) {
    return oversize("maxBytes", `input is ${bytes} bytes (UTF-8); the limit maxBytes is ${limits.maxBytes}`);
  }
  if (text.length > limits.maxChars) {
    let codePoints = text.length;
    for (let i = 0; i < text.length; i++) {
      const unit = text.charCodeAt(i);
      if (unit >= 0xd800 && unit <= 0xdbff) {
        const next = text.charCodeAt(i + 1);
        if (next >= 0xdc00 && next <= 0xdfff) {
          codePoints--;
          i++;
        }
      }
    }
    if (codePoints > limits.maxChars) {
      return oversize("maxChars", `input is ${codePoints} characters (code points); the limit maxChars is ${limits.maxChars}`);
    }
  }
  return null;
}

export function needsTokenCount(text: string, intake: Intake, limits: Limits): boolean {
  return Math.max(intake.bytes, text.length) > limits.maxTokens;
}

/**
 * BPE merging is quadratic in the length of one pre-token, so a long run without
 * spaces (250 KB of "x", a page of CJK) would take seconds in one piece. The text
 * is counted in pieces cut at single spaces between words, where the tokenizer's
 * own pre-tokenizer splits too, and forcibly after PIECE_LIMIT units without one;
 * a forced cut can add about one token, so the count errs on the high side.
 */
const PIECE_LIMIT = 64;
const CHUNK_LIMIT = 4096;
const NO_SPECIAL = { disallowedSpecial: new Set<string>() };

function isSpace(unit: number): boolean {
  return unit === 0x20 || (unit >= 0x09 && unit <= 0x0d);
}

/** Token count if within `limit`, else false. */
export function countTokensWithin(withinLimit: WithinLimit, text: string, limit: number): number | false {
  let total = 0;
  let chunkStart = 0;
  let pieceStart = 0;
  let lastSafeCut = -1;
  const length = text.length;
  const count = (end: number): boolean => {
    if (end <= chunkStart) return true;
    const within = withinLimit(text.slice(chunkStart, end), limit - total, NO_SPECIAL);
    chunkStart = end;
    if (within === false) return false;
    total += within;
    return true;
  };
  for (let k = 1; k < length; k++) {
    const unit = text.charCodeAt(k);
    if (unit === 0x20 && !isSpace(text.charCodeAt(k - 1)) && k + 1 < length && !isSpace(text.charCodeAt(k + 1))) {
      lastSafeCut = k;
      pieceStart = k;
    } else if (k - pieceStart >= PIECE_LIMIT && !(unit >= 0xdc00 && unit <= 0xdfff)) {
      if (!count(k)) return false;
      pieceStart = k;
      lastSafeCut = -1;
      continue;
    }
    if (k - chunkStart >= CHUNK_LIMIT && lastSafeCut > chunkStart) {
      if (!count(lastSafeCut)) return false;
      lastSafeCut = -1;
    }
  }
  if (!count(length)) return false;
  return total;
}

export function checkTokens(withinLimit: WithinLimit, text: string, limits: Limits): Finding | null {
  const tokens = countTokensWithin(withinLimit, text, limits.maxTokens);
  if (tokens !== false) return null;
  return oversize("maxTokens", `input is over ${limits.maxTokens} tokens (${limits.tokenizer}; counting stops at the limit); the limit maxTokens is ${limits.maxTokens}`);
}
