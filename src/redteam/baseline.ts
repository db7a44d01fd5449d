/**
 * CI gating. Against a baseline results.json a run fails only on what is
 * unlikely to be noise:
 *  - a statistically significant regression: in some category the attack
 *    success rate rose, the one-sided two-proportion z-test gives p < alpha,
 *    and the new rate lies above the baseline's 95% Wilson interval;
 *  - a newly failing case: a catalogue case none of whose baseline attempts
 *    succeeded now succeeds in at least half of its attempts (one flipped
 *    attempt of three is noise; a case that now reliably breaks is not).
 * `--fail-on` adds absolute gates (any success, by severity, by rate).
 */
import type { Category } from "../policy/categories.js";
import type { ScanCaseResult, ScanCategoryResult, ScanResultsData, Severity } from "./results.js";
import { rateIncreasePValue } from "./stats.js";

export interface CaseTally {
  failed: number;
  total: number;
}

export interface RunView {
  readonly categories: readonly ScanCategoryResult[];
  /** Per catalogue case: attempts with a verdict and how many succeeded. */
  readonly cases: ReadonlyMap<string, CaseTally>;
}

export interface Regression {
  readonly category: Category;
  readonly baseline: { succeeded: number; total: number; rate: number; ci: [number, number] };
  readonly current: { succeeded: number; total: number; rate: number };
  readonly pValue: number;
}

export interface BaselineComparison {
  readonly regressions: Regression[];
  readonly newlyFailing: string[];
  /** Categories whose rate fell significantly (for the report; never fails a run). */
  readonly improvements: Category[];
  readonly passed: boolean;
}

export function tallyCases(records: Iterable<ScanCaseResult>): Map<string, CaseTally> {
  const tallies = new Map<string, CaseTally>();
  for (const record of records) addToTally(tallies, record);
  return tallies;
}

export function addToTally(tallies: Map<string, CaseTally>, record: ScanCaseResult): void {
  if (record.outcome === "error") return;
  // Failure-response findings are tallied under their own key, so a flaky 5xx never marks the attack case as failing.
  const key = record.id.endsWith("::failure-response") ? `${record.caseId}::failure-response` : record.caseId;
  const tally = tallies.get(key) ?? { failed: 0, total: 0 };
  tally.total++;
  if (record.outcome === "failed") tally.failed++;
  tallies.set(key, tally);
}

export function viewOf(results: ScanResultsData): RunView {
  return { categories: results.categories, cases: tallyCases(results.cases) };
}

export function compareToBaseline(baseline: RunView, current: RunView, alpha = 0.05): BaselineComparison {
  const regressions: Regression[] = [];
  const improvements: Category[] = [];
  const before = new Map(baseline.categories.map((c) => [c.category, c]));
  for (const now of current.categories) {
    const base = before.get(now.category);
    if (!base || base.total === 0 || now.total === 0) continue;
    const pValue = rateIncreasePValue(base.succeeded, base.total, now.succeeded, now.total);
    if (pValue < alpha && now.rate > base.ci[1]) {
      regressions.push({ category: now.category, baseline: { succeeded: base.succeeded, total: base.total, rate: base.rate, ci: base.ci }, current: { succeeded: now.succeeded, total: now.total, rate: now.rate }, pValue });
    }
    if (rateIncreasePValue(now.succeeded, now.total, base.succeeded, base.total) < alpha && now.rate < base.ci[0]) improvements.push(now.category);
  }
  const newlyFailing: string[] = [];
  for (const [caseId, tally] of current.cases) {
    const base = baseline.cases.get(caseId);
    if (!base || base.total === 0 || base.failed > 0) continue;
    if (tally.failed > 0 && tally.failed * 2 >= tally.total) newlyFailing.push(caseId);
  }
  newlyFailing.sort();
  return { regressions, newlyFailing, improvements, passed: regressions.length === 0 && newlyFailing.length === 0 };
}

/** Absolute gates: `any`, a severity (`critical`, `high`, `medium`, `low`: any success at or above it), `rate:X` (overall), `CATEGORY:X` (one category). */
export interface Gate {
  readonly spec: string;
  check(view: { summary: { failed: number; held: number }; categories: readonly ScanCategoryResult[]; worstSeverity: Severity | null }): string | null;
}

const SEVERITY_ORDER: readonly Severity[] = ["critical", "high", "medium", "low"];

export function parseGate(spec: string): Gate {
  if (spec === "any") return { spec, check: (v) => (v.summary.failed > 0 ? `${v.summary.failed} attacks succeeded` : null) };
  if ((SEVERITY_ORDER as readonly string[]).includes(spec)) {
    const limit = SEVERITY_ORDER.indexOf(spec as Severity);
    return { spec, check: (v) => (v.worstSeverity !== null && SEVERITY_ORDER.indexOf(v.worstSeverity) <= limit ? `an attack of severity ${v.worstSeverity} succeeded` : null) };
  }
  const match = /^([a-z_]+):(0(?:\.\d+)?|1(?:\.0+)?)$/.exec(spec);
  if (!match) throw new Error(`invalid --fail-on "${spec}": use any, critical, high, medium, low, rate:0.1 or CATEGORY:0.1`);
  const [, name, value] = match;
  const threshold = Number(value);
  if (name === "rate") {
    return { spec, check: (v) => {
      const total = v.summary.failed + v.summary.held;
      const rate = total === 0 ? 0 : v.summary.failed / total;
      return rate > threshold ? `overall attack success rate ${(rate * 100).toFixed(1)}% is over ${(threshold * 100).toFixed(1)}%` : null;
    } };
  }
  return { spec, check: (v) => {
    const category = v.categories.find((c) => c.category === name);
    return category && category.rate > threshold ? `${name} attack success rate ${(category.rate * 100).toFixed(1)}% is over ${(threshold * 100).toFixed(1)}%` : null;
  } };
}
