/**
 * One linear pass over the text that (1) finds control characters, lone
 * surrogates, invisible characters and homoglyph words, (2) builds the text the
 * model sees with the dangerous invisibles and controls removed, and (3) builds
 * the folded detection view with its offset map back into that text.
 *
 * The loop reads the folding table (fold-table.ts) and writes into reusable typed
 * buffers; it allocates nothing per character. Pure printable ASCII takes a fast
 * path that skips it altogether; in other text, stretches of plain ASCII and of Latin
 * letters with diacritics between words (asciiStretch) and words from a letter beyond
 * ASCII whose folding is simple (wordStretch) are taken in tight loops rather than
 * unit by unit.
 */
import type { Finding } from "../../guard/types.js";
import {
  NO_FOLD,
  STYLED,
  WORD,
  foldLength,
  foldOffset,
  foldTable,
  type FoldTable,
} from "./fold-table.js";
import { describeHidden, quote } from "./evidence.js";
import {
  Invisible,
  decodeVariationSelectorBytes,
  invisibleKind,
  isEmojiBase,
  isJoiningScript,
  isPictographic,
  isTag,
  isVariationSelector,
} from "./unicode.js";

export interface ScanOptions {
  readonly stripInvisible: boolean;
  readonly stripControl: boolean;
  /** Take plain ASCII and plain letters one unit at a time too, as the reference their fast paths are tested against. */
  readonly unitByUnit?: boolean;
}

export interface ScanResult {
  /** The text for the model: invisibles and controls removed as configured, lone surrogates replaced. */
  readonly text: string;
  readonly folded: string;
  /** Index in `text` for each index of `folded`, plus one entry for the end; null when folded maps 1:1 onto text. */
  readonly foldedToText: Int32Array | null;
  readonly hidden: string[];
  readonly findings: Finding[];
}

const DETECTOR = "normalize";
const PRINTABLE_ASCII = /^[\t\n\r\x20-\x7e]*$/;
/** Emoji subdivision flags in Unicode's recommended set (England, Scotland, Wales). */
const RGI_FLAG_TAGS = new Set(["gbeng", "gbsct", "gbwls"]);
const WELL_FORMED_FLAG_TAGS = /^[a-z]{2}[a-z0-9]{1,4}$/;
/** Stacked combining marks beyond what any orthography uses (Vietnamese stacks two). */
const MARK_STACK_LIMIT = 5;
const STYLED_LETTERS_LIMIT = 8;
const INVISIBLE_RUN_LIMIT = 8;

// Reused across calls; the layer is synchronous, so one scan owns them at a time.
let foldedUnits = new Uint16Array(4096);
let foldedMap = new Int32Array(4097);
let wordPositions = new Int32Array(256);
let wordOutPositions = new Int32Array(256);
const utf16 = new TextDecoder("utf-16le");
const TAG_BYTES = 256;
/** Capacity kept between scans once grown. */
const MAX_KEPT_TAG_BYTES = 64 * 1024;
let tagBytes = Buffer.alloc(TAG_BYTES);

let latinTable: { readonly source: FoldTable; readonly folds: Uint16Array } | undefined;

/**
 * Per BMP unit beyond ASCII, the ASCII letter it folds to when nonAscii() would only write that letter and
 * count it as a Latin one (a word character, not styled, no combining mark or invisible character, no
 * look-alike, folding to one unit a-z: é -> e, Ü -> u); else 0.
 */
function latinFolds(table: FoldTable): Uint16Array {
  if (latinTable?.source !== table) {
    const folds = new Uint16Array(0x10000);
    for (let cp = 0xa0; cp <= 0xffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      if (((table.classBmp[cp] ?? 0) & (WORD | STYLED)) !== WORD || invisibleKind(cp) !== Invisible.None || isDiacritic(cp)) continue;
      const fold = table.foldBmp[cp] ?? NO_FOLD;
      if (fold === NO_FOLD || foldLength(fold) !== 1 || (table.lookalikeBmp[cp] ?? NO_FOLD) !== NO_FOLD) continue;
      const to = table.pool[foldOffset(fold)] ?? 0;
      if (to >= 0x61 && to <= 0x7a) folds[cp] = to;
    }
    latinTable = { source: table, folds };
  }
  return latinTable.folds;
}

let kindTable: { readonly source: FoldTable; readonly kinds: Uint8Array } | undefined;
/** In letterKinds: a letter of a script other than Latin. */
const PLAIN = 1;
/** In letterKinds: the same, but a look-alike of a Latin letter (which only a refold of its word changes). */
const KEPT_LOOKALIKE = 2;
/** In letterKinds: a combining mark that folds to nothing. */
const DROPPED_MARK = 3;

/**
 * Per BMP unit, for a word character (not styled) that is no control, invisible character or surrogate and
 * whose folding is simple: PLAIN or KEPT_LOOKALIKE when it is no combining mark and the folding table keeps
 * it as it is, DROPPED_MARK for a combining mark that folds to nothing; else 0. nonAscii() does the same few
 * things for each of these (wordStretch).
 */
