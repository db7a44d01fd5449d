/**
 * limits/: rate limits, concurrency limits and cost budgets (rate.ts, on
 * rate-limiter-flexible with memory or Redis counters), anomaly detection per
 * principal (anomaly.ts, with the prompt fingerprints of minhash.ts), the
 * quarantine list (quarantine.ts), the fail-fast Redis connection (redis.ts)
 * and token counting (tokens.ts). Usable without the gateway.
 *
 * May import: policy (its abuse section), util, and the libraries
 * rate-limiter-flexible, ioredis and gpt-tokenizer. Nothing from gateway,
 * guard or store: the gateway (src/gateway/limits.ts) turns what these report
 * into HTTP answers and events.
 */
export { RateLimits, periodEnd, scopeValue, type Admission, type LimitStore, type LimitSubject, type QuotaState, type RateLimitsPolicy, type RefusalCode } from "./rate.js";
export { AnomalyDetector, type Anomaly, type AnomalyDetectorOptions } from "./anomaly.js";
export { QuarantineList, type QuarantineChange, type QuarantineEntry, type QuarantineStore } from "./quarantine.js";
export { connectLimitsRedis, whenReady, type LimitsRedisOptions } from "./redis.js";
export { fingerprint, similarity, SIGNATURE_BINS } from "./minhash.js";
export { countTokens, loadTokenCounter } from "./tokens.js";
