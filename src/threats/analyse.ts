/**
 * The analysis: model + library → threats, scored, with coverage from a guard
 * policy, evidence from scan results, risk decisions from the model, residual
 * risk, priority order and, given a baseline, what changed. Pure apart from
 * its inputs; the same inputs give the same report, byte for byte once
 * rendered.
 *
 * Residual risk (docs/threat-modeling.md):
 *   credit   = floor(2 × controls in place / controls listed)      0, 1 or 2
 *   evidence: tested_failed → credit 0 (the controls did not hold);
 *             tested_held   → one more point of credit
 *   residual likelihood = max(1, likelihood − credit); impact unchanged.
 */
import { VERSION } from "../version.js";
import type { LoadedPolicy } from "../policy/load.js";
import { diffReports } from "./diff.js";
import { evaluateRules, type MatchedThreat } from "./engine.js";
import { evidenceFor, caseMatches, type LoadedEvidence } from "./evidence.js";
import { ModelGraph } from "./facts.js";
import { controlStatus, isInPlace } from "./coverage.js";
import { composeLibrary, type LibrarySource, type ThreatLibrary } from "./library.js";
import type { LoadedModel } from "./load-model.js";
import { located, ThreatModelError, type Problem } from "./problems.js";
import { RISK_STATUSES, type MitigationStatus, type ReportedThreat, type ThreatReport } from "./report.js";
import { scoreThreat, severityOf, SEVERITIES } from "./scoring.js";

export interface AnalyseInput {
  readonly model: LoadedModel;
  /** Extra libraries (--library), applied before the model's own `library` section. */
  readonly libraries?: readonly LibrarySource[];
  readonly policy?: LoadedPolicy | null;
  readonly evidence?: LoadedEvidence | null;
  readonly baseline?: { readonly report: ThreatReport; readonly source: string } | null;
  /** Only when the caller wants one: reports are reproducible without it. */
  readonly timestamp?: string;
}