function letterKinds(table: FoldTable): Uint8Array {
  if (kindTable?.source !== table) {
    const kinds = new Uint8Array(0x10000);
    for (let cp = 0xa0; cp <= 0xffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      if (((table.classBmp[cp] ?? 0) & (WORD | STYLED)) !== WORD || invisibleKind(cp) !== Invisible.None) continue;
      const fold = table.foldBmp[cp] ?? NO_FOLD;
      const lookalike = table.lookalikeBmp[cp] ?? NO_FOLD;
      if (!isDiacritic(cp)) {
        if (fold === NO_FOLD) kinds[cp] = lookalike === NO_FOLD ? PLAIN : KEPT_LOOKALIKE;
      } else if (fold !== NO_FOLD && foldLength(fold) === 0 && lookalike === NO_FOLD) kinds[cp] = DROPPED_MARK;
    }
    kindTable = { source: table, kinds };
  }
  return kindTable.kinds;
}

function growWordPositions(): void {
  const grown = new Int32Array(wordPositions.length * 2);
  grown.set(wordPositions);
  wordPositions = grown;
  const grownOut = new Int32Array(grown.length);
  grownOut.set(wordOutPositions);
  wordOutPositions = grownOut;
}

function isDiacritic(cp: number): boolean {
  return (
    (cp >= 0x300 && cp <= 0x36f) ||
    (cp >= 0x1ab0 && cp <= 0x1aff) ||
    (cp >= 0x1dc0 && cp <= 0x1dff) ||
    (cp >= 0x20d0 && cp <= 0x20ff) ||
    (cp >= 0xfe20 && cp <= 0xfe2f)
  );
}

export function scanText(text: string, options: ScanOptions): ScanResult {
  if (PRINTABLE_ASCII.test(text)) {
    return { text, folded: text.toLowerCase(), foldedToText: null, hidden: [], findings: [] };
  }
  const table = foldTable();
  const scanner = new Scanner(text, options, table);
  const result = scanner.run();
  return scanner.unsettled ? settleFolding(result, options, table) : result;
}

/** Passes after the first that a folded view may still need (in practice one is enough). */
const MAX_REFOLDS = 2;

/**
 * Folds the folded view again until it no longer changes, composing the offset maps. Needed only when
 * an expansion changed the words a rescan sees (℉ -> "°f" puts a letter next to a look-alike, ﬁ -> "fi"
 * adds a Latin letter) while look-alikes were left unfolded: a second pass could then fold them, and the
 * view the detectors see would not be a fixed point. Findings stay those of the first pass.
 */
function settleFolding(first: ScanResult, options: ScanOptions, table: FoldTable): ScanResult {
  let folded = first.folded;
  let map = first.foldedToText!;
  for (let pass = 0; pass < MAX_REFOLDS; pass++) {
    const scanner = new Scanner(folded, options, table);
    const next = scanner.run();
    if (next.folded === folded) break;
    const inner = next.foldedToText!;
    const composed = new Int32Array(inner.length);
    for (let k = 0; k < inner.length; k++) composed[k] = map[inner[k]!]!;
    folded = next.folded;
    map = composed;
    if (!scanner.unsettled) break;
  }
  return { ...first, folded, foldedToText: map };
}

class Scanner {
  private readonly pieces: string[] = [];
  private copyFrom = 0;
  private removed = 0;
  private foldedLength = 0;

  // Word state, for homoglyph words.
  private wordCount = 0;
  private wordStartText = -1;
  private wordEndText = 0;
  private wordFoldedStart = 0;
  private wordAscii = 0;
  private wordLookalike = 0;
  private wordOther = 0;
  private latinLetters = 0;
  private otherLetters = 0;
  private mixedWords = 0;
  private lookalikeWords = 0;
  private firstHomoglyph: { start: number; end: number; folded: string } | null = null;
  /** An expansion changed the word structure a rescan of the folded view would see. */
  private reshaped = false;
  /** A word kept look-alike letters unfolded. */
  private lookalikesLeft = false;

  // Signals.
  private controls = 0;
  private controlSevere = false;
  private firstControl = -1;
  private loneSurrogates = 0;
  private firstSurrogate = -1;
  private zeroWidth = 0;
  private zeroWidthSplits = 0;
  private invisibleRun = 0;
  private longestInvisibleRun = 0;
  private firstZeroWidth = -1;
  private zeroWidthBeforeWord = false;
  private overrides = 0;
  private embeddings = 0;
  private firstBidi = -1;
  private tagRuns = 0;
  private tagLetters = 0;
  private flagLikeTagRuns = 0;
  private firstTag: { start: number; end: number } | null = null;
  private selectorRuns = 0;
  private selectorLetters = 0;
  private firstSelector: { start: number; end: number } | null = null;
  private markRun = 0;
  private longestMarkRun = 0;
  private markRunEnd = 0;
  private styled = 0;
  private firstStyled = -1;
  private readonly hiddenTags: string[] = [];
  private readonly hiddenSelectors: string[] = [];
  /** Last visible code point, for deciding whether a joiner or selector is part of an emoji or a script. */
  private previousCp = 0;
  /** The tight loops (asciiStretch, wordStretch, zero-width runs) may be used: off only for the reference path. */
  private readonly stretches: boolean;
  private readonly kinds: Uint8Array;
  private readonly latin: Uint16Array;

