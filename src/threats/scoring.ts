/**
 * Scoring: likelihood × impact, each 1..5, from factors that are written down
 * with the reason for their value, so that anyone can recompute a score by
 * hand. docs/threat-modeling.md documents the tables below; change both
 * together.
 *
 *   likelihood = round((exposure + ease + attacker) / 3)
 *   impact     = min(5, max(rule base, asset sensitivity) + blast radius)   (blast radius 0 or 1)
 *   score      = likelihood × impact                 (1..25)
 *   severity   = critical ≥ 20, high ≥ 12, medium ≥ 6, low otherwise
 */
import type { LEVELS} from "./model-schema.js";
import { EXPOSURES, KNOWLEDGE, TRUST_LEVELS, type Asset, type Attacker, type Knowledge } from "./model-schema.js";
import type { MatchedThreat } from "./engine.js";
import type { ModelGraph } from "./facts.js";

export const SEVERITIES = ["low", "medium", "high", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface Factor {
  readonly value: number;
  readonly basis: string;
}

export interface ThreatScore {
  readonly likelihood: number;
  readonly impact: number;
  readonly score: number;
  readonly severity: Severity;
  readonly factors: {
    readonly exposure: Factor;
    readonly ease: Factor;
    readonly attacker: Factor;
    readonly sensitivity: Factor;
    readonly blastRadius: Factor;
  };
}

const EXPOSURE_SCORE: Record<(typeof EXPOSURES)[number], number> = { none: 1, internal: 2, partner: 3, authenticated: 4, public: 5 };
const EASE_SCORE: Record<Knowledge, number> = { black_box: 5, gray_box: 3, white_box: 1 };
const LEVEL_SCORE: Record<(typeof LEVELS)[number], number> = { none: 1, low: 2, medium: 3, high: 4, critical: 5 };
const PROVENANCE_SCORE: Record<string, number> = { community: 5, vendor: 3, internal: 2 };
const INSIDER_EXPOSURE = 2;

export function severityOf(score: number): Severity {
  return score >= 20 ? "critical" : score >= 12 ? "high" : score >= 6 ? "medium" : "low";
}

export function scoreThreat(threat: MatchedThreat, graph: ModelGraph): ThreatScore {
  const exposure = exposureFactor(threat);
  const ease: Factor = { value: EASE_SCORE[threat.rule.attack.knowledge], basis: `needs ${threat.rule.attack.knowledge.replace("_", "-")} knowledge` };
  const attacker = attackerFactor(threat, graph.model.attackers);
  const likelihood = clamp(Math.round((exposure.value + ease.value + attacker.value) / 3));
  const sensitivity = sensitivityFactor(threat, graph);
  const blastRadius = blastRadiusFactor(threat, graph);
  const impact = clamp(sensitivity.value + blastRadius.value);
  const score = likelihood * impact;
  return { likelihood, impact, score, severity: severityOf(score), factors: { exposure, ease, attacker, sensitivity, blastRadius } };
}

function clamp(value: number): number {
  return Math.min(5, Math.max(1, value));
}

function factOf(threat: MatchedThreat, name: string): unknown {
  if (threat.element.kind === "component") return threat.facts[name];
  // A flow is as exposed as the more exposed of its two ends.
  const from = threat.facts[`from.${name}`];
  const to = threat.facts[`to.${name}`];
  if (typeof from === "string" && typeof to === "string" && (EXPOSURES as readonly string[]).includes(from)) {
    return EXPOSURES.indexOf(from as (typeof EXPOSURES)[number]) >= EXPOSURES.indexOf(to as (typeof EXPOSURES)[number]) ? from : to;
  }
  return from;
}

function exposureFactor(threat: MatchedThreat): Factor {
  const vector = threat.rule.attack.vector;
  if (vector === "insider") return { value: INSIDER_EXPOSURE, basis: "insider access only" };
  if (vector === "supply_chain") {
    const sources = [factOf(threat, "provenance"), factOf(threat, "inputs.fromProvenance"), factOf(threat, "tools.provenance")].flat().filter((v): v is string => typeof v === "string");
    const worst = [...sources].sort((a, b) => (PROVENANCE_SCORE[b] ?? 0) - (PROVENANCE_SCORE[a] ?? 0))[0] ?? "internal";
    return { value: PROVENANCE_SCORE[worst] ?? 2, basis: `supply chain: ${worst} provenance` };
  }
  const fact = vector === "direct" ? "exposure.direct" : vector === "content" ? "exposure.content" : "exposure.any";
  const level = factOf(threat, fact);
  const exposure = typeof level === "string" && level in EXPOSURE_SCORE ? (level as (typeof EXPOSURES)[number]) : "none";
  return { value: EXPOSURE_SCORE[exposure], basis: `${vector === "any" ? "direct or content" : vector} exposure: ${exposure}` };
}

/** Does a declared attacker profile (NIST AI 100-2 access, knowledge, goals) fit what the threat needs? */
function attackerFactor(threat: MatchedThreat, attackers: readonly Attacker[]): Factor {
  if (attackers.length === 0) return { value: 3, basis: "no attacker profiles declared" };
  const needs = threat.rule.attack;
  const withAccess = attackers.filter((a) => a.access.some((x) => needs.access.includes(x)));
  const fitting = withAccess.filter((a) => KNOWLEDGE.indexOf(a.knowledge) >= KNOWLEDGE.indexOf(needs.knowledge) && a.goals.some((g) => needs.goals.includes(g)));
  if (fitting.length > 0) return { value: 5, basis: `fits attacker ${fitting.map((a) => a.id).sort().join(", ")}` };
  if (withAccess.length > 0) return { value: 3, basis: `attacker ${withAccess.map((a) => a.id).sort().join(", ")} has the access but not the knowledge or goal` };
  return { value: 1, basis: `no declared attacker has ${needs.access.join(" or ")} access` };
}

/** Assets at stake: held by the element, carried to or from it, or held by what it sends to (one hop). */
export function assetsAtStake(threat: MatchedThreat, graph: ModelGraph): Asset[] {
  const model = graph.model;
  const ids = new Set<string>();
  if (threat.element.kind === "component") {
    const id = threat.element.id;
    for (const a of graph.components.get(id)?.assets ?? []) ids.add(a);
    for (const flow of model.flows) {
      if (flow.to === id || flow.from === id) for (const a of flow.data) ids.add(a);
      if (flow.from === id) for (const a of graph.components.get(flow.to)?.assets ?? []) ids.add(a);
    }
  } else {
    const flow = model.flows.find((f) => f.id === threat.element.id);
    for (const a of flow?.data ?? []) ids.add(a);
    for (const a of graph.components.get(flow?.to ?? "")?.assets ?? []) ids.add(a);
  }
  return model.assets.filter((a) => ids.has(a.id));
}

function sensitivityFactor(threat: MatchedThreat, graph: ModelGraph): Factor {
  const base = threat.rule.impact.base;
  let best: { value: number; asset: Asset; dimension: string } | undefined;
  const kinds = threat.rule.impact.kinds;
  for (const asset of assetsAtStake(threat, graph).filter((a) => !kinds || kinds.includes(a.kind))) {
    for (const dimension of threat.rule.impact.affects) {
      const value = LEVEL_SCORE[asset[dimension]];
      if (!best || value > best.value) best = { value, asset, dimension };
    }
  }
  if (!best || best.value <= base) return { value: base, basis: best ? `rule base ${base} (assets at stake rate lower)` : `rule base ${base} (no rated asset at stake)` };
  return { value: best.value, basis: `${best.asset.id}: ${best.dimension} ${best.asset[best.dimension as "confidentiality"]}` };
}

/**
 * +1 when the harm spreads (the rule says so) and the element's output reaches a trust boundary
 * trusted more than its own, or two or more other boundaries.
 */
function blastRadiusFactor(threat: MatchedThreat, graph: ModelGraph): Factor {
  if (!threat.rule.impact.spreads) return { value: 0, basis: "harm does not spread downstream" };
  const origin = threat.element.kind === "component" ? threat.element.id : (graph.model.flows.find((f) => f.id === threat.element.id)?.to ?? "");
  const reached = graph.boundariesReached(origin);
  const ownTrust = TRUST_LEVELS.indexOf(graph.trustOf(origin));
  const higher = reached.filter((b) => TRUST_LEVELS.indexOf(graph.model.boundaries.find((x) => x.id === b)?.trust ?? "untrusted") > ownTrust);
  if (higher.length > 0) return { value: 1, basis: `reaches more trusted boundary ${higher.join(", ")}` };
  if (reached.length >= 2) return { value: 1, basis: `reaches ${reached.length} other boundaries (${reached.join(", ")})` };
  return { value: 0, basis: reached.length === 1 ? `reaches 1 other boundary (${reached[0]})` : "stays within its boundary" };
}
