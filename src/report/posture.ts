/**
 * The posture report: one document combining threat-model coverage, the latest
 * scan results, the guard policy in force and monitoring statistics for a
 * period, mapped to the OWASP LLM Top 10 (2025), the OWASP Agentic Top 10,
 * MITRE ATLAS, the NIST AI RMF functions and EU AI Act article 15. Everything
 * in it is measured or read from a file; what is missing is said to be missing.
 */
import { CATEGORIES, type Category } from "../policy/categories.js";
import type { LoadedPolicy } from "../policy/load.js";
import type { ScanResultsData } from "../redteam/results.js";
import type { CategoryCount, Containment, DecisionBucket, EventAggregates, LatencyPercentiles, PrincipalCount, SignalCount } from "../store/aggregates.js";
import { controlStatus, isInPlace } from "../threats/coverage.js";
import { builtInLibrary } from "../threats/library.js";
import type { MitigationStatus, ThreatReport } from "../threats/report.js";
import { evaluateObjectives, type ObjectivesReport } from "../monitor/objectives.js";
import { OWASP_AGENTIC_NAMES, OWASP_LLM_NAMES } from "./frameworks.js";

export interface PostureInput {
  readonly since: Date;
  readonly until: Date;
  /** The event store, or null when there is none to read (the report says so). */
  readonly store: { readonly aggregates: EventAggregates; readonly description: string } | null;
  readonly policy: LoadedPolicy;
  readonly threats: ThreatReport | null;
  readonly scan: { readonly source: string; readonly results: ScanResultsData } | null;
  /** Defaults to `until`; pass it for reproducible output. */
  readonly generatedAt?: string;
}

export interface Monitoring {
  readonly store: string;
  readonly bucketSeconds: number;
  readonly series: readonly DecisionBucket[];
  readonly totals: { readonly decisions: number; readonly blocks: number; readonly flags: number; readonly redacts: number; readonly degraded: number; readonly blockRate: number };
  readonly latencyUs: LatencyPercentiles | null;
  readonly topPrincipals: readonly PrincipalCount[];
  readonly categories: readonly CategoryCount[];
  readonly containment: Containment;
  readonly signals: readonly SignalCount[];
  readonly objectives: ObjectivesReport;
}

export interface FrameworkRow {
  readonly id: string;
  readonly name: string;
  /** Guard categories that map to it. */
  readonly categories: readonly string[];
  /** Decisions in the period naming one of those categories, and how many were blocked. */
  readonly decisions: number | null;
  readonly blocked: number | null;
  /** Scan attempts with a verdict that map to it, and how many the attack won. */
  readonly scanned: number | null;
  readonly scanFailed: number | null;
  /** Threats of the model that map to it, and how many are open. */
  readonly threats: number | null;
  readonly openThreats: number | null;
  /** Policy controls (from the threat library) for those threats: in place of listed. */
  readonly controlsInPlace: number | null;
  readonly controlsListed: number | null;
}

export interface PostureReport {
  readonly period: { readonly since: string; readonly until: string };
  readonly generatedAt: string;
  readonly policy: {
    readonly name: string;
    readonly source: string;
    readonly hash: string;
    readonly failureMode: string;
    readonly layers: ReadonlyArray<{ name: string; enabled: boolean; failureMode: string | null }>;
    readonly monitor: LoadedPolicy["policy"]["monitor"];
  };
  readonly controls: readonly MitigationStatus[];
  readonly threats: null | {
    readonly model: string;
    readonly summary: ThreatReport["summary"];
    readonly top: ReadonlyArray<{ id: string; title: string; residual: string; status: string; owasp: readonly string[] }>;
  };
  readonly scan: null | {
    readonly source: string;
    readonly target: string;
    readonly finishedAt: string;
    readonly policyHash: string | null;
    readonly summary: ScanResultsData["summary"];
    readonly categories: ScanResultsData["categories"];
  };
  readonly monitoring: Monitoring | null;
  readonly owaspLlm: readonly FrameworkRow[];
  readonly owaspAgentic: readonly FrameworkRow[];
  readonly atlas: readonly FrameworkRow[];
}

