/**
 * Held-out evaluation of any detector over labelled sets: per set and overall
 * TPR, FPR, precision, F1, ROC AUC, recall at 1% FPR, latency p50/p99.
 */
import { computeMetrics, percentile, type Metrics, type Scored } from "./metrics.js";

export interface EvalItem {
  readonly text: string;
  readonly label: 0 | 1;
  readonly role: "user" | "document" | "tool" | "system" | "assistant";
  readonly set: string;
}

export interface DetectorVerdict {
  readonly score: number;
  readonly flagged: boolean;
}

export interface EvalRow extends Metrics {
  readonly set: string;
  readonly p50Us: number;
  readonly p99Us: number;
}

export async function evaluateDetector(items: readonly EvalItem[], run: (item: EvalItem) => DetectorVerdict | Promise<DetectorVerdict>): Promise<EvalRow[]> {
  const bySet = new Map<string, { scored: Scored[]; micros: number[] }>();
  const all = { scored: [] as Scored[], micros: [] as number[] };
  // Warm-up (JIT, lazily loaded tables) is not part of the per-call latency.
  for (const item of items.slice(0, 20)) await run(item);
  for (const item of items) {
    const started = process.hrtime.bigint();
    const verdict = await run(item);
    const micros = Number(process.hrtime.bigint() - started) / 1000;
    const entry = bySet.get(item.set) ?? { scored: [], micros: [] };
    const scored: Scored = { label: item.label, score: verdict.score, flagged: verdict.flagged };
    entry.scored.push(scored);
    entry.micros.push(micros);
    bySet.set(item.set, entry);
    all.scored.push(scored);
    all.micros.push(micros);
  }
  const rows: EvalRow[] = [...bySet.keys()].sort().map((set) => {
    const entry = bySet.get(set)!;
    return { set, ...computeMetrics(entry.scored), p50Us: percentile(entry.micros, 0.5), p99Us: percentile(entry.micros, 0.99) };
  });
  rows.push({ set: "overall", ...computeMetrics(all.scored), p50Us: percentile(all.micros, 0.5), p99Us: percentile(all.micros, 0.99) });
  return rows;
}

const pct = (v: number | null): string => (v === null ? "-" : (100 * v).toFixed(1));
const num = (v: number | null): string => (v === null ? "-" : v.toFixed(3));

export const EVAL_HEADER = ["set", "attacks", "benign", "TPR %", "FPR %", "precision %", "F1", "ROC AUC", "recall@1%FPR %", "p50 µs", "p99 µs"];

export function evalRowCells(row: EvalRow): string[] {
  return [row.set, String(row.attacks), String(row.benign), pct(row.tpr), pct(row.fpr), pct(row.precision), num(row.f1), num(row.auc), pct(row.recallAt1Fpr), row.p50Us.toFixed(0), row.p99Us.toFixed(0)];
}

/** A GitHub-flavoured markdown table. */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}
