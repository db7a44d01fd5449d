/**
 * Prompt fingerprints for near-duplicate detection: a one-permutation MinHash
 * (Li, Owen and Zhang, 2012) over case-folded character 5-grams. Each 5-gram is
 * hashed once; the top bits pick one of SIGNATURE_BINS bins and the bin keeps
 * the smallest remaining value. Two prompts' estimated Jaccard similarity is the
 * share of equal bins among those not empty in both.
 *
 * Character n-grams (rather than word n-grams) keep short template prompts
 * similar when one slot changes ("capital of France" / "capital of Spain"). The
 * fingerprint is written into a caller's array: nothing is allocated per prompt.
 */

export const SIGNATURE_BINS = 32;
/** Bin value meaning "no 5-gram fell in this bin". */
export const EMPTY_BIN = 0xffff;
/** Only the first characters of a prompt are fingerprinted (a probe's template and slot sit well inside them). */
export const FINGERPRINT_CHARS = 2048;
const SHINGLE = 5;

/**
 * Writes the fingerprint of `text` into `out` at `offset` (SIGNATURE_BINS 16-bit values) and
 * returns a 32-bit hash of the whole normalised text (equal for exact repeats).
 */
export function fingerprint(text: string, out: Uint16Array, offset = 0): number {
  out.fill(EMPTY_BIN, offset, offset + SIGNATURE_BINS);
  const end = Math.min(text.length, FINGERPRINT_CHARS);
  // A rolling polynomial hash of the last five normalised characters (mod 2^32), and the window's
  // characters to take the oldest one out again.
  let c0 = 0;
  let c1 = 0;
  let c2 = 0;
  let c3 = 0;
  let c4 = 0;
  let roll = 0;
  let seen = 0;
  let whole = 0x811c9dc5;
  let previousSpace = true;
  for (let i = 0; i < end; i++) {
    let code = text.charCodeAt(i);
    if (code <= 32 || code === 0xa0) {
      if (previousSpace) continue;
      previousSpace = true;
      code = 32;
    } else {
      previousSpace = false;
      if (code >= 65 && code <= 90) code |= 32;
    }
    whole = Math.imul(whole ^ code, 0x01000193);
    // roll = roll * B + code - c0 * B^5 (the character leaving the window), B = 0x01000193.
    roll = (Math.imul(roll, ROLL_BASE) + code - Math.imul(c0, ROLL_BASE_5)) | 0;
    c0 = c1;
    c1 = c2;
    c2 = c3;
    c3 = c4;
    c4 = code;
    if (++seen < SHINGLE) continue;
    // Finaliser: spreads the bits so that the bin (top 5) and the value (low 16) are independent.
    let h = roll ^ (roll >>> 15);
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
    h = Math.imul(h, 0x297a2d39);
    h ^= h >>> 15;
    const bin = offset + (h >>> 27);
    const value = h & 0xfffe; // never EMPTY_BIN
    if (value < out[bin]!) out[bin] = value;
  }
  if (seen > 0 && seen < SHINGLE) {
    // A prompt shorter than one 5-gram: its whole hash stands in as the only 5-gram.
    out[offset + (whole >>> 27)] = whole & 0xfffe;
  }
  return whole >>> 0;
}

const ROLL_BASE = 0x01000193;
/** ROLL_BASE^5 mod 2^32: the weight of the character leaving the five-character window. */
const ROLL_BASE_5 = Math.imul(Math.imul(Math.imul(Math.imul(ROLL_BASE, ROLL_BASE), ROLL_BASE), ROLL_BASE), ROLL_BASE);

/** Estimated Jaccard similarity of the fingerprints at `a` (in `left`) and `b` (in `right`): 0..1. */
export function similarity(left: Uint16Array, a: number, right: Uint16Array, b: number): number {
  let equal = 0;
  let compared = 0;
  for (let i = 0; i < SIGNATURE_BINS; i++) {
    const x = left[a + i]!;
    const y = right[b + i]!;
    if (x === EMPTY_BIN && y === EMPTY_BIN) continue;
    compared++;
    if (x === y) equal++;
  }
  return compared === 0 ? 0 : equal / compared;
}

/**
 * Whether the fingerprints' estimated similarity reaches `threshold`, stopping as soon as the
 * answer is certain (most pairs of unrelated prompts are settled after about half the bins).
 */
export function similarAtLeast(left: Uint16Array, a: number, right: Uint16Array, b: number, threshold: number): boolean {
  let equal = 0;
  let compared = 0;
  let emptyBoth = 0;
  for (let i = 0; i < SIGNATURE_BINS; i++) {
    const x = left[a + i]!;
    const y = right[b + i]!;
    if (x === y) {
      if (x === EMPTY_BIN) emptyBoth++;
      else equal++;
    }
    compared = i + 1 - emptyBoth;
    // Even if every remaining bin were equal, the share could not reach the threshold.
    if (equal + (SIGNATURE_BINS - i - 1) < threshold * (compared + SIGNATURE_BINS - i - 1)) return false;
  }
  return compared > 0 && equal >= threshold * compared;
}
