/**
 * Character classes the scan needs beyond the folding table: the invisible and
 * direction-changing characters, emoji context for joiners and selectors, and
 * the decoding of bytes smuggled in variation selectors.
 */

export enum Invisible {
  None = 0,
  ZeroWidth,
  SoftHyphen,
  ByteOrderMark,
  /** ZWJ and ZWNJ: ordinary in emoji sequences and in Arabic, Persian and Indic scripts. */
  Joiner,
  /** LRM, RLM, ALM: ordinary in right-to-left text. */
  BidiMark,
  /** LRO, RLO: reorder how text displays. */
  BidiOverride,
  /** LRE, RLE, PDF and the isolates LRI, RLI, FSI, PDI. */
  BidiEmbedding,
  Tag,
  VariationSelector,
  MongolianSelector,
}

export function invisibleKind(cp: number): Invisible {
  if (cp < 0xad) return Invisible.None;
  if (cp === 0xad) return Invisible.SoftHyphen;
  if (cp < 0x34f) return Invisible.None;
  if (cp === 0x34f) return Invisible.ZeroWidth; // combining grapheme joiner
  if (cp === 0x61c) return Invisible.BidiMark;
  if (cp === 0x115f || cp === 0x1160 || cp === 0x17b4 || cp === 0x17b5) return Invisible.ZeroWidth;
  if (cp >= 0x180b && cp <= 0x180f) return cp === 0x180e ? Invisible.ZeroWidth : Invisible.MongolianSelector;
  if (cp < 0x200b) return Invisible.None;
  if (cp <= 0x206f) {
    if (cp === 0x200b) return Invisible.ZeroWidth;
    if (cp === 0x200c || cp === 0x200d) return Invisible.Joiner;
    if (cp === 0x200e || cp === 0x200f) return Invisible.BidiMark;
    if (cp === 0x202d || cp === 0x202e) return Invisible.BidiOverride;
    if ((cp >= 0x202a && cp <= 0x202c) || (cp >= 0x2066 && cp <= 0x2069)) return Invisible.BidiEmbedding;
    if ((cp >= 0x2060 && cp <= 0x2064) || cp >= 0x206a) return Invisible.ZeroWidth;
    return Invisible.None;
  }
  if (cp === 0x3164 || cp === 0xffa0) return Invisible.ZeroWidth; // Hangul fillers render blank
  if (cp >= 0xfe00 && cp <= 0xfe0f) return Invisible.VariationSelector;
  if (cp === 0xfeff) return Invisible.ByteOrderMark;
  if (cp >= 0xfff9 && cp <= 0xfffb) return Invisible.ZeroWidth; // interlinear annotation
  if (cp < 0x1bca0) return Invisible.None;
  if (cp <= 0x1bca3 || (cp >= 0x1d173 && cp <= 0x1d17a)) return Invisible.ZeroWidth;
  if (cp >= 0xe0000 && cp <= 0xe007f) return Invisible.Tag;
  if (cp >= 0xe0100 && cp <= 0xe01ef) return Invisible.VariationSelector;
  return Invisible.None;
}

export function isTag(cp: number): boolean {
  return cp >= 0xe0000 && cp <= 0xe007f;
}

export function isVariationSelector(cp: number): boolean {
  return (cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0100 && cp <= 0xe01ef);
}

let pictographicBmp: Uint8Array | undefined;

/** Extended_Pictographic, from the engine's Unicode data for the BMP and by block above it. */
export function isPictographic(cp: number): boolean {
  if (cp >= 0x1f000 && cp <= 0x1faff) return true;
  if (cp > 0xffff || cp < 0xa9) return false;
  if (pictographicBmp === undefined) {
    const pictographic = /\p{Extended_Pictographic}/u;
    pictographicBmp = new Uint8Array(0x10000);
    for (let c = 0xa9; c <= 0x33ff; c++) if (pictographic.test(String.fromCharCode(c))) pictographicBmp[c] = 1;
  }
  return pictographicBmp[cp] === 1;
}

/** What may precede a zero-width joiner inside an emoji sequence: an emoji, a skin tone, or the emoji presentation selector. */
export function isEmojiBase(cp: number): boolean {
  return cp === 0xfe0f || isPictographic(cp);
}

/** Scripts whose orthography uses ZWJ and ZWNJ: Hebrew to Mongolian (Arabic, Persian, Indic, Southeast Asian) and the Indic extensions. */
export function isJoiningScript(cp: number): boolean {
  return (cp >= 0x590 && cp <= 0x1cff) || (cp >= 0xa800 && cp <= 0xabff) || (cp >= 0x10a00 && cp <= 0x11fff);
}

const utf8 = new TextDecoder("utf-8");

/**
 * The "emoji smuggling" encoding: byte b is VS(b+1), i.e. U+FE00+b for b < 16 and
 * U+E0100+(b-16) otherwise. The bytes are read as UTF-8.
 */
export function decodeVariationSelectorBytes(text: string, start: number, end: number): string {
  const bytes = new Uint8Array(end - start);
  let count = 0;
  for (let k = start; k < end; ) {
    const cp = text.codePointAt(k) ?? 0;
    if (cp >= 0xfe00 && cp <= 0xfe0f) {
      bytes[count++] = cp - 0xfe00;
      k += 1;
    } else {
      bytes[count++] = cp - 0xe0100 + 16;
      k += 2;
    }
  }
  return utf8.decode(bytes.subarray(0, count));
}
