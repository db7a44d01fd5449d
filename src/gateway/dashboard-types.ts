/**
 * The JSON the dashboard's read endpoints (/admin/dashboard/...) answer with:
 * one contract for the gateway (dashboard.ts) and the browser code (src/ui/).
 * Types only (the store's aggregate types re-exported), so that both
 * TypeScript programs, Node's and the browser's, can read it.
 */
import type { CategoryCount, Containment, DecisionBucket, PolicyVersion, PrincipalCount, SignalCount } from "../store/aggregates.js";

export type { CategoryCount, Containment, DecisionBucket, LatencyPercentiles, LayerFault, PolicyVersion, PrincipalCount, SignalCount } from "../store/aggregates.js";
import type { DecisionEvent } from "../store/types.js";

/** GET /admin/decisions/:id (the admin API): one decision with its place in the audit chain. */
export type DecisionDetail = DecisionEvent & { readonly seq: number; readonly hash: string; readonly prev_hash: string };

export type DecisionAction = "allow" | "flag" | "redact" | "block";

export interface OverviewResponse {
  readonly since: string;
  readonly until: string;
  readonly bucketSeconds: number;
  readonly totals: {
    readonly total: number;
    readonly allow: number;
    readonly flag: number;
    readonly redact: number;
    readonly block: number;
    readonly degraded: number;
    /** block / total, 0 when there are none. */
    readonly blockRate: number;
    /** Guard latency over the whole window, microseconds; null without decisions. */
    readonly latencyP95Us: number | null;
    readonly latencyP50Us: number | null;
  };
  readonly series: readonly DecisionBucket[];
  readonly topPrincipals: readonly PrincipalCount[];
  readonly categories: readonly CategoryCount[];
  readonly containment: Containment;
  readonly signals: readonly SignalCount[];
  /** How long the store took to answer, milliseconds (shown, so a slow store is visible). */
  readonly queryMs: number;
}

export interface DecisionRow {
  readonly seq: number;
  readonly id: string;
  readonly time: string;
  readonly requestId: string;
  readonly principal: string;
  readonly route: string;
  readonly model: string;
  readonly stage: "input" | "output";
  readonly action: DecisionAction;
  readonly categories: readonly string[];
  readonly score: number;
  readonly latencyUs: number;
  readonly degraded: boolean;
  readonly policyHash: string;
  readonly excerpt: string;
}

export interface DecisionsResponse {
  readonly data: readonly DecisionRow[];
  /** Pass as `before` for the next (older) page. */
  readonly next_before?: number;
}

export interface SignalRow {
  readonly seq: number;
  readonly id: string;
  readonly time: string;
  readonly type: string;
  readonly severity: "info" | "low" | "medium" | "high" | "critical";
  readonly principal?: string;
  readonly summary: string;
  readonly detail: Readonly<Record<string, string | number | boolean | null>>;
}

export interface SignalsResponse {
  readonly data: readonly SignalRow[];
}


export interface StatusResponse {
  readonly version: string;
  readonly startedAt: string;
  readonly now: string;
  readonly policy: { readonly name: string; readonly hash: string; readonly source: string };
  readonly store: { readonly description: string; readonly up: boolean; readonly waiting: number; readonly dropped: number; readonly written: number };
  readonly upstream: string;
  /** Which admin APIs this gateway has, so the page shows only controls that work. */
  readonly features: { readonly quarantine: boolean; readonly incidents: boolean; readonly approvals: boolean; readonly monitor: boolean; readonly schedules: boolean; readonly aggregates: boolean };
}

export interface PoliciesResponse {
  readonly current: { readonly name: string; readonly hash: string; readonly source: string };
  readonly since: string;
  readonly until: string;
  /** Policies that made decisions in the window, the most recently used first. */
  readonly versions: readonly PolicyVersion[];
  /** Configuration reloads recorded in the audit trail, newest first. */
  readonly reloads: ReadonlyArray<{ readonly time: string; readonly principal: string; readonly ok: boolean; readonly error?: string }>;
}

export interface CoverageControl {
  readonly id: string;
  readonly name: string;
  readonly status: "enforced" | "missing" | "unassessed" | "declared" | "not_declared";
  readonly reason: string;
  /** How many threat rules of the library this control mitigates. */
  readonly threats: number;
}

/** With a system model (`bulwark serve --threat-model FILE`): its threats assessed against the running policy. */
export interface ModelCoverage {
  readonly name: string;
  readonly source: string;
  /** The scan results counted as evidence (the latest scheduled scan's), or null. */
  readonly evidence: string | null;
  readonly threats: number;
  readonly open: number;
  readonly residual: Readonly<Record<"critical" | "high" | "medium" | "low", number>>;
  readonly tested: Readonly<Record<"tested_held" | "tested_failed" | "untested", number>>;
  /** The highest-priority threats, in the report's order. */
  readonly top: ReadonlyArray<{ readonly rank: number; readonly id: string; readonly title: string; readonly severity: string; readonly risk: string; readonly inPlace: number; readonly controls: number; readonly evidence: string }>;
}

export interface CoverageResponse {
  readonly policyHash: string;
  readonly model: ModelCoverage | null;
  readonly summary: { readonly controls: number; readonly enforced: number; readonly missing: number; readonly threats: number; readonly threatsCovered: number };
  readonly controls: readonly CoverageControl[];
}
