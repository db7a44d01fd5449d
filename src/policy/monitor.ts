/**
 * The policy's `monitor` section: drift detection (distributions of detector
 * scores, input length, script and block rate per principal and route against
 * a baseline) and failure boundaries (objectives with error budgets). Enforced
 * by src/monitor (monitor.ts runs it inside the gateway); breaches and drift are
 * signal events (`drift.*`, `slo.breach`) that incidents and alerts act on.
 */
import { z } from "zod";

export const DRIFT_METRICS = ["score", "length", "script", "blockRate"] as const;
export const OBJECTIVE_METRICS = ["blockedBenignRate", "degradedRate", "layerTimeoutRate", "addedLatencyP95Ms", "failClosedBlocksPerHour"] as const;

const PsiThresholds = z
  .strictObject({
    medium: z.number().positive().default(0.1).describe("PSI from which drift is reported at severity medium (0.1 is the customary 'moderate shift')."),
    high: z.number().positive().default(0.25).describe("PSI from which drift is reported at severity high (0.25: 'significant shift')."),
  })
  .refine((value) => value.high >= value.medium, { message: "psi.high must be at least psi.medium" });

export const DriftConfig = z
  .strictObject({
    enabled: z.boolean().default(true).describe("Compare recent traffic with its baseline and record drift.* events."),
    windowMinutes: z.number().int().min(5).max(1440).default(60).describe("The recent window compared with the baseline."),
    baselineHours: z.number().int().min(1).max(24 * 90).default(168).describe("The baseline: this many hours before the recent window."),
    minSamples: z.number().int().min(10).max(1_000_000).default(200).describe("Decisions a principal or route needs in both the window and the baseline before its drift is judged (fewer is noise)."),
    metrics: z.array(z.enum(DRIFT_METRICS)).min(1).default([...DRIFT_METRICS]).describe("What is compared: detector score, input length, input script (a cheap script guess, not language identification) and block rate."),
    psi: PsiThresholds.prefault({}).describe("Population Stability Index thresholds (every metric)."),
    ksAlpha: z.number().gt(0).lt(0.5).default(0.001).describe("Score and length also need a two-sample Kolmogorov-Smirnov test to reject 'same distribution' at this level before drift is reported."),
    changePoint: z
      .strictObject({
        bucketMinutes: z.number().int().min(1).max(60).default(5).describe("Rates (block rate, degraded rate) are taken per bucket of this many minutes."),
        k: z.number().min(0).max(10).default(0.5).describe("CUSUM slack, in standard deviations of the baseline rate."),
        h: z.number().positive().max(100).default(8).describe("CUSUM decision threshold, in standard deviations: a change point is reported once the cumulative sum passes it."),
      })
      .prefault({})
      .describe("Change-point detection (two-sided CUSUM) on the overall block and degraded rates over the recent window."),
  })
  .describe("Drift detection.");

export const Objective = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, "a lower-case name: letters, digits, _ . - (up to 64)").describe("Names the objective in events and reports."),
    metric: z
      .enum(OBJECTIVE_METRICS)
      .describe(
        "blockedBenignRate: blocks an administrator marked false positive (POST /admin/decisions/ID/false-positive) per decision; degradedRate: decisions in which a layer failed, per decision; layerTimeoutRate: decisions in which a layer timed out, per decision; addedLatencyP95Ms: the guard's 95th-percentile time per decision; failClosedBlocksPerHour: degraded decisions that ended blocked, per hour.",
      ),
    max: z.number().nonnegative().describe("The boundary: the metric over the window must stay at or below this."),
    windowHours: z.number().int().min(1).max(24 * 90).default(24 * 7).describe("The window the objective (and its error budget) covers, ending now."),
    severity: z.enum(["low", "medium", "high", "critical"]).default("high").describe("Severity of the slo.breach event."),
  })
  .describe("A failure boundary.");

export const DEFAULT_OBJECTIVES = [
  { name: "blocked-benign", metric: "blockedBenignRate", max: 0.005, windowHours: 168, severity: "high" },
  { name: "degraded-decisions", metric: "degradedRate", max: 0.001, windowHours: 168, severity: "high" },
  { name: "layer-timeouts", metric: "layerTimeoutRate", max: 0.001, windowHours: 168, severity: "medium" },
  { name: "added-latency", metric: "addedLatencyP95Ms", max: 50, windowHours: 24, severity: "medium" },
  { name: "fail-closed-blocks", metric: "failClosedBlocksPerHour", max: 10, windowHours: 24, severity: "high" },
] as const;

export const MonitorConfig = z
  .strictObject({
    intervalSeconds: z.number().int().min(5).max(3600).default(60).describe("How often the gateway's monitor computes drift and objectives."),
    drift: DriftConfig.prefault({}),
    objectives: z
      .array(Objective)
      .default(DEFAULT_OBJECTIVES.map((objective) => ({ ...objective })))
      .superRefine((objectives, ctx) => {
        const seen = new Set<string>();
        objectives.forEach((objective, index) => {
          if (seen.has(objective.name)) ctx.addIssue({ code: "custom", path: [index, "name"], message: `objective name ${objective.name} is used twice` });
          seen.add(objective.name);
        });
      })
      .describe("Failure boundaries, each tracked with its error budget; a breach is an slo.breach event. An empty list tracks none."),
  })
  .describe("Continuous monitoring: drift and failure boundaries (src/monitor).");

export type MonitorOptions = z.output<typeof MonitorConfig>;
export type DriftOptions = z.output<typeof DriftConfig>;
export type ObjectiveOptions = z.output<typeof Objective>;
export type DriftMetric = (typeof DRIFT_METRICS)[number];
export type ObjectiveMetric = (typeof OBJECTIVE_METRICS)[number];
