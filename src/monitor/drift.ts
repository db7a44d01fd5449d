/**
 * Drift: how recent traffic differs from its baseline, per principal and per
 * route. Detector scores and input lengths are compared as distributions with
 * the Population Stability Index and a two-sample Kolmogorov-Smirnov test; the
 * script mix and the block rate as categorical distributions with PSI; the
 * overall block and degraded rates over time with a two-sided CUSUM
 * change-point detector. Everything is computed from the store's histograms
 * (EventAggregates.distribution / mix / decisionSeries), so a baseline of
 * millions of decisions costs one aggregate query.
 */
import type { DriftMetric, DriftOptions } from "../policy/monitor.js";
import { binsFor, type DecisionBucket, type DistributionRow, type EventAggregates, type MixRow } from "../store/aggregates.js";

// ---------------------------------------------------------------------------
// Statistics

/** Proportions floored at this, so that an empty bin does not make PSI infinite. */
const PSI_FLOOR = 1e-4;

/**
 * Population Stability Index between two histograms over the same bins:
 * sum over bins of (actual - expected) * ln(actual / expected), on proportions.
 * 0 for identical distributions; customary reading: < 0.1 stable, 0.1-0.25 moderate, > 0.25 significant.
 */
export function psi(expected: readonly number[], actual: readonly number[]): number {
  if (expected.length !== actual.length) throw new Error(`psi: histograms differ in length (${expected.length} and ${actual.length})`);
  const e = proportions(expected);
  const a = proportions(actual);
  let sum = 0;
  for (let i = 0; i < e.length; i++) {
    const pe = Math.max(e[i]!, PSI_FLOOR);
    const pa = Math.max(a[i]!, PSI_FLOOR);
    sum += (pa - pe) * Math.log(pa / pe);
  }
  return sum;
}

function proportions(counts: readonly number[]): number[] {
  const total = counts.reduce((sum, c) => sum + c, 0);
  return counts.map((c) => (total === 0 ? 0 : c / total));
}

export interface KsResult {
  /** The largest distance between the two empirical distribution functions. */
  readonly d: number;
  /** Asymptotic p-value of "both samples come from one distribution". */
  readonly p: number;
}

/**
 * Two-sample Kolmogorov-Smirnov test on histograms over the same ordered bins.
 * Binning can only hide differences inside a bin, so D is at most the
 * unbinned statistic and the test is conservative.
 */
export function ksBinned(expected: readonly number[], actual: readonly number[]): KsResult {
  if (expected.length !== actual.length) throw new Error(`ksBinned: histograms differ in length (${expected.length} and ${actual.length})`);
  const n = expected.reduce((s, c) => s + c, 0);
  const m = actual.reduce((s, c) => s + c, 0);
  if (n === 0 || m === 0) return { d: 0, p: 1 };
  let ce = 0;
  let ca = 0;
  let d = 0;
  for (let i = 0; i < expected.length; i++) {
    ce += expected[i]!;
    ca += actual[i]!;
    d = Math.max(d, Math.abs(ce / n - ca / m));
  }
  return { d, p: ksPValue(d, n, m) };
}

/** Two-sample Kolmogorov-Smirnov test on raw samples (exact D; asymptotic p). */
export function ksSamples(a: readonly number[], b: readonly number[]): KsResult {
  if (a.length === 0 || b.length === 0) return { d: 0, p: 1 };
  const x = [...a].sort((p, q) => p - q);
  const y = [...b].sort((p, q) => p - q);
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const value = Math.min(x[i]!, y[j]!);
    while (i < x.length && x[i]! <= value) i++;
    while (j < y.length && y[j]! <= value) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return { d, p: ksPValue(d, x.length, y.length) };
}

/** P(D > d) for two samples of sizes n and m: the Kolmogorov distribution with Stephens' small-sample correction. */
export function ksPValue(d: number, n: number, m: number): number {
  const en = Math.sqrt((n * m) / (n + m));
  const lambda = (en + 0.12 + 0.11 / en) * d;
  return kolmogorovQ(lambda);
}

/** Q_KS(lambda) = 2 * sum_{j>=1} (-1)^(j-1) exp(-2 j^2 lambda^2). */
function kolmogorovQ(lambda: number): number {
  if (lambda < 1e-3) return 1;
  let sum = 0;
  let previous = 0;
  for (let j = 1; j <= 100; j++) {
    const term = 2 * (j % 2 === 1 ? 1 : -1) * Math.exp(-2 * j * j * lambda * lambda);
    sum += term;
    if (Math.abs(term) <= 1e-10 * Math.abs(sum) || Math.abs(term) <= 1e-12 * previous) return Math.min(1, Math.max(0, sum));
    previous = Math.abs(term);
  }
  return 1; // did not converge: lambda is tiny, the samples are indistinguishable
}

