/**
 * A cheap guess at the writing system of a text, for drift: the script with
 * the most letters among the first 400 letters, by Unicode block ranges. It is
 * not language identification (English and German are both `latin`; Japanese
 * mixes `han` with kana and is reported as `japanese` when any kana appears),
 * but a shift in the script mix of a principal's traffic is what the monitor
 * watches for. Runs on the gateway's request path: a few microseconds.
 */
export type ScriptName = "latin" | "cyrillic" | "greek" | "arabic" | "hebrew" | "devanagari" | "thai" | "hangul" | "han" | "japanese" | "other" | "none";

const NAMES = ["latin", "cyrillic", "greek", "arabic", "hebrew", "devanagari", "thai", "hangul", "kana", "han", "other"] as const;
const [LATIN, CYRILLIC, GREEK, ARABIC, HEBREW, DEVANAGARI, THAI, HANGUL, KANA, HAN, OTHER] = NAMES.map((_, i) => i) as number[] as [number, number, number, number, number, number, number, number, number, number, number];
/** [first, last, script] code-unit ranges (BMP; astral letters count as other). */
const RANGES: ReadonlyArray<readonly [number, number, number]> = [
  [0x00c0, 0x024f, LATIN],
  [0x0370, 0x03ff, GREEK],
  [0x0400, 0x052f, CYRILLIC],
  [0x0590, 0x05ff, HEBREW],
  [0x0600, 0x06ff, ARABIC],
  [0x0750, 0x077f, ARABIC],
  [0x0900, 0x097f, DEVANAGARI],
  [0x0e00, 0x0e7f, THAI],
  [0x1100, 0x11ff, HANGUL],
  [0x1e00, 0x1eff, LATIN],
  [0x1f00, 0x1fff, GREEK],
  [0x3040, 0x30ff, KANA],
  [0x3130, 0x318f, HANGUL],
  [0x3400, 0x4dbf, HAN],
  [0x4e00, 0x9fff, HAN],
  [0xac00, 0xd7af, HANGUL],
  [0xf900, 0xfaff, HAN],
  [0xff66, 0xff9f, KANA],
];
const LETTER = /\p{L}/u;
const SAMPLE = 400;

export function guessScript(text: string): ScriptName {
  const counts = new Array<number>(NAMES.length).fill(0);
  let letters = 0;
  const end = Math.min(text.length, 8 * SAMPLE);
  for (let i = 0; i < end && letters < SAMPLE; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) {
      if ((code | 0x20) >= 0x61 && (code | 0x20) <= 0x7a) {
        counts[LATIN]!++;
        letters++;
      }
      continue;
    }
    if (code >= 0xd800 && code <= 0xdfff) continue; // astral characters: rare in prose, skipped
    const script = scriptOf(code);
    if (script >= 0) {
      // The blocks contain a few non-letters (signs, digits); close enough for a mix.
      counts[script]!++;
      letters++;
    } else if (LETTER.test(text[i]!)) {
      counts[OTHER]!++;
      letters++;
    }
  }
  if (letters === 0) return "none";
  if (counts[KANA]! > 0) return "japanese";
  let best = OTHER;
  for (let script = 0; script < counts.length; script++) if (counts[script]! > counts[best]!) best = script;
  return NAMES[best] as ScriptName;
}

/** The script of a BMP code unit by RANGES, or -1 (a plain loop: this runs per character on the request path). */
function scriptOf(code: number): number {
  for (const [first, last, script] of RANGES) if (code >= first && code <= last) return script;
  return -1;
}
