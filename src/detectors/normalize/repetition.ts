/**
 * Runaway repetition: one character or a short unit repeated back to back more
 * than a limit. Linear time without regular expressions: for each unit length L
 * the text is sampled every limit*L characters (any long enough run must cover a
 * sample), and only a sample that continues a period-L run is extended both ways.
 * Runs already reported at a shorter period are skipped, so each run is walked
 * about once per unit length: O(n * maxUnit) in the worst case, O(n / limit) typically. A run is extended
 * by comparing blocks of units with the ones a period earlier, so the walk along a flood runs in native code.
 */

export interface RepetitionRun {
  /** UTF-16 offsets of the whole repeated region. */
  readonly start: number;
  readonly end: number;
  /** The repeated unit, in UTF-16 units. */
  readonly unitLength: number;
  readonly repeats: number;
}

export const MAX_UNIT_LENGTH = 16;
const MAX_RUNS = 8;
/** Units compared at once while a run is extended. */
const BLOCK = 256;

export function findRepetition(text: string, maxRepeats: number, maxUnitLength = MAX_UNIT_LENGTH): RepetitionRun[] {
  const runs: RepetitionRun[] = [];
  const length = text.length;
  for (let unit = 1; unit <= maxUnitLength; unit++) {
    if (length < (maxRepeats + 1) * unit) break;
    // A run of more than maxRepeats units has at least maxRepeats*unit positions where text[i] === text[i - unit].
    const stride = maxRepeats * unit;
    let sample = stride;
    while (sample < length) {
      const covering = runs.find((run) => sample >= run.start && sample < run.end);
      if (covering !== undefined) {
        sample = covering.end + stride;
        continue;
      }
      if (text.charCodeAt(sample) !== text.charCodeAt(sample - unit)) {
        sample += stride;
        continue;
      }
      // Extended a block at a time while whole blocks continue the period (string equality: a native comparison,
      // ten times faster than a loop over units), then unit by unit.
      let first = sample;
      while (first - BLOCK >= unit && text.substring(first - BLOCK - unit, first - unit) === text.substring(first - BLOCK, first)) first -= BLOCK;
      while (first - 1 >= unit && text.charCodeAt(first - 1) === text.charCodeAt(first - 1 - unit)) first--;
      let end = sample + 1;
      while (end + BLOCK <= length && text.substring(end - unit, end - unit + BLOCK) === text.substring(end, end + BLOCK)) end += BLOCK;
      while (end < length && text.charCodeAt(end) === text.charCodeAt(end - unit)) end++;
      const start = first - unit;
      const repeats = Math.floor((end - start) / unit);
      if (repeats > maxRepeats) {
        runs.push({ start, end, unitLength: unit, repeats });
        if (runs.length >= MAX_RUNS) return runs;
      }
      sample = end + stride;
    }
  }
  return runs.sort((a, b) => a.start - b.start);
}