export interface ChangePoint {
  /** Index of the bucket where the shift began (the last bucket at which the cumulative sum was zero, plus one). */
  readonly start: number;
  /** Index of the bucket at which the cumulative sum passed the threshold. */
  readonly detected: number;
  readonly direction: "up" | "down";
  /** The cumulative sum when detected, in standard deviations. */
  readonly statistic: number;
}

/**
 * Two-sided CUSUM on rates: each bucket's rate (events / trials) is
 * standardised against the baseline rate p0 with the binomial standard
 * deviation for that bucket's trials; S+ and S- accumulate deviations beyond
 * the slack k, and a change point is reported when either passes h. Buckets
 * without trials are skipped. Returns the first change point, or null.
 */
export function cusum(buckets: ReadonlyArray<{ events: number; trials: number }>, p0: number, k: number, h: number): ChangePoint | null {
  // A baseline rate of exactly 0 or 1 has no variance; one event then would be infinitely surprising.
  const p = Math.min(Math.max(p0, 1e-4), 1 - 1e-4);
  let up = 0;
  let down = 0;
  let upStart = 0;
  let downStart = 0;
  for (let i = 0; i < buckets.length; i++) {
    const { events, trials } = buckets[i]!;
    if (trials <= 0) continue;
    const z = (events / trials - p) / Math.sqrt((p * (1 - p)) / trials);
    if (up === 0) upStart = i;
    if (down === 0) downStart = i;
    up = Math.max(0, up + z - k);
    down = Math.max(0, down - z - k);
    if (up > h) return { start: upStart, detected: i, direction: "up", statistic: up };
    if (down > h) return { start: downStart, detected: i, direction: "down", statistic: down };
  }
  return null;
}

// ---------------------------------------------------------------------------
// Evaluation

export interface DriftFinding {
  /** drift.score | drift.length | drift.script | drift.block_rate | drift.change_point */
  readonly type: string;
  readonly severity: "medium" | "high";
  readonly scope: "principal" | "route" | "all";
  /** The principal or route concerned ("*" for all traffic). */
  readonly key: string;
  readonly metric: DriftMetric | "degradedRate";
  readonly psi?: number;
  readonly ks?: KsResult;
  readonly baselineCount: number;
  readonly windowCount: number;
  readonly summary: string;
  readonly detail: Readonly<Record<string, string | number | boolean | null>>;
}

export interface DriftWindows {
  readonly baseline: { since: string; until: string };
  readonly window: { since: string; until: string };
}

/**
 * The recent window ending at `now`, and the baseline before it. The baseline
 * ends on the whole hour at or before the window's start, so it changes once an
 * hour and its histograms can be cached between ticks (a week of decisions is
 * the expensive read).
 */
export function driftWindows(now: Date, options: DriftOptions): DriftWindows {
  const end = now.getTime();
  const windowStart = end - options.windowMinutes * 60_000;
  const baselineEnd = Math.floor(windowStart / 3_600_000) * 3_600_000;
  const baselineStart = baselineEnd - options.baselineHours * 3_600_000;
  const iso = (t: number): string => new Date(t).toISOString();
  return { baseline: { since: iso(baselineStart), until: iso(baselineEnd) }, window: { since: iso(windowStart), until: iso(end) } };
}

const TYPE: Record<DriftMetric, string> = { score: "drift.score", length: "drift.length", script: "drift.script", blockRate: "drift.block_rate" };
const round = (x: number, digits = 4): number => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * Computes drift findings between the baseline and the recent window. Only
 * (scope, key) groups with at least `minSamples` decisions on both sides are judged.
 */
