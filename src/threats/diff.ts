/** Comparing a report with a baseline report (`--diff BASELINE.json`): what is new, gone, or changed severity. */
import { ThreatReportSchema, type ThreatReport } from "./report.js";
import { describeValue, ThreatModelError } from "./problems.js";

export function diffReports(baseline: ThreatReport, current: Omit<ThreatReport, "diff">, source: string): NonNullable<ThreatReport["diff"]> {
  const before = new Map(baseline.threats.map((t) => [t.id, t]));
  const after = new Map(current.threats.map((t) => [t.id, t]));
  return {
    baseline: source,
    libraryChanged: baseline.library.version !== current.library.version || baseline.library.name !== current.library.name,
    added: current.threats.filter((t) => !before.has(t.id)).map((t) => t.id),
    removed: baseline.threats.filter((t) => !after.has(t.id)).map((t) => ({ id: t.id, title: t.title, severity: t.residual.severity })),
    changed: current.threats.flatMap((t) => {
      const old = before.get(t.id);
      return old && old.residual.severity !== t.residual.severity ? [{ id: t.id, from: old.residual.severity, to: t.residual.severity }] : [];
    }),
  };
}

/** Reads a baseline: a report this command wrote with --format json. */
export function parseBaseline(text: string, source: string): ThreatReport {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ThreatModelError(source, [{ path: "", expected: "a JSON threat report (bulwark threats --format json)", found: (error as Error).message }], "baseline report");
  }
  const result = ThreatReportSchema.safeParse(value, { reportInput: true });
  if (!result.success) {
    throw new ThreatModelError(
      source,
      result.error.issues.slice(0, 20).map((i) => ({ path: i.path.map(String).join("."), expected: i.message, found: describeValue((i as { input?: unknown }).input) })),
      "baseline report",
    );
  }
  return result.data;
}
