/** Choosing calibration points: raw scores reached by given fractions of benign inputs, each benign set weighted equally. */
import type { CalibrationPoint } from "./model.js";

export const CALIBRATION_FPRS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5] as const;

export function calibrationPoints(scores: ReadonlyArray<{ readonly raw: number; readonly set: string }>): CalibrationPoint[] {
  const perSet = new Map<string, number>();
  for (const s of scores) perSet.set(s.set, (perSet.get(s.set) ?? 0) + 1);
  const weighted = scores.map((s) => ({ raw: s.raw, weight: 1 / perSet.get(s.set)! / perSet.size })).sort((a, b) => b.raw - a.raw || a.weight - b.weight);
  return CALIBRATION_FPRS.map((fpr) => {
    let cumulative = 0;
    for (const item of weighted) {
      cumulative += item.weight;
      if (cumulative >= fpr) return { fpr, raw: Math.fround(item.raw) };
    }
    return { fpr, raw: Math.fround(weighted[weighted.length - 1]?.raw ?? 0) };
  });
}