export async function detectDrift(store: EventAggregates, now: Date, options: DriftOptions, cache?: BaselineCache): Promise<DriftFinding[]> {
  const windows = driftWindows(now, options);
  const baseline = <T>(what: string, read: () => Promise<T>): Promise<T> => {
    if (!cache) return read();
    const key = `${what}|${windows.baseline.since}|${windows.baseline.until}`;
    cache.used.add(key);
    let value = cache.values.get(key) as Promise<T> | undefined;
    if (!value) {
      value = read();
      // A failed read is not kept.
      value.catch(() => cache.values.delete(key));
      cache.values.set(key, value);
    }
    return value;
  };
  const findings: DriftFinding[] = [];
  const metrics = new Set(options.metrics);
  for (const metric of ["score", "length"] as const) {
    if (!metrics.has(metric)) continue;
    const bins = binsFor(metric).length + 1;
    const [base, recent] = await Promise.all([baseline(metric, () => store.distribution({ ...windows.baseline, metric })), store.distribution({ ...windows.window, metric })]);
    for (const scope of ["principal", "route"] as const) {
      const expectedBy = histograms(base, scope, bins);
      const current = histograms(recent, scope, bins);
      for (const [key, actual] of current) {
        const expected = expectedBy.get(key);
        if (!expected) continue;
        const finding = compare(metric, scope, key, expected, actual, options, true);
        if (finding) findings.push(finding);
      }
    }
  }
  if (metrics.has("script") || metrics.has("blockRate")) {
    const [baselineMix, recent] = await Promise.all([baseline("mix", () => store.mix(windows.baseline)), store.mix(windows.window)]);
        for (const scope of ["principal", "route"] as const) {
      if (metrics.has("script")) {
        const scripts = [...new Set([...baselineMix, ...recent].map((row) => row.script))].sort();
        const base = categorical(baselineMix, scope, scripts, (row) => [row.script, row.decisions]);
        const current = categorical(recent, scope, scripts, (row) => [row.script, row.decisions]);
        for (const [key, actual] of current) {
          const expected = base.get(key);
          if (!expected) continue;
          const finding = compare("script", scope, key, expected, actual, options, false, scripts);
          if (finding) findings.push(finding);
        }
      }
      if (metrics.has("blockRate")) {
        const outcome = (row: MixRow): Array<[string, number]> => [
          ["block", row.blocks],
          ["pass", row.decisions - row.blocks],
        ];
        const base = categoricalMany(baselineMix, scope, ["block", "pass"], outcome);
        const current = categoricalMany(recent, scope, ["block", "pass"], outcome);
        for (const [key, actual] of current) {
          const expected = base.get(key);
          if (!expected) continue;
          const finding = compare("blockRate", scope, key, expected, actual, options, false, ["block", "pass"]);
          if (finding) findings.push(finding);
        }
      }
    }
  }
  findings.push(...(await changePoints(store, windows, options, baseline)));
  return findings;
}

/** Baseline reads kept between ticks; `used` collects this tick's keys so stale ones can be dropped (BaselineCache.prune). */
export class BaselineCache {
  readonly values = new Map<string, Promise<unknown>>();
  readonly used = new Set<string>();
  /** Forgets the baselines the last tick did not use. */
  prune(): void {
    for (const key of [...this.values.keys()]) if (!this.used.has(key)) this.values.delete(key);
    this.used.clear();
  }
}

function compare(
  metric: DriftMetric,
  scope: "principal" | "route",
  key: string,
  expected: number[],
  actual: number[],
  options: DriftOptions,
  ordered: boolean,
  labels?: readonly string[],
): DriftFinding | null {
  const baselineCount = expected.reduce((s, c) => s + c, 0);
  const windowCount = actual.reduce((s, c) => s + c, 0);
  if (baselineCount < options.minSamples || windowCount < options.minSamples) return null;
  const value = psi(expected, actual);
  if (value < options.psi.medium) return null;
  const ks = ordered ? ksBinned(expected, actual) : undefined;
  if (ks && ks.p >= options.ksAlpha) return null;
  const severity = value >= options.psi.high ? "high" : "medium";
  const detail: Record<string, string | number | boolean | null> = { scope, key, metric, psi: round(value), baselineCount, windowCount };
  if (ks) Object.assign(detail, { ksD: round(ks.d), ksP: ks.p < 1e-12 ? 0 : Number(ks.p.toPrecision(3)) });
  if (metric === "blockRate") Object.assign(detail, { baselineRate: round(expected[0]! / baselineCount), windowRate: round(actual[0]! / windowCount) });
  if (labels && metric === "script") {
    const share = (counts: number[], total: number): string => labels.map((label, i) => `${label} ${Math.round((100 * counts[i]!) / total)}%`).filter((s) => !s.endsWith(" 0%")).join(", ");
    Object.assign(detail, { baselineMix: share(expected, baselineCount), windowMix: share(actual, windowCount) });
  }
  const what = metric === "blockRate" ? `block rate ${pct(expected[0]! / baselineCount)} -> ${pct(actual[0]! / windowCount)}` : `${metric} distribution shifted`;
  return {
    type: TYPE[metric],
    severity,
    scope,
    key,
    metric,
    psi: value,
    ...(ks ? { ks } : {}),
    baselineCount,
    windowCount,
    summary: `Drift in ${scope} ${key}: ${what} (PSI ${value.toFixed(2)}${ks ? `, KS D ${ks.d.toFixed(2)}` : ""}; ${windowCount} decisions against ${baselineCount})`,
    detail,
  };
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

function histograms(rows: readonly DistributionRow[], scope: "principal" | "route", bins: number): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const row of rows) {
    const key = scope === "principal" ? row.principal : row.route;
    const histogram = out.get(key) ?? new Array<number>(bins).fill(0);
    histogram[Math.min(row.bin, bins - 1)]! += row.count;
    out.set(key, histogram);
  }
  return out;
}