  constructor(
    private readonly source: string,
    private readonly options: ScanOptions,
    private readonly table: FoldTable,
  ) {
    this.stretches = options.unitByUnit !== true;
    this.kinds = letterKinds(table);
    this.latin = latinFolds(table);
    const capacity = source.length + 64;
    if (foldedUnits.length < capacity) {
      foldedUnits = new Uint16Array(capacity * 1.5);
      foldedMap = new Int32Array(capacity * 1.5 + 1);
    }
  }

  /** Whether folding the folded view again could change it (see settleFolding). */
  get unsettled(): boolean {
    return this.reshaped && this.lookalikesLeft;
  }

  run(): ScanResult {
    const text = this.source;
    const length = text.length;
    const { kinds, latin } = this;
    let i = 0;
    while (i < length) {
      const unit = text.charCodeAt(i);
      const stretch = this.stretches && this.invisibleRun === 0;
      if (unit < 0x80) {
        if (stretch && this.wordStartText < 0) {
          const next = this.asciiStretch(i);
          if (next > i) {
            i = next;
            continue;
          }
        }
        this.ascii(unit, i);
        i++;
        continue;
      }
      if (stretch && kinds[unit] !== 0) {
        i = this.wordStretch(i);
        continue;
      }
      if (stretch && latin[unit] !== 0 && this.wordStartText < 0) {
        // A word that starts with a Latin letter with a diacritic (École, Über).
        const next = this.asciiStretch(i);
        if (next > i) {
          i = next;
          continue;
        }
      }
      let cp = unit;
      let size = 1;
      if (unit >= 0xd800 && unit <= 0xdfff) {
        const next = i + 1 < length ? text.charCodeAt(i + 1) : 0;
        if (unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          cp = ((unit - 0xd800) << 10) + (next - 0xdc00) + 0x10000;
          size = 2;
        } else {
          this.loneSurrogate(i);
          i++;
          continue;
        }
      }
      i = this.nonAscii(cp, i, size);
    }
    this.endWord();
    return this.finish();
  }

  // ---- per character -------------------------------------------------------

  private ascii(unit: number, at: number): void {
    if (unit < 0x20 || unit === 0x7f) {
      if (unit === 0x09 || unit === 0x0a || unit === 0x0d) {
        this.boundary();
        this.emitUnit(unit, at - this.removed);
        this.previousCp = unit;
        return;
      }
      this.control(unit, at, 1);
      return;
    }
    this.previousCp = unit;
    this.endInvisibleRun(unit >= 0x30 && isAsciiAlnum(unit));
    this.markRun = 0;
    if (isAsciiAlnum(unit)) {
      this.wordChar(at, 1);
      if (unit >= 0x41) {
        this.wordAscii++;
        this.emitUnit(unit <= 0x5a ? unit + 0x20 : unit, at - this.removed);
      } else this.emitUnit(unit, at - this.removed);
      return;
    }
    this.boundary();
    this.emitUnit(unit, at - this.removed);
  }

  /**
   * Plain ASCII (printable, tab, line breaks) and Latin letters that fold to one ASCII letter (latinFolds)
   * from `from`, where no word and no invisible run is in progress, up to the last separator before a unit it
   * does not take (the word there may go on beyond these) or to the end: what ascii() and nonAscii() would do
   * unit by unit, in one tight loop. Such words have no look-alikes, so ending one only adds its letters to
   * latinLetters. Returns the index after what it consumed (`from`: nothing).
   */
  private asciiStretch(from: number): number {
    const text = this.source;
    const length = text.length;
    if (this.foldedLength + (length - from) >= foldedUnits.length) this.ensure(length - from);
    const units = foldedUnits;
    const map = foldedMap;
    const removed = this.removed;
    let out = this.foldedLength;
    let letters = 0;
    // At the end of the last separator taken.
    let settled = from;
    let settledOut = out;
    let settledLetters = 0;
    const latin = this.latin;
    let k = from;
    for (; k < length; k++) {
      let unit = text.charCodeAt(k);
      if (unit >= 0x61 && unit <= 0x7a) letters++;
      else if (unit >= 0x41 && unit <= 0x5a) {
        unit += 0x20;
        letters++;
      } else if (unit >= 0x80) {
        // A Latin letter with a diacritic (é, Ü) is one more ASCII letter of its word in the folded view.
        const folded = latin[unit]!;
        if (folded === 0) break;
        unit = folded;
        letters++;
      } else if (unit < 0x30 || unit > 0x39) {
        if (unit > 0x7e || (unit < 0x20 && unit !== 0x09 && unit !== 0x0a && unit !== 0x0d)) break;
        units[out] = unit;
        map[out++] = k - removed;
        settled = k + 1;
        settledOut = out;
        settledLetters = letters;
        continue;
      }
      units[out] = unit;
      map[out++] = k - removed;
    }
    if (k < length) {
      k = settled;
      out = settledOut;
      letters = settledLetters;
    }
    if (k === from) return from;
    this.foldedLength = out;
    this.latinLetters += letters;
    this.previousCp = text.charCodeAt(k - 1);
    this.markRun = 0;
    return k;
  }

