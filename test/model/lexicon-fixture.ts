/**
 * The shipped trigger lexicon, a flat gibberish model and small feature settings, shared by the featurizer
 * and lexicon tests, and `concepts`: the lexicon concepts the featurizer finds in a text.
 */
import { readFileSync } from "node:fs";
import { compileLexicon, type LexiconSource } from "../../src/model/lexicon.js";
import { Trace, featurize, type GibberishModel } from "../../src/model/features.js";
import { CHAR_CLASSES, foldText } from "../../src/model/text.js";

export const lexiconSource = JSON.parse(readFileSync(new URL("../../data/model/lexicon.json", import.meta.url), "utf8")) as LexiconSource;
export const lexicon = compileLexicon(lexiconSource);
export const flat: GibberishModel = { nll: new Float32Array(CHAR_CLASSES * CHAR_CLASSES).fill(2), rareNll: 7, tokenNll: 4, neutralNll: 2 };
export const settings = { bucketBits: 16, window: 384, stride: 192 };

export function concepts(text: string): Set<string> {
  const trace = featurize(foldText(text), lexicon, flat, settings, new Trace());
  const found = new Set<string>();
  for (let k = 0; k < trace.conceptCount; k++) lexicon.concepts.forEach((name, c) => (trace.conceptMask[k]! & (1 << c) ? found.add(name) : undefined));
  return found;
}
