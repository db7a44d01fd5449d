/**
 * The policy's abuse section, under `limits`: rate limits and concurrency
 * (`limits.rate`), cost budgets with their price table (`limits.budget`),
 * anomaly detection (`limits.anomaly`) and quarantine (`limits.quarantine`).
 * Enforced by src/limits (library) and src/gateway/limits.ts (gateway).
 *
 * Rate limits and budgets are off by default: there are no limits that suit
 * every deployment, and a limit that is too tight is an outage. Anomaly
 * detection is on (it only reports); automatic quarantine is off until a
 * policy names the anomalies that trigger it.
 */
import { z } from "zod";

export const LIMIT_SCOPES = ["key", "principal", "ip", "route", "global"] as const;
export const ANOMALY_KINDS = ["rate", "tokens", "block_rate", "diversity", "extraction", "escalation"] as const;

const ruleId = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, "lower-case letters, digits, dot, dash, underscore (up to 64)");
const routePattern = z.string().regex(/^\/[A-Za-z0-9/_.*-]{0,200}$/, "a route path such as /v1/chat/completions, `*` matching any characters");

export const RateRule = z
  .strictObject({
    id: ruleId.optional().describe("A name for the rule, shown in 429 errors, headers and events; `SCOPE-WINDOWs` by default."),
    scope: z.enum(LIMIT_SCOPES).describe("What the counter is kept per: the API key, the principal, the client IP address, the route, or one counter for everyone (`global`)."),
    routes: z.array(routePattern).min(1).optional().describe("Only requests to these routes count (all model routes when absent)."),
    windowSeconds: z.number().int().min(1).max(31 * 86_400).default(60).describe("Length of the fixed window the counts are kept over."),
    requests: z.number().int().positive().optional().describe("Most requests per window."),
    tokens: z.number().int().positive().optional().describe("Most tokens (prompt and completion) per window: from the upstream's `usage` when given, else counted with the tokenizer. A request is refused once the window's tokens are spent; the request that crosses the line is served."),
  })
  .refine((rule) => rule.requests !== undefined || rule.tokens !== undefined, { message: "a rule needs `requests`, `tokens` or both" })
  .describe("A request or token limit per window.");

export const ConcurrencyRule = z
  .strictObject({
    scope: z.enum(LIMIT_SCOPES).describe("What the in-flight count is kept per."),
    max: z.number().int().positive().max(100_000).describe("Most requests in flight at once."),
  })
  .describe("A limit on requests in flight at once.");

export const RateLimitsConfig = z
  .strictObject({
    enabled: z.boolean().default(false).describe("Enforce the rules below."),
    rules: z.array(RateRule).default([]).describe("Request and token limits; every rule that applies must pass."),
    concurrency: z.array(ConcurrencyRule).default([]).describe("Limits on requests in flight."),
    failureMode: z
      .enum(["closed", "open", "local"])
      .default("closed")
      .describe(
        "What happens while the shared counter store (Redis) is unreachable: `closed` refuses limited requests with 503, `open` serves them unlimited, `local` enforces the limits per replica in memory (each replica allows the full limit). Quarantine is enforced from each replica's last copy of the list either way.",
      ),
  })
  .describe("Rate limits (OWASP LLM10 Unbounded Consumption; model theft by scraping).");

export const ModelPrice = z
  .strictObject({
    input: z.number().min(0).describe("US dollars per million prompt tokens."),
    output: z.number().min(0).describe("US dollars per million completion tokens."),
  })
  .describe("A model's price.");

export const BudgetRule = z
  .strictObject({
    id: ruleId.optional().describe("A name for the budget; `SCOPE-PERIOD` by default."),
    scope: z.enum(["key", "principal", "global"]).describe("What the spending is kept per."),
    period: z.enum(["day", "month"]).describe("Calendar period (UTC) the budget is for; it resets at the period's start."),
    usd: z.number().positive().max(1e9).describe("Most US dollars per period. A request is refused once the period's budget is spent; the request that crosses the line is served."),
  })
  .describe("A cost budget.");

export const BudgetConfig = z
  .strictObject({
    enabled: z.boolean().default(false).describe("Enforce the budgets below."),
    rules: z.array(BudgetRule).default([]),
    prices: z
      .record(z.string().min(1).max(256), ModelPrice)
      .default({})
      .describe("Price per model: exact names or patterns with `*` (the first matching entry in file order wins). While a budget applies, requests for a model with no price are refused (403 model_not_priced) rather than served free."),
  })
  .refine((budget) => !budget.enabled || budget.rules.length === 0 || Object.keys(budget.prices).length > 0, {
    message: "at least one price under `prices` while budgets are enabled (without prices every request would be refused as unpriced)",
    path: ["prices"],
  })
  .describe("Cost budgets (denial of wallet).");

const zScore = z.number().min(1).max(100);
const score01 = z.number().min(0).max(1);

