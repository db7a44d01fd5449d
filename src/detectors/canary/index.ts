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

interface View {
  readonly text: string;
  /** For each index of `text`, the span in the layer's input it came from. */
  readonly spanOf: (start: number, end: number) => Span | undefined;
  readonly how: string;
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
        const secret = randomPart(token);
        if (secret.length < minimum) continue;
        const hit = findLeak(secret, views, minimum);
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
    const secret = randomPart(token);
    return secret.length >= minimum && findLeak(secret, views, minimum) !== null;
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

function findLeak(secret: string, views: readonly View[], minimum: number): { length: number; span: Span | undefined; how: string } | null {
  const block = Math.max(1, Math.floor((minimum + 1) / 2));
  const reversed = [...secret].reverse().join("");
  const needles = [
    [secret, ""],
    [reversed, ", reversed"],
    [rot13(secret), ", rot13"],
    [rot13(reversed), ", rot13 and reversed"],
  ] as const;
  let best: { length: number; span: Span | undefined; how: string } | null = null;
  for (const view of views) {
    for (const [needle, variant] of needles) {
      const how = view.how + variant;
      for (let offset = 0; offset + block <= needle.length; offset += block) {
        const piece = needle.slice(offset, offset + block);
        let at = view.text.indexOf(piece);
        while (at !== -1) {
          // Extend the hit both ways along the needle.
          let left = 0;
          while (offset - left > 0 && at - left > 0 && view.text[at - left - 1] === needle[offset - left - 1]) left++;
          let right = block;
          while (offset + right < needle.length && at + right < view.text.length && view.text[at + right] === needle[offset + right]) right++;
          const length = left + right;
          if (length >= minimum && (!best || length > best.length)) {
            best = { length, span: view.spanOf(at - left, at + right), how };
            if (length >= secret.length) return best;
          }
          at = view.text.indexOf(piece, at + 1);
        }
      }
    }
  }
  return best;
}

/** The readings of the text a canary might hide in (rot13 and reversal are applied to the needle instead). */
function buildViews(text: string): View[] {
  // One pass: the compact view (letters and digits only, lower-cased: undoes spacing, punctuation,
  // line breaks, invisible characters and case), where each compact character came from, and the
  // runs of base64 characters worth decoding.
  const length = text.length;
  const compactCodes = new Uint8Array(length);
  const positions = new Int32Array(length);
  const base64Runs: number[] = [];
  let size = 0;
  let runStart = -1;
  for (let i = 0; i <= length; i++) {
    const code = i < length ? text.charCodeAt(i) : -1;
    const digit = code >= 48 && code <= 57;
    const upper = code >= 65 && code <= 90;
    const lower = code >= 97 && code <= 122;
    if (digit || upper || lower) {
      compactCodes[size] = upper ? code + 32 : code;
      positions[size++] = i;
    }
    if (digit || upper || lower || code === 43 || code === 47 || code === 95 || code === 45) {
      if (runStart < 0) runStart = i;
    } else if (runStart >= 0) {
      if (i - runStart >= 16) base64Runs.push(runStart, i);
      runStart = -1;
    }
  }
  const compact = Buffer.from(compactCodes.buffer, 0, size).toString("latin1");
  const compactSpan = (start: number, end: number): Span | undefined => (end > start ? { start: positions[start]!, end: positions[end - 1]! + 1 } : undefined);
  const views: View[] = [{ text: compact, spanOf: compactSpan, how: "in the text" }];

  let budget = DECODE_BUDGET;
  // Hex (also what URL-encoding and \x escapes leave once compacted): runs in the compact view, both alignments.
  let hexStart = -1;
  for (let i = 0; i <= size && budget > 0; i++) {
    const code = i < size ? compactCodes[i]! : -1;
    if ((code >= 48 && code <= 57) || (code >= 97 && code <= 102)) {
      if (hexStart < 0) hexStart = i;
      continue;
    }
    if (hexStart >= 0 && i - hexStart >= 16) {
      const run = compact.slice(hexStart, i);
      const span = compactSpan(hexStart, i);
      for (const shift of [0, 1]) {
        const decoded = compactAscii(Buffer.from(run.slice(shift, shift + ((run.length - shift) & ~1)), "hex").toString("latin1"));
        budget -= decoded.length;
        views.push({ text: decoded, spanOf: () => span, how: "hex-encoded" });
      }
    }
    hexStart = -1;
  }
  // Base64 / base64url, on the original text because base64 is case-sensitive.
  for (let r = 0; r < base64Runs.length && budget > 0; r += 2) {
    const start = base64Runs[r]!;
    const end = base64Runs[r + 1]!;
    const decoded = compactAscii(Buffer.from(text.slice(start, end), "base64").toString("latin1"));
    budget -= decoded.length;
    views.push({ text: decoded, spanOf: () => ({ start, end: Math.min(length, end + (text[end] === "=" ? (text[end + 1] === "=" ? 2 : 1) : 0)) }), how: "base64-encoded" });
  }
  // Partly URL-encoded text (%2D between plain characters).
  if (text.includes("%")) {
    const decoded = text.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    views.push({ text: compactAscii(decoded), spanOf: () => undefined, how: "URL-encoded" });
  }
  return views;
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
