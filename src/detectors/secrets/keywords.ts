/**
 * Which of a fixed set of keywords occur in a text, case-insensitively, in one
 * pass: an Aho-Corasick automaton over the keywords' characters. It answers
 * exactly what `text.toLowerCase().includes(keyword)` answers for each keyword,
 * without copying the text and without one scan per keyword (rule prefilters
 * have dozens of keywords, and most texts contain few of them).
 */

/**
 * Characters outside ASCII whose lower-case form contains an ASCII character
 * (İ becomes "i̇", the Kelvin sign "k"); a text containing one is lower-cased
 * first. A test checks this list against every code point.
 */
export const NON_ASCII_LOWERING_TO_ASCII: readonly number[] = [0x130, 0x212a];

/** Automata by keyword list: every guard built from the same rules shares one (they are immutable). */
const built = new Map<string, KeywordSet>();
const BUILT_LIMIT = 64;

export class KeywordSet {
  /** The set for these keywords, built once per distinct list (building one takes about a millisecond). */
  static of(keywords: readonly string[]): KeywordSet {
    const key = JSON.stringify(keywords);
    let set = built.get(key);
    if (set === undefined) {
      set = new KeywordSet(keywords);
      if (built.size >= BUILT_LIMIT) built.clear();
      built.set(key, set);
    }
    return set;
  }

  /** The keywords as given (indices match the input). */
  readonly keywords: readonly string[];
  /**
   * DFA on rows of 128 (row = state * 128, one column per ASCII code): next row = table[row + code],
   * stored as ~row (negative) when keywords end in that state.
   */
  private readonly table: Int32Array;
  /** Keywords ending at each state (through failure links too): outputs[outStart[s] .. outStart[s + 1]). */
  private readonly outStart: Int32Array;
  private readonly outputs: Int32Array;
  /** Keywords with characters outside ASCII or upper-case letters: checked with includes on the lower-cased text. */
  private readonly other: readonly number[];

  constructor(keywords: readonly string[]) {
    this.keywords = [...keywords];
    const ascii: number[] = [];
    const other: number[] = [];
    this.keywords.forEach((keyword, index) => (/^[\x00-\x40\x5b-\x7f]+$/.test(keyword) ? ascii : other).push(index));
    this.other = other;

    // Keyword characters -> class 1..n while building; every other ASCII character is class 0, and
    // upper-case letters share their lower-case class.
    const classOf = new Uint8Array(128);
    let classes = 1;
    for (const index of ascii) {
      for (const char of this.keywords[index]!) {
        const code = char.charCodeAt(0);
        if (classOf[code] === 0) classOf[code] = classes++;
      }
    }
    for (let code = 65; code <= 90; code++) if (classOf[code + 32] !== 0) classOf[code] = classOf[code + 32]!;

    // Trie.
    const children: Array<Map<number, number>> = [new Map()];
    const ends: number[][] = [[]];
    for (const index of ascii) {
      let state = 0;
      for (const char of this.keywords[index]!) {
        const cls = classOf[char.charCodeAt(0)]!;
        let next = children[state]!.get(cls);
        if (next === undefined) {
          next = children.length;
          children.push(new Map());
          ends.push([]);
          children[state]!.set(cls, next);
        }
        state = next;
      }
      ends[state]!.push(index);
    }
    // Breadth-first: failure links folded into a complete transition table, outputs merged along them.
    const states = children.length;
    const delta = new Int32Array(states * classes);
    const fail = new Int32Array(states);
    const queue: number[] = [];
    for (let cls = 0; cls < classes; cls++) {
      const next = children[0]!.get(cls);
      if (next !== undefined) {
        delta[cls] = next;
        queue.push(next);
      }
    }
    for (let head = 0; head < queue.length; head++) {
      const state = queue[head]!;
      ends[state]!.push(...ends[fail[state]!]!);
      for (let cls = 0; cls < classes; cls++) {
        const next = children[state]!.get(cls);
        if (next === undefined) {
          delta[state * classes + cls] = delta[fail[state]! * classes + cls]!;
        } else {
          fail[next] = delta[fail[state]! * classes + cls]!;
          delta[state * classes + cls] = next;
          queue.push(next);
        }
      }
    }
    this.table = new Int32Array(states * 128);
    for (let state = 0; state < states; state++) {
      for (let code = 0; code < 128; code++) {
        const next = delta[state * classes + classOf[code]!]!;
        this.table[state * 128 + code] = ends[next]!.length > 0 ? ~(next * 128) : next * 128;
      }
    }
    this.outStart = new Int32Array(states + 1);
    const flat: number[] = [];
    for (let state = 0; state < states; state++) {
      this.outStart[state] = flat.length;
      for (const index of new Set(ends[state])) flat.push(index);
    }
    this.outStart[states] = flat.length;
    this.outputs = Int32Array.from(flat);
  }

  /** For each keyword (by index), 1 when `text.toLowerCase()` contains it, else 0. */
  find(text: string): Uint8Array {
    const found = new Uint8Array(this.keywords.length);
    // Walked over the UTF-8 bytes: ASCII characters are single bytes, and every byte of any other
    // character takes the automaton back to its start, as that one character would (no keyword
    // character is outside ASCII); only the two that lower-case to ASCII need the lower-cased text.
    if (!this.run(text, found)) {
      found.fill(0);
      this.run(text.toLowerCase(), found);
    }
    if (this.other.length > 0) {
      const lower = text.toLowerCase();
      for (const index of this.other) if (lower.includes(this.keywords[index]!)) found[index] = 1;
    }
    return found;
  }

  /** False when the text holds a character that lower-cases to ASCII (the caller then lower-cases it and runs again). */
  private run(text: string, found: Uint8Array): boolean {
    const needed = text.length * 3;
    if (scratch.length < needed && needed <= KEPT_SCRATCH) scratch = new Uint8Array(Math.max(needed, Math.min(KEPT_SCRATCH, scratch.length * 2)));
    // Beyond the kept size, a buffer for this text alone (not held on to after a rare long text).
    const bytes = scratch.length >= needed ? scratch : new Uint8Array(needed);
    const length = encoder.encodeInto(text, bytes).written;
    const { table, outStart, outputs } = this;
    let row = 0;
    for (let i = 0; i < length; i++) {
      const byte = bytes[i]!;
      if (byte >= 0x80) {
        // U+0130 is C4 B0, U+212A is E2 84 AA in UTF-8; every other byte outside ASCII, like the character
        // it belongs to, matches no keyword character and takes the automaton back to its start.
        if (byte === 0xc4 ? bytes[i + 1] === 0xb0 : byte === 0xe2 && bytes[i + 1] === 0x84 && bytes[i + 2] === 0xaa) return false;
        row = 0;
        continue;
      }
      row = table[row + byte]!;
      if (row < 0) {
        row = ~row;
        const state = row >> 7;
        const to = outStart[state + 1]!;
        for (let k = outStart[state]!; k < to; k++) found[outputs[k]!] = 1;
      }
    }
    return true;
  }
}

const encoder = new TextEncoder();
/** Scratch space for a text's UTF-8 bytes (finding is synchronous, so one buffer serves every set). */
let scratch = new Uint8Array(3 * 4096);
const KEPT_SCRATCH = 3 * 64 * 1024;