export function analyse(input: AnalyseInput): ThreatReport {
  const { model, source, locate } = input.model;
  const library = resolveLibrary(input);
  const declared = new Set(model.controls.organisational);
  const problems: Problem[] = [];
  model.controls.organisational.forEach((id, i) => {
    if (library.controls.get(id)?.kind !== "organisational") {
      problems.push(located({ path: `controls.organisational.${i}`, expected: "an organisational control id from data/threats/controls.yaml", found: `unknown control ${JSON.stringify(id)}` }, locate));
    }
  });

  const graph = new ModelGraph(model);
  const matched = evaluateRules(graph, library.rules);
  const matchedIds = new Set(matched.map((t) => t.id));
  model.risks.forEach((risk, i) => {
    if (!matchedIds.has(risk.threat)) {
      problems.push(located({ path: `risks.${i}.threat`, expected: "the id of a threat this model produces (rule@element, as in the report)", found: `unknown threat ${JSON.stringify(risk.threat)}` }, locate));
    }
  });
  if (problems.length > 0) throw new ThreatModelError(source, problems);

  const policy = input.policy?.policy ?? null;
  const statusCache = new Map<string, MitigationStatus>();
  const statusOf = (id: string): MitigationStatus => {
    let status = statusCache.get(id);
    if (!status) {
      const control = library.controls.get(id);
      if (!control) throw new Error(`control ${id} vanished from the catalogue`);
      status = controlStatus(control, policy, declared);
      statusCache.set(id, status);
    }
    return status;
  };
  const decisions = new Map(model.risks.map((r) => [r.threat, r]));
  const cases = input.evidence?.cases ?? [];

  const threats = matched.map((threat) => reportThreat(threat, graph, library, statusOf, cases, decisions.get(threat.id), locate));
  const order = (t: Omit<ReportedThreat, "rank">): number => (t.risk.status === "false_positive" ? 2 : t.risk.status === "open" ? 0 : 1);
  threats.sort((a, b) => order(a) - order(b) || b.residual.score - a.residual.score || b.inherent.score - a.inherent.score || b.inherent.impact - a.inherent.impact || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  let ranked: ReportedThreat[] = threats.map((t, i) => ({ rank: i + 1, ...t }));

  const report: ThreatReport = {
    schemaVersion: 1,
    tool: { name: "bulwark", version: VERSION },
    ...(input.timestamp ? { generatedAt: input.timestamp } : {}),
    model: { name: model.name, ...(model.description ? { description: model.description } : {}), source, sha256: input.model.sha256 },
    library: {
      name: library.name,
      version: library.version,
      atlasVersion: library.atlasVersion,
      rules: library.rules.length,
      userRules: library.rules.filter((r) => r.origin !== "built-in").map((r) => ({ id: r.rule.id, origin: r.origin as "model" | "library-file" })),
    },
    policy: input.policy ? { source: input.policy.source, hash: input.policy.hash } : null,
    evidence: input.evidence
      ? { source: input.evidence.source, sha256: input.evidence.sha256, cases: cases.length, matchedCases: cases.filter((c) => library.rules.some((r) => caseMatches(r.rule, c))).length }
      : null,
    summary: summarise(ranked),
    elements: {
      boundaries: model.boundaries.map((b) => ({ id: b.id, name: b.name ?? b.id, trust: b.trust, ...(b.parent ? { parent: b.parent } : {}) })),
      components: model.components.map((c) => ({ id: c.id, name: c.name ?? c.id, type: c.type, boundary: c.boundary, threats: ranked.filter((t) => t.element.kind === "component" && t.element.id === c.id && t.risk.status !== "false_positive").length })),
      flows: model.flows.map((f) => ({ id: f.id, from: f.from, to: f.to, ...(f.label ? { label: f.label } : {}), crossesBoundary: graph.components.get(f.from)?.boundary !== graph.components.get(f.to)?.boundary, authenticated: f.authenticated })),
      entryPoints: model.entryPoints.map((e) => ({ id: e.id, name: e.name ?? e.id, component: e.component, kind: e.kind, exposure: e.exposure })),
    },
    threats: ranked,
    controls: controlsOf(ranked, statusOf),
    diff: null,
  };
  if (input.baseline) {
    const diff = diffReports(input.baseline.report, report, input.baseline.source);
    ranked = ranked.map((t) => ({ ...t, baseline: diff.added.includes(t.id) ? "new" : diff.changed.some((c) => c.id === t.id) ? "updated" : "unchanged" }));
    return { ...report, threats: ranked, diff };
  }
  return report;
}

function resolveLibrary(input: AnalyseInput): ThreatLibrary {
  const { model, source, locate } = input.model;
  const sources: LibrarySource[] = [...(input.libraries ?? [])];
  if (model.library) sources.push({ library: model.library, origin: "model", source, locate, prefix: ["library"] });
  const composed = composeLibrary(sources);
  if ("library" in composed) return composed.library;
  const files = [...new Set(composed.problems.map((p) => p.source))];
  if (files.length === 1) throw new ThreatModelError(files[0] ?? source, composed.problems, "threat library");
  throw new ThreatModelError("threat libraries", composed.problems.map((p) => ({ ...p, path: `${p.source}: ${p.path}` })), "threat library");
}

function reportThreat(
  threat: MatchedThreat,
  graph: ModelGraph,
  library: ThreatLibrary,
  statusOf: (id: string) => MitigationStatus,
  cases: LoadedEvidence["cases"],
  decision: LoadedModel["model"]["risks"][number] | undefined,
  locate: LoadedModel["locate"],
): Omit<ReportedThreat, "rank"> {
  const rule = threat.rule;
  const inherent = scoreThreat(threat, graph);
  const mitigations = rule.mitigations.map(statusOf);
  const inPlace = mitigations.filter((m) => isInPlace(m.status)).length;
  const evidence = evidenceFor(rule, cases);
  let credit = Math.floor((2 * inPlace) / mitigations.length);
  const parts = [`likelihood ${inherent.likelihood}`];
  if (evidence.status === "tested_failed") {
    parts.push(`no credit: ${evidence.failed} test${evidence.failed === 1 ? "" : "s"} failed, so the controls did not hold`);
    credit = 0;
  } else {
    parts.push(`− ${credit} (${inPlace} of ${mitigations.length} controls in place)`);
    if (evidence.status === "tested_held") {
      credit += 1;
      parts.push(`− 1 (held in ${evidence.held} test${evidence.held === 1 ? "" : "s"})`);
    }
  }
  const likelihood = Math.max(1, inherent.likelihood - credit);
  const score = likelihood * inherent.impact;
  const position = locate(threat.element.path.split(".").map((k) => (/^\d+$/.test(k) ? Number(k) : k)));
  return {
    id: threat.id,
    rule: rule.id,
    origin: threat.origin,
    title: threat.title,
    description: rule.description,
    stride: rule.stride,
    owasp: [...rule.owasp],
    agentic: [...rule.agentic],
    atlas: rule.atlas.map((id) => ({ id, name: library.atlasNames.get(id) ?? id })),
    categories: [...rule.categories],
    element: { ...threat.element, ...(position ? { line: position.line, column: position.column } : {}) },
    attack: { vector: rule.attack.vector, access: [...rule.attack.access], knowledge: rule.attack.knowledge, goals: [...rule.attack.goals] },
    inherent: { likelihood: inherent.likelihood, impact: inherent.impact, score: inherent.score, severity: inherent.severity, factors: inherent.factors },
    mitigations,
    coverage: { inPlace, total: mitigations.length, credit: Math.min(2, Math.floor((2 * inPlace) / mitigations.length)) },
    evidence,
    residual: { likelihood, impact: inherent.impact, score, severity: severityOf(score), basis: `${parts.join(" ")} = ${likelihood}; × impact ${inherent.impact} = ${score}` },
    risk: decision
      ? { status: decision.status, justification: decision.justification, date: decision.date, ...(decision.owner ? { owner: decision.owner } : {}), ...(decision.review ? { review: decision.review } : {}) }
      : { status: "open" },
  };
}

function summarise(threats: readonly ReportedThreat[]): ThreatReport["summary"] {
  const zero = <T extends string>(keys: readonly T[]): Record<T, number> => Object.fromEntries(keys.map((k) => [k, 0])) as Record<T, number>;
  const inherent = zero(SEVERITIES);
  const residual = zero(SEVERITIES);
  const risk = zero(RISK_STATUSES);
  const evidence = { tested_held: 0, tested_failed: 0, untested: 0 };
  for (const t of threats) {
    risk[t.risk.status]++;
    if (t.risk.status === "false_positive") continue;
    inherent[t.inherent.severity]++;
    residual[t.residual.severity]++;
    evidence[t.evidence.status]++;
  }
  return { threats: threats.length, open: risk.open, inherent, residual, risk, evidence };
}

function controlsOf(threats: readonly ReportedThreat[], statusOf: (id: string) => MitigationStatus): ThreatReport["controls"] {
  const byControl = new Map<string, string[]>();
  for (const t of threats) for (const m of t.mitigations) byControl.set(m.id, [...(byControl.get(m.id) ?? []), t.id]);
  return [...byControl.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, ids]) => ({ ...statusOf(id), threats: [...ids].sort() }));
}
