/**
 * detectors/canary: canary tokens planted in a conversation's system prompt
 * (GuardSession.protectSystemPrompt) coming back out, plainly or disguised:
 * spaced out, case-changed, reversed, rot13, base64, hex or URL-encoded, or
 * only in part.
 *
 * Matching works on the token's random part only. Any leaked run of at least
 * `minPartialLength` characters fully contains one of the aligned blocks of
 * half that length, so the layer searches for those few blocks and extends
 * each hit; that keeps it to a handful of indexOf calls per view.
 *
 * May import: src/policy (types), src/guard/types, src/guard/session (constants), ./.
 */
import type { Finding, GuardSession, Layer, LayerInput, LayerOutput, Span } from "../../guard/types.js";
import type { CanaryOptions, Policy } from "../../policy/schema.js";
import { CANARY_PREFIX } from "../../guard/session.js";

export const CANARY_VERSION = "1.0.0";

export interface CanaryBinding {
  /** Used when the check carries no session. */
  readonly session?: GuardSession;
  /** Fixed canaries (for applications with one static system prompt). */
  readonly canaries?: readonly string[];
}

/**
 * How a view's indices map back to the layer's input: `compact`, each index is
 * one letter or digit of the input; `compact-run`, decoded from hex, the whole
 * run start .. end of the compact view; `input-run`, decoded from base64, the
 * run start .. end of the input (plus its padding); `none`, no span (URL-decoded).
 */
type Origin = "compact" | "compact-run" | "input-run" | "none";

interface View {
  readonly text: string;
  readonly origin: Origin;
  readonly start: number;
  readonly end: number;
  readonly how: string;
}

/** The views of one text, and where the compact view's characters came from (worked out when a hit needs a span). */
interface Views {
  readonly text: string;
  readonly list: readonly View[];
  positions: Int32Array | null;
  readonly compactSize: number;
}

/** Decoded text examined per check, so an output full of base64 cannot make the layer slow. */
const DECODE_BUDGET = 64 * 1024;

export function createCanaryLayer(options: CanaryOptions, binding: CanaryBinding = {}): Layer {
  const minimum = options.minPartialLength;
  return {
    name: "canary",
    version: CANARY_VERSION,
    stage: "both",
    phase: "detect",
    budgetMs: options.budgetMs,
    ...(options.failureMode ? { failureMode: options.failureMode } : {}),
    check(input: LayerInput): LayerOutput {
      // The system prompt carries the canary by design.
      if (input.role === "system") return { findings: [] };
      const tokens = [...(input.session ?? binding.session)?.canaries ?? [], ...(binding.canaries ?? [])];
      if (tokens.length === 0 || input.text.length === 0) return { findings: [] };
      const views = buildViews(input.text);
      const findings: Finding[] = [];
      for (const token of tokens) {
        const needles = needlesFor(token, minimum);
        const secret = needles.secret;
        if (secret.length < minimum) continue;
        const hit = findLeak(needles, views);
        if (!hit) continue;
        const complete = hit.length >= secret.length;
        findings.push({
          detector: "canary",
          category: "canary_leak",
          score: complete ? 0.97 : 0.9,
          ruleId: complete ? "canary.full" : "canary.partial",
          ...(hit.span ? { span: hit.span } : {}),
          evidence: `${complete ? "canary token" : `${hit.length} of ${secret.length} characters of a canary token`} found ${hit.how}`,
          replacement: "[REDACTED:canary]",
        });
      }
      return { findings };
    },
  };
}

/** Whether text carries any of the canaries (plainly, encoded or in part); for other layers, e.g. URLs in exfiltration. */
export function containsCanary(text: string, canaries: readonly string[], minimum = 10): boolean {
  if (canaries.length === 0 || text.length === 0) return false;
  const views = buildViews(text);
  return canaries.some((token) => {
    const needles = needlesFor(token, minimum);
    return needles.secret.length >= minimum && findLeak(needles, views) !== null;
  });
}

export function canaryLayerFromPolicy(policy: Policy): Layer | null {
  return policy.layers.canary.enabled ? createCanaryLayer(policy.layers.canary) : null;
}

/** The part of a canary worth matching: the random characters after the `bwc-` prefix, lower-cased. */
function randomPart(token: string): string {
  const lower = token.toLowerCase().replace(/[^a-z0-9]/g, "");
  return lower.startsWith(CANARY_PREFIX) ? lower.slice(CANARY_PREFIX.length) : lower;
}

/** A canary's random part as searched: four readings (plain, reversed, rot13, both), cut into blocks. */
interface Needles {
  /** randomPart of the token. */
  readonly secret: string;
  readonly needles: readonly string[];
  /** pieces[n][k]: needle n from k * block, block characters. */
  readonly pieces: readonly (readonly string[])[];
  readonly variants: readonly string[];
  /** Any piece of any reading: one search rules out a view with no hit at all (most views). */
  readonly anyPiece: RegExp | null;
  readonly block: number;
  /** Shortest run that counts. */
  readonly minimum: number;
}