  /**
   * From a word character that letterKinds() gives a kind, where no invisible run is in progress: the word's
   * units from there that are ASCII letters or digits or have a kind, in one tight loop, with the effect of
   * nonAscii() and ascii() unit by unit: each is the same unit in the folded view, except a dropped mark, which
   * is nothing. Positions are recorded (for a refold of the word, refoldWordAsAscii) until the word has a letter
   * of another script, which rules a refold out; a dropped mark would add nothing to a refold and is not
   * recorded. Returns the index after what it consumed.
   */
  private wordStretch(from: number): number {
    const text = this.source;
    const length = text.length;
    const kinds = this.kinds;
    if (this.foldedLength + (length - from) >= foldedUnits.length) this.ensure(length - from);
    const units = foldedUnits;
    const map = foldedMap;
    const removed = this.removed;
    let out = this.foldedLength;
    if (this.wordStartText < 0) {
      this.wordStartText = from;
      this.wordFoldedStart = out;
      this.wordCount = 0;
    }
    let recording = this.wordOther === 0;
    let count = this.wordCount;
    let ascii = 0;
    let other = 0;
    let lookalikes = 0;
    let markRun = this.markRun;
    let k = from;
    for (; k < length; k++) {
      let unit = text.charCodeAt(k);
      if (unit < 0x80) {
        if (unit >= 0x61 && unit <= 0x7a) ascii++;
        else if (unit >= 0x41 && unit <= 0x5a) {
          unit += 0x20;
          ascii++;
        } else if (unit < 0x30 || unit > 0x39) break;
        markRun = 0;
      } else {
        const kind = kinds[unit]!;
        if (kind === PLAIN) {
          other++;
          recording = false;
          markRun = 0;
        } else if (kind === KEPT_LOOKALIKE) {
          lookalikes++;
          markRun = 0;
        } else if (kind === DROPPED_MARK) {
          if (++markRun > this.longestMarkRun) {
            this.longestMarkRun = markRun;
            this.markRunEnd = k + 1;
          }
          continue;
        } else break;
      }
      if (recording) {
        if (count === wordPositions.length) growWordPositions();
        wordPositions[count] = k;
        wordOutPositions[count++] = k - removed;
      }
      units[out] = unit;
      map[out++] = k - removed;
    }
    this.foldedLength = out;
    this.wordCount = count;
    this.wordAscii += ascii;
    this.wordOther += other;
    this.wordLookalike += lookalikes;
    this.wordEndText = k;
    this.markRun = markRun;
    this.previousCp = text.charCodeAt(k - 1);
    return k;
  }

  /** Returns the index after what it consumed (tag and selector runs are taken whole). */
  private nonAscii(cp: number, at: number, size: number): number {
    if (cp <= 0x9f) {
      this.control(cp, at, 1);
      return at + 1;
    }
    const kind = invisibleKind(cp);
    if (kind !== Invisible.None) return this.invisible(kind, cp, at, size);

    let wordClass: number;
    if (cp <= 0xffff) wordClass = this.table.classBmp[cp] ?? 0;
    else if (cp >= 0x1f000 && cp <= 0x1faff) wordClass = 0;
    else wordClass = WORD | (this.table.styledAstral.has(cp) ? STYLED : 0);
    this.endInvisibleRun((wordClass & WORD) !== 0 && isSplittable(cp));

    if (isDiacritic(cp)) {
      this.markRun++;
      if (this.markRun > this.longestMarkRun) {
        this.longestMarkRun = this.markRun;
        this.markRunEnd = at + size;
      }
    } else this.markRun = 0;

    if ((wordClass & STYLED) !== 0) {
      this.styled++;
      if (this.firstStyled < 0) this.firstStyled = at;
    }
    if ((wordClass & WORD) === 0) {
      this.boundary();
      const start = this.foldedLength;
      if (this.emitCodePoint(cp, at - this.removed, size, false) && !this.reshaped) {
        // Folded to nothing (the words on either side meet on a rescan) or to letters (℉ -> "°f").
        this.reshaped = this.foldedLength === start || this.hasWordUnit(start);
      }
      this.previousCp = cp;
      return at + size;
    }
    this.wordChar(at, size);
    const lookalike = cp <= 0xffff ? (this.table.lookalikeBmp[cp] ?? NO_FOLD) : (this.table.lookalikeAstral.get(cp) ?? NO_FOLD);
    const start = this.foldedLength;
    if (this.emitCodePoint(cp, at - this.removed, size, false) && !this.reshaped) {
      // Several letters (ﬁ -> "fi", counted once here) or a character a rescan does not read as a letter.
      this.reshaped = this.foldedLength > start + 1 || (this.foldedLength === start + 1 && !this.hasWordUnit(start));
    }
    if (lookalike !== NO_FOLD) this.wordLookalike++;
    else if (this.foldedLength > start) {
      const first = foldedUnits[start] ?? 0;
      if (first < 0x80) {
        if (first >= 0x61 && first <= 0x7a) this.wordAscii++;
      } else if (!isDiacritic(cp)) this.wordOther++;
    }
    this.previousCp = cp;
    return at + size;
  }

