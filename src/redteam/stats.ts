/** Statistics for attack success rates: Wilson score intervals and the two-proportion z-test. */

/** 95% two-sided normal quantile. */
export const Z95 = 1.959963984540054;

/** Wilson score interval for `successes` out of `total` (the whole range [0, 1] when there are no trials). */
export function wilson(successes: number, total: number, z = Z95): [number, number] {
  if (total <= 0) return [0, 1];
  const p = successes / total;
  const z2 = z * z;
  const denominator = 1 + z2 / total;
  const centre = (p + z2 / (2 * total)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / total + z2 / (4 * total * total))) / denominator;
  return [round(Math.max(0, centre - half)), round(Math.min(1, centre + half))];
}

/**
 * One-sided two-proportion z-test that the rate went up from (s1/n1) to (s2/n2),
 * with the pooled standard error. Returns the p-value (1 when there is nothing to test).
 */
export function rateIncreasePValue(s1: number, n1: number, s2: number, n2: number): number {
  if (n1 <= 0 || n2 <= 0) return 1;
  const p1 = s1 / n1;
  const p2 = s2 / n2;
  const pooled = (s1 + s2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  if (se === 0) return p2 > p1 ? 0 : 1;
  return 1 - normalCdf((p2 - p1) / se);
}

/** Standard normal CDF (Abramowitz-Stegun 7.1.26 via erf; error < 1.5e-7). */
export function normalCdf(x: number): number {
  const t = 1 / (1 + 0.3275911 * (Math.abs(x) / Math.SQRT2));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-(x * x) / 2);
  return x >= 0 ? (1 + y) / 2 : (1 - y) / 2;
}

function round(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}
