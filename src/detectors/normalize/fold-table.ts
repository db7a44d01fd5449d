/**
 * The folding table, decoded once from the generated fold-data.ts into flat typed
 * arrays so the scan does one array read per character and never allocates.
 *
 * A folding is stored as `offset << 5 | length` into a shared pool of UTF-16 units;
 * NO_FOLD marks a character that folds to itself. Length 0 means "drop".
 */
import {
  BMP_WORD_RANGES,
  FOLD_CODE_POINTS,
  FOLD_TARGETS,
  LOOKALIKE_CODE_POINTS,
  LOOKALIKE_TARGETS,
  STYLED_CODE_POINTS,
} from "./fold-data.js";

export const NO_FOLD = -1;
const LENGTH_BITS = 5;
const LENGTH_MASK = (1 << LENGTH_BITS) - 1;

/** Character class bits for BMP code points. */
export const WORD = 1;
export const STYLED = 2;

export interface FoldTable {
  /** UTF-16 units of every folding, back to back. */
  readonly pool: Uint16Array;
  /** Per BMP code point: packed compat folding or NO_FOLD. */
  readonly foldBmp: Int32Array;
  /** Per BMP code point: packed look-alike (ASCII) folding or NO_FOLD. */
  readonly lookalikeBmp: Int32Array;
  readonly foldAstral: ReadonlyMap<number, number>;
  readonly lookalikeAstral: ReadonlyMap<number, number>;
  readonly styledAstral: ReadonlySet<number>;
  /** Per BMP code point: WORD | STYLED bits. */
  readonly classBmp: Uint8Array;
}

export function foldOffset(packed: number): number {
  return packed >>> LENGTH_BITS;
}

export function foldLength(packed: number): number {
  return packed & LENGTH_MASK;
}

function decodeDeltas(encoded: string): number[] {
  const values: number[] = [];
  let current = 0;
  for (const part of encoded.split(",")) {
    current += parseInt(part, 36);
    values.push(current);
  }
  return values;
}

let table: FoldTable | undefined;

/** Decoded on first use (about a millisecond), so importing the package stays cheap. */
export function foldTable(): FoldTable {
  if (table !== undefined) return table;
  const foldCps = decodeDeltas(FOLD_CODE_POINTS);
  const foldTargets = FOLD_TARGETS.split("\0");
  const lookCps = decodeDeltas(LOOKALIKE_CODE_POINTS);
  const lookTargets = LOOKALIKE_TARGETS.split("\0");
  const pool = new Uint16Array(FOLD_TARGETS.length + LOOKALIKE_TARGETS.length);
  let poolLength = 0;
  const pack = (target: string): number => {
    if (target.length > LENGTH_MASK) throw new Error(`fold target too long: ${target.length}`);
    const packed = (poolLength << LENGTH_BITS) | target.length;
    for (let k = 0; k < target.length; k++) pool[poolLength++] = target.charCodeAt(k);
    return packed;
  };
  const foldBmp = new Int32Array(0x10000).fill(NO_FOLD);
  const lookalikeBmp = new Int32Array(0x10000).fill(NO_FOLD);
  const foldAstral = new Map<number, number>();
  const lookalikeAstral = new Map<number, number>();
  foldCps.forEach((cp, index) => {
    const packed = pack(foldTargets[index] ?? "");
    if (cp <= 0xffff) foldBmp[cp] = packed;
    else foldAstral.set(cp, packed);
  });
  lookCps.forEach((cp, index) => {
    const packed = pack(lookTargets[index] ?? "");
    if (cp <= 0xffff) lookalikeBmp[cp] = packed;
    else lookalikeAstral.set(cp, packed);
  });
  const classBmp = new Uint8Array(0x10000);
  for (let c = 0x30; c <= 0x39; c++) classBmp[c] = WORD;
  for (let c = 0x41; c <= 0x5a; c++) classBmp[c] = WORD;
  for (let c = 0x61; c <= 0x7a; c++) classBmp[c] = WORD;
  const ranges = decodeDeltas(BMP_WORD_RANGES);
  for (let k = 0; k + 1 < ranges.length; k += 2) {
    const end = ranges[k + 1] ?? 0;
    for (let c = ranges[k] ?? 0; c <= end; c++) classBmp[c] = WORD;
  }
  const styledAstral = new Set<number>();
  for (const cp of decodeDeltas(STYLED_CODE_POINTS)) {
    if (cp <= 0xffff) classBmp[cp] = (classBmp[cp] ?? 0) | STYLED;
    else styledAstral.add(cp);
  }
  table = { pool, foldBmp, lookalikeBmp, foldAstral, lookalikeAstral, styledAstral, classBmp };
  return table;
}
