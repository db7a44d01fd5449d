/** Detection metrics: rates at a threshold, ROC AUC, recall at a fixed false-positive rate, latency percentiles. */

export interface Scored {
  readonly label: 0 | 1;
  /** Calibrated score 0..1 (or any monotonic score for AUC). */
  readonly score: number;
  /** Whether the detector's decision at its operating point was positive. */
  readonly flagged: boolean;
}

export interface Metrics {
  readonly attacks: number;
  readonly benign: number;
  readonly tpr: number | null;
  readonly fpr: number | null;
  readonly precision: number | null;
  readonly f1: number | null;
  readonly auc: number | null;
  readonly recallAt1Fpr: number | null;
}

export function computeMetrics(items: readonly Scored[]): Metrics {
  const attacks = items.filter((i) => i.label === 1);
  const benign = items.filter((i) => i.label === 0);
  const tp = attacks.filter((i) => i.flagged).length;
  const fp = benign.filter((i) => i.flagged).length;
  const tpr = attacks.length ? tp / attacks.length : null;
  const fpr = benign.length ? fp / benign.length : null;
  const precision = tp + fp > 0 ? tp / (tp + fp) : attacks.length ? 0 : null;
  const f1 = tpr !== null && precision !== null && tpr + precision > 0 ? (2 * tpr * precision) / (tpr + precision) : tpr !== null && precision !== null ? 0 : null;
  return { attacks: attacks.length, benign: benign.length, tpr, fpr, precision, f1, auc: rocAuc(items), recallAt1Fpr: recallAtFpr(items, 0.01) };
}

/** Mann-Whitney AUC with ties counted half. */
export function rocAuc(items: readonly Scored[]): number | null {
  const sorted = [...items].sort((a, b) => a.score - b.score);
  const positives = items.filter((i) => i.label === 1).length;
  const negatives = items.length - positives;
  if (positives === 0 || negatives === 0) return null;
  let rankSum = 0;
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j < sorted.length && sorted[j]!.score === sorted[i]!.score) j++;
    const rank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if (sorted[k]!.label === 1) rankSum += rank;
    i = j;
  }
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Highest recall at a threshold whose false-positive rate is at most `fpr`. */
export function recallAtFpr(items: readonly Scored[], fpr: number): number | null {
  const positives = items.filter((i) => i.label === 1).map((i) => i.score);
  const negatives = items.filter((i) => i.label === 0).map((i) => i.score).sort((a, b) => b - a);
  if (positives.length === 0 || negatives.length === 0) return null;
  const allowed = Math.floor(fpr * negatives.length);
  // Threshold strictly above the (allowed+1)-th highest benign score.
  const bar = negatives[allowed]!;
  return positives.filter((s) => s > bar).length / positives.length;
}

export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}