export const AnomalyConfig = z
  .strictObject({
    enabled: z.boolean().default(true).describe("Keep per-principal baselines and report anomalies as `anomaly.*` events."),
    bucketSeconds: z.number().int().min(1).max(3_600).default(60).describe("Length of the time buckets the baselines are kept over."),
    halfLifeBuckets: z.number().min(1).max(100_000).default(120).describe("Half-life of the baselines' exponentially weighted mean and variance, in buckets."),
    warmupBuckets: z.number().int().min(1).max(100_000).default(30).describe("Active buckets a principal needs before baseline z-scores count (new principals are judged by the absolute minimums alone)."),
    cooldownBuckets: z.number().int().min(0).max(100_000).default(30).describe("After an anomaly of one kind, the same kind is not reported again for the same principal for this many buckets."),
    maxPrincipals: z.number().int().min(10).max(10_000_000).default(100_000).describe("Most principals with a baseline in memory; the least recently seen is dropped first."),
    rate: z
      .strictObject({
        z: zScore.default(8).describe("Requests in a bucket this many standard deviations above the principal's baseline are anomalous."),
        minRequests: z.number().int().min(1).default(30).describe("Fewest requests in a bucket before the rate can be anomalous at all."),
      })
      .prefault({}),
    tokens: z
      .strictObject({
        z: zScore.default(8),
        minTokens: z.number().int().min(1).default(200_000).describe("Fewest tokens in a bucket before token use can be anomalous."),
      })
      .prefault({}),
    blockRate: z
      .strictObject({
        z: zScore.default(5).describe("Blocked requests in a bucket this many binomial standard deviations above the baseline block rate are anomalous."),
        minBlocks: z.number().int().min(1).default(3).describe("Fewest blocked requests in a bucket before the block rate can be anomalous."),
      })
      .prefault({}),
    diversity: z
      .strictObject({
        z: zScore.default(8),
        minDistinct: z.number().int().min(1).default(30).describe("Fewest distinct prompts in a bucket before prompt diversity can be anomalous (scraping with many different prompts)."),
      })
      .prefault({}),
    extraction: z
      .strictObject({
        window: z.number().int().min(8).max(1024).default(64).describe("Recent prompts per principal compared with each new one."),
        similarity: z.number().gt(0).max(1).default(0.5).describe("Estimated Jaccard similarity (MinHash of character 5-grams) at which two prompts count as near-identical; exact repeats do not count."),
        minNearDuplicates: z.number().int().min(2).max(1024).default(24).describe("Near-identical, not identical, earlier prompts in the window before the principal counts as probing a template (model extraction, enumeration)."),
        maxTemplatedShare: score01.default(0.3).describe("A principal whose baseline share of requests with a near-identical earlier prompt is above this fills in templates as a matter of course (a backend service); once its baseline is warm, near-duplicates alone do not make it anomalous (its rate, diversity and tokens still do)."),
      })
      .prefault({}),
    escalation: z
      .strictObject({
        minTurns: z.number().int().min(3).max(100).default(4).describe("Fewest user turns in the climbing run that ends the conversation."),
        rise: z.number().gt(0).max(1).default(0.35).describe("Climb of the guard score over that run that counts as escalation; every step of the run climbs by at least rise / (2 * (minTurns - 1)), so one flagged message after harmless ones is not escalation."),
        finalScore: z.number().gt(0).max(1).default(0.5).describe("Guard score the last user turn must reach."),
      })
      .prefault({})
      .describe("Multi-turn escalation: guard scores rising across the user turns of one request's conversation."),
  })
  .describe("Anomaly detection per principal.");

export const QuarantineConfig = z
  .strictObject({
    automatic: z.array(z.enum(ANOMALY_KINDS)).default([]).describe("Anomalies that quarantine the principal at once (kill switch). Empty: anomalies are only reported."),
    durationSeconds: z.number().int().min(1).max(365 * 86_400).default(3_600).describe("How long an automatic quarantine lasts (an administrator may release it earlier)."),
  })
  .describe("Quarantine: a quarantined principal's requests are refused with 403 until released.");

/** The fields the abuse section adds to the policy's `limits`. */
export const abuseLimitFields = {
  rate: RateLimitsConfig.prefault({}),
  budget: BudgetConfig.prefault({}),
  anomaly: AnomalyConfig.prefault({}),
  quarantine: QuarantineConfig.prefault({}),
};

export type LimitScope = (typeof LIMIT_SCOPES)[number];
export type AnomalyKind = (typeof ANOMALY_KINDS)[number];
export type RateRuleSpec = z.output<typeof RateRule>;
export type ConcurrencyRuleSpec = z.output<typeof ConcurrencyRule>;
export type RateLimitsOptions = z.output<typeof RateLimitsConfig>;
export type BudgetRuleSpec = z.output<typeof BudgetRule>;
export type BudgetOptions = z.output<typeof BudgetConfig>;
export type ModelPriceSpec = z.output<typeof ModelPrice>;
export type AnomalyOptions = z.output<typeof AnomalyConfig>;
export type QuarantineOptions = z.output<typeof QuarantineConfig>;