  /** Whether the folded units from `start` on include one a scan reads as part of a word. */
  private hasWordUnit(start: number): boolean {
    for (let k = start; k < this.foldedLength; k++) {
      const unit = foldedUnits[k] ?? 0;
      if (unit < 0x80 ? isAsciiAlnum(unit) : ((this.table.classBmp[unit] ?? 0) & WORD) !== 0) return true;
    }
    return false;
  }

  private invisible(kind: Invisible, cp: number, at: number, size: number): number {
    switch (kind) {
      case Invisible.Tag:
        return this.tagRun(at);
      case Invisible.VariationSelector:
        return this.selectorRun(cp, at, size);
      case Invisible.BidiMark:
        // Direction marks are ordinary in right-to-left text: kept for the model, left out of the folded view.
        this.endInvisibleRun(false);
        return at + size;
      case Invisible.BidiOverride:
      case Invisible.BidiEmbedding:
        if (kind === Invisible.BidiOverride) this.overrides++;
        else this.embeddings++;
        if (this.firstBidi < 0) this.firstBidi = at;
        if (this.options.stripInvisible) this.remove(at, size);
        return at + size;
      case Invisible.Joiner: {
        const next = this.source.codePointAt(at + size) ?? 0;
        const emoji = isEmojiBase(this.previousCp) && isPictographic(next);
        if (emoji || isJoiningScript(this.previousCp)) return at + size;
        break;
      }
      case Invisible.MongolianSelector:
        if (this.previousCp >= 0x1800 && this.previousCp <= 0x18af) return at + size;
        break;
      case Invisible.ByteOrderMark:
        if (at === 0) {
          // An encoding artefact at the start, not a signal.
          if (this.options.stripInvisible) this.remove(at, size);
          return at + size;
        }
        break;
      default:
        break;
    }
    // Zero-width and other invisible format characters.
    this.zeroWidth++;
    if (this.firstZeroWidth < 0) this.firstZeroWidth = at;
    if (kind === Invisible.SoftHyphen) {
      // A hyphenation hint inside words is ordinary in text copied from web pages.
      if (this.options.stripInvisible) this.remove(at, size);
      return at + size;
    }
    if (this.invisibleRun === 0) this.zeroWidthBeforeWord = this.wordStartText >= 0 && isSplittable(this.previousCp);
    // Zero-width characters of the BMP right after this one count and go the same way: taken here at once.
    let end = at + size;
    let count = 1;
    if (kind === Invisible.ZeroWidth && this.stretches) {
      const text = this.source;
      while (end < text.length) {
        const unit = text.charCodeAt(end);
        if ((unit >= 0xd800 && unit <= 0xdfff) || invisibleKind(unit) !== Invisible.ZeroWidth) break;
        end++;
        count++;
      }
      this.zeroWidth += count - 1;
    }
    this.invisibleRun += count;
    if (this.invisibleRun > this.longestInvisibleRun) this.longestInvisibleRun = this.invisibleRun;
    if (this.options.stripInvisible) this.remove(at, end - at);
    return end;
  }