export async function buildPostureReport(input: PostureInput): Promise<PostureReport> {
  const policy = input.policy.policy;
  const library = builtInLibrary();
  const declared = new Set<string>(
    (input.threats?.controls ?? []).filter((c) => c.kind === "organisational" && c.status === "declared").map((c) => c.id),
  );
  const controls = [...library.controls.values()].map((control) => controlStatus(control, policy, declared)).sort((a, b) => a.id.localeCompare(b.id));
  const period = alignPeriod(input.since, input.until);
  const monitoring = input.store ? await monitoringStats(input.store.aggregates, input.store.description, period.since, period.until, period.bucketSeconds, input.policy, input.until) : null;
  const cases = input.scan?.results.cases.filter((c) => c.outcome !== "error") ?? null;

  const row = (id: string, name: string, pick: (info: { owasp: readonly string[]; agentic: readonly string[]; atlas: readonly string[] }) => readonly string[]): FrameworkRow => {
    const categories = (Object.keys(CATEGORIES) as Category[]).filter((category) => pick(CATEGORIES[category]).includes(id));
    const inCategory = monitoring?.categories.filter((c) => categories.includes(c.category as Category)) ?? null;
    const matchingCases = cases?.filter((c) => pick(c).includes(id)) ?? null;
    const threats = input.threats?.threats.filter((t) => pick({ owasp: t.owasp, agentic: t.agentic, atlas: t.atlas.map((a) => a.id) }).includes(id)) ?? null;
    const listed = new Map<string, MitigationStatus>();
    for (const threat of threats ?? []) for (const m of threat.mitigations) if (m.kind === "policy") listed.set(m.id, m);
    return {
      id,
      name,
      categories,
      decisions: inCategory ? inCategory.reduce((s, c) => s + c.decisions, 0) : null,
      blocked: inCategory ? inCategory.reduce((s, c) => s + c.blocks, 0) : null,
      scanned: matchingCases ? matchingCases.length : null,
      scanFailed: matchingCases ? matchingCases.filter((c) => c.outcome === "failed").length : null,
      threats: threats ? threats.length : null,
      openThreats: threats ? threats.filter((t) => t.risk.status === "open").length : null,
      controlsInPlace: threats ? [...listed.values()].filter((m) => isInPlace(m.status)).length : null,
      controlsListed: threats ? listed.size : null,
    };
  };
  const atlasIds = new Set<string>();
  for (const info of Object.values(CATEGORIES)) for (const id of info.atlas) atlasIds.add(id);
  for (const c of cases ?? []) for (const id of c.atlas) atlasIds.add(id);
  for (const t of input.threats?.threats ?? []) for (const a of t.atlas) atlasIds.add(a.id);

  return {
    period: { since: period.since.toISOString(), until: period.until.toISOString() },
    generatedAt: input.generatedAt ?? input.until.toISOString(),
    policy: {
      name: policy.name,
      source: input.policy.source,
      hash: input.policy.hash,
      failureMode: policy.failureMode,
      layers: Object.entries(policy.layers).map(([name, layer]) => {
        const options = layer as { enabled?: boolean; failureMode?: string };
        return { name, enabled: options.enabled !== false, failureMode: options.failureMode ?? null };
      }),
      monitor: policy.monitor,
    },
    controls,
    threats: input.threats
      ? {
          model: input.threats.model.name,
          summary: input.threats.summary,
          top: input.threats.threats
            .filter((t) => t.risk.status === "open")
            .slice(0, 10)
            .map((t) => ({ id: t.id, title: t.title, residual: `${t.residual.severity} ${t.residual.score}`, status: t.risk.status, owasp: t.owasp })),
        }
      : null,
    scan: input.scan
      ? {
          source: input.scan.source,
          target: input.scan.results.manifest.target,
          finishedAt: input.scan.results.manifest.finishedAt,
          policyHash: input.scan.results.manifest.policyHash ?? null,
          summary: input.scan.results.summary,
          categories: input.scan.results.categories,
        }
      : null,
    monitoring,
    owaspLlm: Object.entries(OWASP_LLM_NAMES).map(([id, name]) => row(id, name, (i) => i.owasp)),
    owaspAgentic: Object.entries(OWASP_AGENTIC_NAMES).map(([id, name]) => row(id, name, (i) => i.agentic)),
    atlas: [...atlasIds].sort().map((id) => row(id, library.atlasNames.get(id) ?? id, (i) => i.atlas)),
  };
}

/** The period widened to whole buckets (hours up to two days, else UTC days), so that the series and the totals agree. */
export function alignPeriod(since: Date, until: Date): { since: Date; until: Date; bucketSeconds: number } {
  const bucketSeconds = until.getTime() - since.getTime() <= 2 * 86_400_000 ? 3600 : 86_400;
  const width = bucketSeconds * 1000;
  return { since: new Date(Math.floor(since.getTime() / width) * width), until: new Date(Math.ceil(until.getTime() / width) * width), bucketSeconds };
}

async function monitoringStats(store: EventAggregates, description: string, since: Date, until: Date, bucketSeconds: number, policy: LoadedPolicy, objectivesAt: Date): Promise<Monitoring> {
  const window = { since: since.toISOString(), until: until.toISOString() };
  const [series, latencyUs, topPrincipals, categories, containment, signals, objectives] = await Promise.all([
    store.decisionSeries({ ...window, bucketSeconds }),
    store.latency(window),
    store.topPrincipals({ ...window, limit: 10 }),
    store.categoryCounts(window),
    store.containment(window),
    store.signalCounts(window),
    evaluateObjectives(store, objectivesAt, policy.policy.monitor.objectives),
  ]);
  // The period is whole buckets, so the series adds up to the period's totals.
  const sum = (pick: (b: DecisionBucket) => number): number => series.reduce((s, b) => s + pick(b), 0);
  const decisions = sum((b) => b.total);
  const blocks = sum((b) => b.block);
  return {
    store: description,
    bucketSeconds,
    series,
    totals: { decisions, blocks, flags: sum((b) => b.flag), redacts: sum((b) => b.redact), degraded: sum((b) => b.degraded), blockRate: decisions ? blocks / decisions : 0 },
    latencyUs,
    topPrincipals,
    categories,
    containment,
    signals,
    objectives,
  };
}
