/**
 * A cheap guess at the writing system of a text, for drift: the Unicode script
 * with the most letters among the first 2 000 code points. It is not language
 * identification (English and German are both `latin`; Japanese mixes `han`
 * with kana, reported as `japanese` when any kana appears) but a shift in the
 * script mix of a principal's traffic is what the monitor watches for.
 */
const SCRIPTS: ReadonlyArray<readonly [string, RegExp]> = [
  ["latin", /\p{Script=Latin}/u],
  ["cyrillic", /\p{Script=Cyrillic}/u],
  ["greek", /\p{Script=Greek}/u],
  ["arabic", /\p{Script=Arabic}/u],
  ["hebrew", /\p{Script=Hebrew}/u],
  ["devanagari", /\p{Script=Devanagari}/u],
  ["thai", /\p{Script=Thai}/u],
  ["hangul", /\p{Script=Hangul}/u],
  ["kana", /[\p{Script=Hiragana}\p{Script=Katakana}]/u],
  ["han", /\p{Script=Han}/u],
];
const LETTER = /\p{L}/u;
const SAMPLE = 2_000;

export type ScriptName = "latin" | "cyrillic" | "greek" | "arabic" | "hebrew" | "devanagari" | "thai" | "hangul" | "han" | "japanese" | "other" | "none";

export function guessScript(text: string): ScriptName {
  const counts = new Map<string, number>();
  let letters = 0;
  let seen = 0;
  for (const char of text) {
    if (++seen > SAMPLE) break;
    if (!LETTER.test(char)) continue;
    letters++;
    const script = SCRIPTS.find(([, pattern]) => pattern.test(char))?.[0] ?? "other";
    counts.set(script, (counts.get(script) ?? 0) + 1);
  }
  if (letters === 0) return "none";
  if (counts.has("kana")) return "japanese";
  let best = "other";
  let most = 0;
  for (const [script, count] of counts) {
    if (count > most) {
      best = script;
      most = count;
    }
  }
  return best as ScriptName;
}