  private tagRun(at: number): number {
    const text = this.source;
    let end = at;
    let cancelled = false;
    // The printable ASCII the tags spell, as bytes (one string at the end, not one concatenation per tag).
    let length = 0;
    let letters = 0;
    while (end < text.length) {
      const cp = text.codePointAt(end) ?? 0;
      if (!isTag(cp)) break;
      end += 2;
      const ascii = cp - 0xe0000;
      if (ascii === 0x7f) {
        cancelled = true;
        break;
      }
      if (ascii >= 0x20 && ascii < 0x7f) {
        if (length === tagBytes.length) {
          const grown = Buffer.alloc(2 * tagBytes.length);
          tagBytes.copy(grown);
          tagBytes = grown;
        }
        tagBytes[length++] = ascii;
        const lower = ascii | 0x20;
        if (lower >= 0x61 && lower <= 0x7a) letters++;
      }
    }
    const decoded = length === 0 ? "" : tagBytes.toString("latin1", 0, length);
    if (tagBytes.length > MAX_KEPT_TAG_BYTES) tagBytes = Buffer.alloc(TAG_BYTES);
    const flagBody = cancelled && this.previousCp === 0x1f3f4 && WELL_FORMED_FLAG_TAGS.test(decoded);
    if (flagBody && RGI_FLAG_TAGS.has(decoded)) return end;
    if (flagBody) this.flagLikeTagRuns++;
    this.tagRuns++;
    this.tagLetters += letters;
    if (this.firstTag === null) this.firstTag = { start: at, end };
    if (decoded.length > 0) this.hiddenTags.push(decoded);
    if (this.options.stripInvisible) this.remove(at, end - at);
    return end;
  }

  private selectorRun(cp: number, at: number, size: number): number {
    const text = this.source;
    let end = at + size;
    let count = 1;
    while (end < text.length) {
      const next = text.codePointAt(end) ?? 0;
      if (!isVariationSelector(next)) break;
      end += next > 0xffff ? 2 : 1;
      count++;
    }
    if (count === 1) {
      // One selector picks a glyph (emoji or text presentation, CJK variants): ordinary text.
      this.previousCp = cp;
      return end;
    }
    const decoded = decodeVariationSelectorBytes(text, at, end);
    this.selectorRuns++;
    this.selectorLetters += countLetters(decoded);
    if (this.firstSelector === null) this.firstSelector = { start: at, end };
    if (decoded.length > 0) this.hiddenSelectors.push(decoded);
    if (this.options.stripInvisible) this.remove(at, end - at);
    this.previousCp = cp;
    return end;
  }

  private control(cp: number, at: number, size: number): void {
    this.controls++;
    if (this.firstControl < 0) this.firstControl = at;
    // NUL truncates strings in C-based tooling, ESC starts terminal escape sequences (log and terminal spoofing).
    if (cp === 0x00 || cp === 0x1b || cp === 0x9b) this.controlSevere = true;
    if (this.options.stripControl) this.remove(at, size);
  }

  private loneSurrogate(at: number): void {
    this.loneSurrogates++;
    if (this.firstSurrogate < 0) this.firstSurrogate = at;
    this.boundary();
    this.pieces.push(this.source.slice(this.copyFrom, at), "\ufffd");
    this.copyFrom = at + 1;
    this.emitUnit(0xfffd, at - this.removed);
  }

  // ---- words -----------------------------------------------------------------

  private wordChar(at: number, size: number): void {
    if (this.wordStartText < 0) {
      this.wordStartText = at;
      this.wordFoldedStart = this.foldedLength;
      this.wordCount = 0;
    }
    if (this.wordCount === wordPositions.length) growWordPositions();
    wordPositions[this.wordCount] = at;
    wordOutPositions[this.wordCount++] = at - this.removed;
    this.wordEndText = at + size;
  }

  private boundary(): void {
    this.endInvisibleRun(false);
    this.markRun = 0;
    if (this.wordStartText >= 0) this.endWord();
  }

  private endWord(): void {
    if (this.wordStartText < 0) return;
    const start = this.wordStartText;
    this.wordStartText = -1;
    if (this.wordLookalike > 0 && this.wordOther === 0) {
      const mixed = this.wordAscii > 0;
      // A word made only of look-alikes is a disguise in Latin text and an ordinary word in, say, Russian text.
      if (mixed || this.latinLetters >= this.otherLetters) {
        if (mixed) this.mixedWords++;
        else this.lookalikeWords++;
        this.refoldWordAsAscii();
        if (this.firstHomoglyph === null || (mixed && this.mixedWords === 1)) {
          const folded = utf16.decode(foldedUnits.subarray(this.wordFoldedStart, this.foldedLength));
          this.firstHomoglyph = { start, end: this.wordEndText, folded };
        }
        this.latinLetters += this.wordAscii + this.wordLookalike;
      } else {
        this.otherLetters += this.wordLookalike;
        this.lookalikesLeft = true;
      }
    } else {
      this.latinLetters += this.wordAscii;
      this.otherLetters += this.wordOther + this.wordLookalike;
      if (this.wordLookalike > 0) this.lookalikesLeft = true;
    }
    this.wordAscii = 0;
    this.wordLookalike = 0;
    this.wordOther = 0;
  }

  /** Rewrites the current word's folded units with look-alikes mapped to the ASCII they imitate. */
  private refoldWordAsAscii(): void {
    this.foldedLength = this.wordFoldedStart;
    const text = this.source;
    for (let k = 0; k < this.wordCount; k++) {
      const at = wordPositions[k] ?? 0;
      const cp = text.codePointAt(at) ?? 0;
      this.emitCodePoint(cp, wordOutPositions[k] ?? 0, cp > 0xffff ? 2 : 1, true);
    }
  }

