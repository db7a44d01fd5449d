/**
 * Intake: turn whatever the caller handed us (a string, or raw bytes) into a
 * well-formed JavaScript string, counting what had to be repaired. Runs before
 * any layer, so layers only ever see valid UTF-16 text.
 */
import type { Intake } from "./types.js";

declare global {
  // ES2024 string methods, present in Node >= 20; declared here rather than raising `lib`,
  // which would also admit ES2024 APIs that Node 20 lacks.
  interface String {
    isWellFormed(): boolean;
    toWellFormed(): string;
  }
}

const fatalDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenientDecoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
const encoder = new TextEncoder();

export interface IntakeResult {
  readonly text: string;
  readonly intake: Intake;
}

export function takeIn(input: string | Uint8Array): IntakeResult {
  if (typeof input === "string") {
    if (input.isWellFormed()) return { text: input, intake: { bytes: utf8Length(input), invalidUtf8: 0, loneSurrogates: 0 } };
    const text = input.toWellFormed();
    return { text, intake: { bytes: utf8Length(text), invalidUtf8: 0, loneSurrogates: countLoneSurrogates(input) } };
  }
  try {
    return { text: fatalDecoder.decode(input), intake: { bytes: input.byteLength, invalidUtf8: 0, loneSurrogates: 0 } };
  } catch {
    const text = lenientDecoder.decode(input);
    return { text, intake: { bytes: input.byteLength, invalidUtf8: countReplacements(text) - countValidReplacements(input), loneSurrogates: 0 } };
  }
}

/** UTF-8 length without allocating the encoded bytes. */
export function utf8Length(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

function countLoneSurrogates(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
      else count++;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) count++;
  }
  return count;
}

function countReplacements(text: string): number {
  let count = 0;
  for (let i = text.indexOf("\ufffd"); i !== -1; i = text.indexOf("\ufffd", i + 1)) count++;
  return count;
}

/** U+FFFD characters that were genuinely in the input (encoded as EF BF BD), not produced by repair. */
function countValidReplacements(bytes: Uint8Array): number {
  const needle = encoder.encode("\ufffd");
  let count = 0;
  for (let i = bytes.indexOf(needle[0]!); i !== -1 && i + 2 < bytes.length; i = bytes.indexOf(needle[0]!, i + 1)) {
    if (bytes[i + 1] === needle[1] && bytes[i + 2] === needle[2]) count++;
  }
  return count;
}