function categorical(rows: readonly MixRow[], scope: "principal" | "route", labels: readonly string[], pick: (row: MixRow) => [string, number]): Map<string, number[]> {
  return categoricalMany(rows, scope, labels, (row) => [pick(row)]);
}

function categoricalMany(rows: readonly MixRow[], scope: "principal" | "route", labels: readonly string[], pick: (row: MixRow) => Array<[string, number]>): Map<string, number[]> {
  const index = new Map(labels.map((label, i) => [label, i]));
  const out = new Map<string, number[]>();
  for (const row of rows) {
    const key = scope === "principal" ? row.principal : row.route;
    const counts = out.get(key) ?? new Array<number>(labels.length).fill(0);
    for (const [label, count] of pick(row)) counts[index.get(label)!]! += count;
    out.set(key, counts);
  }
  return out;
}

/** CUSUM over the recent window's buckets of the overall block and degraded rates, against the baseline's rates. */
async function changePoints(
  store: EventAggregates,
  windows: DriftWindows,
  options: DriftOptions,
  cached: <T>(what: string, read: () => Promise<T>) => Promise<T>,
): Promise<DriftFinding[]> {
  if (!options.metrics.includes("blockRate")) return [];
  const bucketSeconds = options.changePoint.bucketMinutes * 60;
  const baselineSpan = Date.parse(windows.baseline.until) - Date.parse(windows.baseline.since);
  // The baseline rate from whole-baseline buckets (one query, at most 2000 buckets).
  const baselineBucket = Math.max(bucketSeconds, Math.ceil(baselineSpan / 1000 / 1900 / 3600) * 3600);
  const [baseline, recent] = await Promise.all([
    cached(`series:${baselineBucket}`, () => store.decisionSeries({ ...windows.baseline, bucketSeconds: baselineBucket })),
    store.decisionSeries({ ...windows.window, bucketSeconds }),
  ]);
  const total = (buckets: readonly DecisionBucket[], pick: (b: DecisionBucket) => number): number => buckets.reduce((s, b) => s + pick(b), 0);
  const baseTrials = total(baseline, (b) => b.total);
  const windowTrials = total(recent, (b) => b.total);
  if (baseTrials < options.minSamples || windowTrials < options.minSamples) return [];
  const out: DriftFinding[] = [];
  for (const [metric, pick] of [
    ["blockRate", (b: DecisionBucket) => b.block],
    ["degradedRate", (b: DecisionBucket) => b.degraded],
  ] as const) {
    const p0 = total(baseline, pick) / baseTrials;
    const point = cusum(
      recent.map((b) => ({ events: pick(b), trials: b.total })),
      p0,
      options.changePoint.k,
      options.changePoint.h,
    );
    if (!point) continue;
    const windowRate = total(recent, pick) / windowTrials;
    const name = metric === "blockRate" ? "block rate" : "degraded rate";
    out.push({
      type: "drift.change_point",
      severity: point.statistic > 2 * options.changePoint.h ? "high" : "medium",
      scope: "all",
      key: "*",
      metric,
      baselineCount: baseTrials,
      windowCount: windowTrials,
      summary: `Change point in the overall ${name}: ${point.direction} from ${pct(p0)} (baseline) to ${pct(windowRate)} since ${recent[point.start]!.start}`,
      detail: {
        scope: "all",
        key: "*",
        metric,
        direction: point.direction,
        since: recent[point.start]!.start,
        detectedAt: recent[point.detected]!.start,
        cusum: round(point.statistic, 2),
        baselineRate: round(p0),
        windowRate: round(windowRate),
      },
    });
  }
  return out;
}