  // ---- output ----------------------------------------------------------------

  private remove(at: number, size: number): void {
    if (at > this.copyFrom) this.pieces.push(this.source.slice(this.copyFrom, at));
    this.copyFrom = at + size;
    this.removed += size;
  }

  private ensure(extra: number): void {
    if (this.foldedLength + extra < foldedUnits.length) return;
    const units = new Uint16Array((foldedUnits.length + extra) * 2);
    units.set(foldedUnits.subarray(0, this.foldedLength));
    foldedUnits = units;
    const map = new Int32Array(units.length + 1);
    map.set(foldedMap.subarray(0, this.foldedLength));
    foldedMap = map;
  }

  /** `out` is the index in the output text; everything removed so far lies before the current character. */
  private emitUnit(unit: number, out: number): void {
    if (this.foldedLength + 1 >= foldedUnits.length) this.ensure(1);
    foldedUnits[this.foldedLength] = unit;
    foldedMap[this.foldedLength++] = out;
  }

  /** Writes the code point's folded form; true when the folding table rewrote it. */
  private emitCodePoint(cp: number, out: number, size: number, lookalikes: boolean): boolean {
    const table = this.table;
    let packed = NO_FOLD;
    if (lookalikes) packed = cp <= 0xffff ? (table.lookalikeBmp[cp] ?? NO_FOLD) : (table.lookalikeAstral.get(cp) ?? NO_FOLD);
    if (packed === NO_FOLD) {
      if (cp < 0x80) {
        this.emitUnit(cp >= 0x41 && cp <= 0x5a ? cp + 0x20 : cp, out);
        return false;
      }
      packed = cp <= 0xffff ? (table.foldBmp[cp] ?? NO_FOLD) : (table.foldAstral.get(cp) ?? NO_FOLD);
    }
    if (packed === NO_FOLD) {
      this.emitUnit(size === 1 ? cp : 0xd800 + ((cp - 0x10000) >> 10), out);
      if (size === 2) this.emitUnit(0xdc00 + ((cp - 0x10000) & 0x3ff), out);
      return false;
    }
    const offset = foldOffset(packed);
    const length = foldLength(packed);
    if (this.foldedLength + length >= foldedUnits.length) this.ensure(length);
    for (let k = 0; k < length; k++) {
      foldedUnits[this.foldedLength] = table.pool[offset + k] ?? 0;
      foldedMap[this.foldedLength++] = out;
    }
    return true;
  }

  private endInvisibleRun(beforeWordChar: boolean): void {
    if (this.invisibleRun === 0) return;
    if (beforeWordChar && this.zeroWidthBeforeWord) this.zeroWidthSplits++;
    this.invisibleRun = 0;
  }

  // ---- result ----------------------------------------------------------------

  private finish(): ScanResult {
    const source = this.source;
    let text = source;
    if (this.pieces.length > 0 || this.copyFrom > 0) {
      this.pieces.push(source.slice(this.copyFrom));
      text = this.pieces.join("");
    }
    const length = this.foldedLength;
    const folded = utf16.decode(foldedUnits.subarray(0, length));
    const foldedToText = foldedMap.slice(0, length + 1);
    foldedToText[length] = text.length;
    const hidden = [...this.hiddenTags, ...this.hiddenSelectors];
    return { text, folded, foldedToText, hidden, findings: this.findings() };
  }