const VARIANTS = ["", ", reversed", ", rot13", ", rot13 and reversed"] as const;
/** Needles per minimum and canary token: a session's canaries are searched in every check. */
const needleCache = new Map<number, Map<string, Needles>>();
const NEEDLE_CACHE_LIMIT = 1024;

function needlesFor(token: string, minimum: number): Needles {
  let cache = needleCache.get(minimum);
  if (cache === undefined) {
    cache = new Map();
    needleCache.set(minimum, cache);
  }
  let needles = cache.get(token);
  if (needles === undefined) {
    const secret = randomPart(token);
    const reversed = [...secret].reverse().join("");
    const block = Math.max(1, Math.floor((minimum + 1) / 2));
    const readings = [secret, reversed, rot13(secret), rot13(reversed)];
    const pieces = readings.map((needle) => {
      const cut: string[] = [];
      for (let offset = 0; offset + block <= needle.length; offset += block) cut.push(needle.slice(offset, offset + block));
      return cut;
    });
    const all = [...new Set(pieces.flat())];
    const anyPiece = all.length > 0 ? new RegExp(all.map((piece) => piece.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&")).join("|")) : null;
    needles = { secret, needles: readings, pieces, variants: VARIANTS, anyPiece, block, minimum };
    if (cache.size >= NEEDLE_CACHE_LIMIT) cache.clear();
    cache.set(token, needles);
  }
  return needles;
}

function findLeak({ secret, needles, pieces, variants, anyPiece, block, minimum }: Needles, views: Views): { length: number; span: Span | undefined; how: string } | null {
  if (anyPiece === null) return null;
  let best: { length: number; span: Span | undefined; how: string } | null = null;
  for (const view of views.list) {
    const text = view.text;
    if (text.length < block || !anyPiece.test(text)) continue;
    for (let n = 0; n < needles.length; n++) {
      const needle = needles[n]!;
      const cut = pieces[n]!;
      for (let k = 0; k < cut.length; k++) {
        const offset = k * block;
        const piece = cut[k]!;
        let at = text.indexOf(piece);
        while (at !== -1) {
          // Extend the hit both ways along the needle.
          let left = 0;
          while (offset - left > 0 && at - left > 0 && text[at - left - 1] === needle[offset - left - 1]) left++;
          let right = block;
          while (offset + right < needle.length && at + right < text.length && text[at + right] === needle[offset + right]) right++;
          const length = left + right;
          if (length >= minimum && (!best || length > best.length)) {
            best = { length, span: spanOf(views, view, at - left, at + right), how: view.how + variants[n]! };
            if (length >= secret.length) return best;
          }
          at = text.indexOf(piece, at + 1);
        }
      }
    }
  }
  return best;
}

/** Where indices start .. end of a view came from in the layer's input. */
function spanOf(views: Views, view: View, start: number, end: number): Span | undefined {
  switch (view.origin) {
    case "compact":
      return compactSpan(views, start, end);
    case "compact-run":
      return compactSpan(views, view.start, view.end);
    case "input-run": {
      const text = views.text;
      const end = view.end;
      return { start: view.start, end: Math.min(text.length, end + (text[end] === "=" ? (text[end + 1] === "=" ? 2 : 1) : 0)) };
    }
    case "none":
      return undefined;
  }
}

function compactSpan(views: Views, start: number, end: number): Span | undefined {
  if (end <= start) return undefined;
  if (views.positions === null) {
    const text = views.text;
    const positions = new Int32Array(views.compactSize);
    let at = 0;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      if (code < 128 && (CHARACTER[code]! & LOWER_MASK) !== 0) positions[at++] = i;
    }
    views.positions = positions;
  }
  return { start: views.positions[start]!, end: views.positions[end - 1]! + 1 };
}

/** For each byte (ASCII code): its lower-case form when it is a letter or digit (LOWER_MASK bits), and BASE64_BIT when base64 or base64url may hold it. */
const CHARACTER = new Uint8Array(256);
const LOWER_MASK = 0x7f;
const BASE64_BIT = 0x80;
for (let code = 48; code <= 57; code++) CHARACTER[code] = code | BASE64_BIT;
for (let code = 97; code <= 122; code++) CHARACTER[code] = code | BASE64_BIT;
for (let code = 65; code <= 90; code++) CHARACTER[code] = (code + 32) | BASE64_BIT;
for (const code of [43, 47, 95, 45]) CHARACTER[code] = BASE64_BIT;
/** Scratch space for the text's characters and the compact view's (checks are synchronous, so one buffer of each serves them all). */
let codes = new Uint8Array(3 * 4096);
const KEPT_LENGTH = 64 * 1024;
let scratch = new Uint8Array(4096);
const encoder = new TextEncoder();

/** The state of the one pass over a text that builds the compact view and finds its hex and base64 runs. */
class CompactPass {
  /** Characters in the compact view so far. */
  size = 0;
  /** Lengths of the base64 run and of the hex run (in the compact view) ending here. */
  run = 0;
  hex = 0;
  /** Start and end pairs: hex runs in the compact view, base64 runs in the text; both of 16 or more. */
  hexRuns: number[] | null = null;
  base64Runs: number[] | null = null;

  constructor(private readonly out: Uint8Array) {}

  /** Character i of the text, as classified by CHARACTER (0 outside ASCII). */
  step(character: number, i: number): void {
    if (character >= BASE64_BIT) {
      this.run++;
      const lower = character & LOWER_MASK;
      if (lower !== 0) {
        this.out[this.size++] = lower;
        if (lower <= 102) this.hex++;
        else {
          if (this.hex >= 16) (this.hexRuns ??= []).push(this.size - 1 - this.hex, this.size - 1);
          this.hex = 0;
        }
      }
    } else {
      if (this.run >= 16) (this.base64Runs ??= []).push(i - this.run, i);
      this.run = 0;
    }
  }

  finish(length: number): void {
    if (this.run >= 16) (this.base64Runs ??= []).push(length - this.run, length);
    if (this.hex >= 16) (this.hexRuns ??= []).push(this.size - this.hex, this.size);
  }
}

/** The readings of the text a canary might hide in (rot13 and reversal are applied to the needle instead). */
function buildViews(text: string): Views {
  // One pass: the compact view (letters and digits only, lower-cased: undoes spacing, punctuation,
  // line breaks, invisible characters and case), its runs of hex digits, and the runs of base64
  // characters worth decoding.
  const length = text.length;
  if (length <= KEPT_LENGTH) {
    if (codes.length < 3 * length) codes = new Uint8Array(Math.max(3 * length, Math.min(3 * KEPT_LENGTH, codes.length * 2)));
    if (scratch.length < length) scratch = new Uint8Array(Math.max(length, Math.min(KEPT_LENGTH, scratch.length * 2)));
  }
  // Beyond the kept size, buffers for this text alone (not held on to after a rare long text).
  const textCodes = codes.length >= 3 * length ? codes : new Uint8Array(3 * length);
  const compactCodes = scratch.length >= length ? scratch : new Uint8Array(length);
  // ASCII text (the usual case) is its own UTF-8 encoding: read as bytes the encoder copied in, which
  // is far faster than charCodeAt; other text is read a character at a time (anything outside ASCII
  // is neither a letter, a digit nor base64).
  const pass = new CompactPass(compactCodes);
  if (encoder.encodeInto(text, textCodes).written === length) {
    const source = textCodes;
    for (let i = 0; i < length; i++) pass.step(CHARACTER[source[i]!]!, i);
  } else {
    for (let i = 0; i < length; i++) {
      const code = text.charCodeAt(i);
      pass.step(code < 128 ? CHARACTER[code]! : 0, i);
    }
  }
  pass.finish(length);
  const { size, hexRuns, base64Runs } = pass;
  const compact = Buffer.from(compactCodes.buffer, 0, size).toString("latin1");
  const list: View[] = [{ text: compact, origin: "compact", start: 0, end: 0, how: "in the text" }];

  let budget = DECODE_BUDGET;
  // Hex (also what URL-encoding and \x escapes leave once compacted): runs in the compact view, both alignments.
  if (hexRuns !== null) {
    for (let r = 0; r < hexRuns.length && budget > 0; r += 2) {
      const start = hexRuns[r]!;
      const end = hexRuns[r + 1]!;
      const run = compact.slice(start, end);
      for (let shift = 0; shift <= 1; shift++) {
        const decoded = compactAscii(Buffer.from(run.slice(shift, shift + ((run.length - shift) & ~1)), "hex").toString("latin1"));
        budget -= decoded.length;
        list.push({ text: decoded, origin: "compact-run", start, end, how: "hex-encoded" });
      }
    }
  }
  // Base64 / base64url, on the original text because base64 is case-sensitive.
  if (base64Runs !== null) {
    for (let r = 0; r < base64Runs.length && budget > 0; r += 2) {
      const start = base64Runs[r]!;
      const end = base64Runs[r + 1]!;
      const decoded = compactAscii(Buffer.from(text.slice(start, end), "base64").toString("latin1"));
      budget -= decoded.length;
      list.push({ text: decoded, origin: "input-run", start, end, how: "base64-encoded" });
    }
  }
  // Partly URL-encoded text (%2D between plain characters).
  if (text.includes("%")) {
    const decoded = text.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    list.push({ text: compactAscii(decoded), origin: "none", start: 0, end: 0, how: "URL-encoded" });
  }
  return { text, list, positions: null, compactSize: size };
}

function compactAscii(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]/g, "");
}

function rot13(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    out += code >= 97 && code <= 122 ? String.fromCharCode(((code - 97 + 13) % 26) + 97) : text[i];
  }
  return out;
}