  private findings(): Finding[] {
    const findings: Finding[] = [];
    const source = this.source;
    if (this.controls > 0) {
      findings.push({
        detector: DETECTOR,
        category: "malformed_input",
        ruleId: "control-characters",
        score: this.controlSevere || this.controls >= 16 ? 0.6 : 0.5,
        span: { start: this.firstControl, end: this.firstControl + 1 },
        evidence: `${this.controls} control character${plural(this.controls)}, first U+${hex(source.charCodeAt(this.firstControl))} at ${this.firstControl}${this.options.stripControl ? " (removed)" : ""}`,
      });
    }
    if (this.loneSurrogates > 0) {
      findings.push({
        detector: DETECTOR,
        category: "malformed_input",
        ruleId: "lone-surrogates",
        score: 0.6,
        span: { start: this.firstSurrogate, end: this.firstSurrogate + 1 },
        evidence: `${this.loneSurrogates} lone UTF-16 surrogate${plural(this.loneSurrogates)} replaced by U+FFFD`,
      });
    }
    if (this.tagRuns > 0 && this.firstTag !== null) {
      const onlyOneFlagLike = this.flagLikeTagRuns === 1 && this.tagRuns === 1;
      const score = onlyOneFlagLike ? 0.5 : this.tagLetters >= 2 ? 0.9 : 0.6;
      findings.push({
        detector: DETECTOR,
        category: "invisible_text",
        ruleId: "unicode-tags",
        score,
        span: this.firstTag,
        evidence: `invisible Unicode tag characters spell ${describeHidden(this.hiddenTags)}`,
      });
    }
    if (this.selectorRuns > 0 && this.firstSelector !== null) {
      findings.push({
        detector: DETECTOR,
        category: "invisible_text",
        ruleId: "variation-selector-smuggling",
        score: this.selectorLetters >= 2 ? 0.9 : 0.7,
        span: this.firstSelector,
        evidence: `${this.selectorRuns} run${plural(this.selectorRuns)} of variation selectors carry hidden bytes: ${describeHidden(this.hiddenSelectors)}`,
      });
    }
    if (this.overrides + this.embeddings > 0) {
      findings.push({
        detector: DETECTOR,
        category: "invisible_text",
        ruleId: "bidi-control",
        score: this.overrides > 0 ? 0.7 : 0.4,
        span: { start: this.firstBidi, end: this.firstBidi + 1 },
        evidence:
          this.overrides > 0
            ? `${this.overrides} bidirectional override${plural(this.overrides)} (U+202D/U+202E) can make text display in a different order than it reads`
            : `${this.embeddings} bidirectional embedding or isolate control${plural(this.embeddings)}`,
      });
    }
    if (this.zeroWidth > 0) {
      const splits = this.zeroWidthSplits;
      let score = splits >= 3 ? 0.8 : splits === 2 ? 0.7 : splits === 1 ? 0.6 : 0.3;
      if (this.longestInvisibleRun >= INVISIBLE_RUN_LIMIT) score = Math.max(score, 0.8);
      const parts = [`${this.zeroWidth} zero-width or invisible format character${plural(this.zeroWidth)}`];
      if (splits > 0) parts.push(`splitting ${splits} word${plural(splits)}`);
      if (this.longestInvisibleRun >= INVISIBLE_RUN_LIMIT) parts.push(`a run of ${this.longestInvisibleRun} in a row`);
      findings.push({
        detector: DETECTOR,
        category: "invisible_text",
        ruleId: "zero-width",
        score,
        span: { start: this.firstZeroWidth, end: this.firstZeroWidth + 1 },
        evidence: parts.join(", "),
      });
    }
    if ((this.mixedWords > 0 || this.lookalikeWords > 0) && this.firstHomoglyph !== null) {
      const mixed = this.mixedWords;
      const score = mixed >= 3 ? 0.8 : mixed >= 1 ? 0.6 : this.lookalikeWords >= 3 ? 0.6 : 0.4;
      const { start, end, folded } = this.firstHomoglyph;
      const words = mixed + this.lookalikeWords;
      findings.push({
        detector: DETECTOR,
        category: "obfuscation",
        ruleId: "homoglyphs",
        score,
        span: { start, end },
        evidence: `${words} word${plural(words)} written with look-alike letters from other scripts, e.g. ${quote(source.slice(start, end))} reads ${quote(folded)}`,
      });
    }
    if (this.longestMarkRun >= MARK_STACK_LIMIT) {
      const end = this.markRunEnd;
      findings.push({
        detector: DETECTOR,
        category: "obfuscation",
        ruleId: "stacked-marks",
        score: 0.5,
        span: { start: Math.max(0, end - this.longestMarkRun), end },
        evidence: `${this.longestMarkRun} combining marks stacked on one character`,
      });
    }
    if (this.styled >= STYLED_LETTERS_LIMIT) {
      findings.push({
        detector: DETECTOR,
        category: "obfuscation",
        ruleId: "styled-letters",
        score: 0.3,
        span: { start: this.firstStyled, end: this.firstStyled + 1 },
        evidence: `${this.styled} letters in fullwidth, mathematical or enclosed forms (read as plain letters for detection)`,
      });
    }
    return findings;
  }
}

function isAsciiAlnum(unit: number): boolean {
  return (unit >= 0x30 && unit <= 0x39) || (unit >= 0x41 && unit <= 0x5a) || (unit >= 0x61 && unit <= 0x7a);
}

/** Letters of the scripts whose words a zero-width character can split unnoticed (Latin, Greek, Cyrillic, and their styled forms). */
function isSplittable(cp: number): boolean {
  return isAsciiAlnum(cp) || (cp >= 0xc0 && cp < 0x530) || (cp >= 0xff10 && cp <= 0xff5a) || (cp >= 0x1d400 && cp <= 0x1d7ff);
}

function countLetters(text: string): number {
  let letters = 0;
  for (let k = 0; k < text.length; k++) {
    const unit = text.charCodeAt(k) | 0x20;
    if (unit >= 0x61 && unit <= 0x7a) letters++;
  }
  return letters;
}

function plural(count: number): string {
  return count === 1 ? "" : "s";
}

function hex(unit: number): string {
  return unit.toString(16).toUpperCase().padStart(4, "0");
}
