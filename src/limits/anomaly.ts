/**
 * Per-principal anomaly detection: baselines of request rate, token use, block
 * rate and prompt diversity, near-duplicate probing (model extraction,
 * enumeration), and multi-turn escalation within one conversation.
 *
 * Baselines are exponentially weighted means and variances over fixed time
 * buckets (`bucketSeconds`) in which the principal was active: "how much does
 * this principal do in a minute when it is working". The current bucket's
 * running count is compared with `mean + z * sd` on every observation, so an
 * anomaly is reported while it happens, not when the bucket closes. Counts use
 * a Poisson floor on the variance (sd >= sqrt(mean)) and an absolute minimum
 * (`minRequests`, ...) below which nothing is anomalous, so a quiet principal
 * doing a little more is not an alarm. Until a principal has `warmupBuckets`
 * active buckets, only the absolute minimums apply.
 *
 * The detector is a pure in-memory state machine: it takes the time as an
 * argument (simulations replay days in seconds) and returns anomalies; the
 * caller turns them into events. Nothing is allocated per observation unless an
 * anomaly is reported.
 */
import type { z } from "zod";
import type { AnomalyKind, AnomalyOptions } from "../policy/abuse.js";
import { AnomalyConfig } from "../policy/abuse.js";
import { EMPTY_BIN, fingerprint, SIGNATURE_BINS, similarAtLeast } from "./minhash.js";

export interface Anomaly {
  readonly kind: AnomalyKind;
  readonly principal: string;
  /** Time of the observation that revealed it (ms since the epoch). */
  readonly time: number;
  readonly severity: "low" | "medium" | "high";
  /** What was seen (requests, tokens, blocks, distinct prompts in the bucket; near-duplicates; the last turn's score). */
  readonly observed: number;
  /** The baseline (mean per bucket, or the first turns' score). */
  readonly expected: number;
  /** The level `observed` crossed. */
  readonly threshold: number;
  /** One line a person can read. */
  readonly summary: string;
}

const KIND_INDEX: Record<AnomalyKind, number> = { rate: 0, tokens: 1, block_rate: 2, diversity: 3, extraction: 4, escalation: 5 };
const NONE: readonly Anomaly[] = Object.freeze([]);

/** A running EWMA mean and variance of one count per active bucket. */
class Baseline {
  mean = 0;
  variance = 0;
  /** Alarm level for the current bucket, fixed when it opened. */
  limit = Infinity;

  update(value: number, alpha: number, first: boolean): void {
    if (first) {
      this.mean = value;
      this.variance = 0;
      return;
    }
    const delta = value - this.mean;
    this.mean += alpha * delta;
    this.variance = (1 - alpha) * (this.variance + alpha * delta * delta);
  }

  /** mean + z * sd with a Poisson floor on the variance. */
  level(z: number): number {
    return this.mean + z * Math.sqrt(Math.max(this.variance, this.mean, 1));
  }
}

class PrincipalState {
  bucket = -1;
  activeBuckets = 0;
  requests = 0;
  tokens = 0;
  blocks = 0;
  novel = 0;
  /** Requests in the bucket with a near-identical earlier prompt. */
  templated = 0;
  readonly rate = new Baseline();
  readonly tokenUse = new Baseline();
  readonly diversity = new Baseline();
  /** Exponentially decayed counts of blocked and of all requests over active buckets (the baseline block rate is their ratio, with a prior). */
  decayedBlocks = 0;
  decayedRequests = 0;
  /** EWMA of the share of requests with a near-identical earlier prompt (high for template-driven callers). */
  templatedShare = 0;
  /** Bucket of the last report per kind (cooldown). */
  readonly lastReported = new Float64Array(6).fill(-Infinity);
  /** Ring of recent prompt fingerprints and their exact hashes; allocated on the first prompt. */
  prints: Uint16Array | null = null;
  hashes: Uint32Array | null = null;
  ringNext = 0;
  ringSize = 0;
  constructor(readonly principal: string) {}
}

/** The policy's `limits.anomaly` section as written (every field optional). */
export type AnomalyDetectorOptions = z.input<typeof AnomalyConfig>;

/**
 * Anomaly detection for many principals. Use `observeRequest` per request (with
 * its prompt and whether the guard blocked it), `observeTokens` when a
 * response's token count is known, and `observeConversation` with the guard
 * scores of a request's user turns.
 */
export class AnomalyDetector {
  private options: AnomalyOptions;
  private alpha = 0;
  private bucketMs = 60_000;
  private readonly states = new Map<string, PrincipalState>();
  private readonly scratch = new Uint16Array(SIGNATURE_BINS);

  /** Options as in the policy's `limits.anomaly` (defaults filled in; a policy's resolved section may be passed as is). */
  constructor(options: AnomalyDetectorOptions | AnomalyOptions = {}) {
    this.options = AnomalyConfig.parse(options);
    this.derive();
  }

  /** New options (a policy reload); baselines are kept. */
  configure(options: AnomalyDetectorOptions | AnomalyOptions): void {
    const previousWindow = this.options.extraction.window;
    this.options = AnomalyConfig.parse(options);
    this.derive();
    if (this.options.extraction.window !== previousWindow) for (const state of this.states.values()) state.prints = state.hashes = null;
  }

  get enabled(): boolean {
    return this.options.enabled;
  }

  /** Principals with a baseline in memory. */
  get size(): number {
    return this.states.size;
  }

  forget(principal: string): void {
    this.states.delete(principal);
  }

  /**
   * One request: counts it, compares the bucket's requests, blocks and distinct prompts with the
   * principal's baselines, and checks the prompt against the principal's recent ones.
   * `prompt` is the text that varies between requests (the last user message); `blocked` whether
   * the guard refused the request.
   */
  observeRequest(principal: string, now: number, prompt: string | undefined, blocked: boolean): readonly Anomaly[] {
    if (!this.options.enabled) return NONE;
    const state = this.state(principal, now);
    const bucket = state.bucket;
    let found: Anomaly[] | null = null;
    state.requests++;
    if (blocked) state.blocks++;

    const { rate, blockRate, diversity, extraction } = this.options;
    if (state.requests >= rate.minRequests && state.requests > state.rate.limit && this.due(state, "rate", bucket)) {
      (found ??= []).push(this.report(state, "rate", now, state.requests, state.rate.mean, Math.max(state.rate.limit, rate.minRequests), "requests in one bucket"));
    }
    if (blocked && state.blocks >= blockRate.minBlocks) {
      // Baseline block rate with a prior of 1 block in 100 requests, so that a few early blocks do not set it high.
      const p = Math.min(0.5, Math.max((state.decayedBlocks + 1) / (state.decayedRequests + 100), 0.01));
      const expected = state.requests * p;
      const limit = expected + blockRate.z * Math.sqrt(state.requests * p * (1 - p));
      if (state.blocks > limit && this.due(state, "block_rate", bucket)) {
        (found ??= []).push(this.report(state, "block_rate", now, state.blocks, expected, Math.max(limit, blockRate.minBlocks), `blocked requests out of ${state.requests} in one bucket`));
      }
    }
    if (prompt !== undefined && prompt.length > 0) {
      const near = this.comparePrompt(state, prompt, extraction.similarity);
      if (near < 0) state.novel++;
      else if (near > 0) state.templated++;
      if (state.novel >= diversity.minDistinct && state.novel > state.diversity.limit && this.due(state, "diversity", bucket)) {
        (found ??= []).push(this.report(state, "diversity", now, state.novel, state.diversity.mean, Math.max(state.diversity.limit, diversity.minDistinct), "distinct prompts in one bucket"));
      }
      // A caller that always fills in templates (a backend service) is judged against its own habit.
      const habitual = state.activeBuckets >= this.options.warmupBuckets && state.templatedShare > extraction.maxTemplatedShare;
      if (near >= extraction.minNearDuplicates && !habitual && this.due(state, "extraction", bucket)) {
        (found ??= []).push(this.report(state, "extraction", now, near, 0, extraction.minNearDuplicates, `near-identical prompts among the last ${state.ringSize}: a template probed one slot at a time`));
      }
    }
    return found ?? NONE;
  }

  /** Tokens a response used (prompt and completion), counted in the bucket of `now`. */
  observeTokens(principal: string, now: number, tokens: number): readonly Anomaly[] {
    if (!this.options.enabled || !(tokens > 0)) return NONE;
    const state = this.state(principal, now);
    state.tokens += tokens;
    const { minTokens } = this.options.tokens;
    if (state.tokens >= minTokens && state.tokens > state.tokenUse.limit && this.due(state, "tokens", state.bucket)) {
      return [this.report(state, "tokens", now, state.tokens, state.tokenUse.mean, Math.max(state.tokenUse.limit, minTokens), "tokens in one bucket")];
    }
    return NONE;
  }

  /**
   * The guard scores (0..1) of one conversation's user turns, in order. Reports escalation when the
   * conversation ends in a run of at least `minTurns` turns in which every step climbs by at least
   * rise / (2 * (minTurns - 1)), the run climbs by at least `rise` in all, and the last turn reaches
   * `finalScore`: a crescendo, not one flagged message after harmless ones.
   */
  observeConversation(principal: string, now: number, scores: ArrayLike<number>): Anomaly | null {
    if (!this.options.enabled) return null;
    const { minTurns, rise, finalScore } = this.options.escalation;
    const n = scores.length;
    if (n < minTurns) return null;
    const last = scores[n - 1]!;
    if (!(last >= finalScore)) return null;
    // The run of climbing steps that ends at the last turn; each step climbs by at least a share of
    // the rise, so one flagged message after harmless ones is not a crescendo.
    const step = rise / (2 * (minTurns - 1));
    let start = n - 1;
    while (start > 0 && scores[start]! - scores[start - 1]! >= step) start--;
    if (n - start < minTurns) return null;
    const first = scores[start]!;
    if (last - first < rise) return null;
    const state = this.state(principal, now);
    if (!this.due(state, "escalation", state.bucket)) return null;
    return this.report(state, "escalation", now, last, first, first + rise, `guard score climbing over the last ${n - start} user turns of one conversation`);
  }

  private derive(): void {
    this.bucketMs = this.options.bucketSeconds * 1000;
    this.alpha = 1 - Math.pow(0.5, 1 / this.options.halfLifeBuckets);
  }

  private state(principal: string, now: number): PrincipalState {
    let state = this.states.get(principal);
    if (state === undefined) {
      if (this.states.size >= this.options.maxPrincipals) {
        // Least recently seen first: Map iteration order is insertion order, and `touch` re-inserts.
        const oldest = this.states.keys().next().value;
        if (oldest !== undefined) this.states.delete(oldest);
      }
      state = new PrincipalState(principal);
      this.states.set(principal, state);
    }
    const bucket = Math.floor(now / this.bucketMs);
    if (bucket !== state.bucket) {
      this.roll(state, bucket);
      // Re-insert: keeps the map ordered by last bucket seen, for eviction (once per bucket, not per request).
      this.states.delete(principal);
      this.states.set(principal, state);
    }
    return state;
  }

  /** Closes the principal's bucket into its baselines and fixes the new bucket's alarm levels. */
  private roll(state: PrincipalState, bucket: number): void {
    if (state.bucket >= 0 && state.requests > 0) {
      const first = state.activeBuckets === 0;
      state.rate.update(state.requests, this.alpha, first);
      state.tokenUse.update(state.tokens, this.alpha, first);
      state.diversity.update(state.novel, this.alpha, first);
      state.decayedBlocks = state.decayedBlocks * (1 - this.alpha) + state.blocks;
      state.decayedRequests = state.decayedRequests * (1 - this.alpha) + state.requests;
      const templated = state.templated / state.requests;
      state.templatedShare = first ? templated : state.templatedShare + this.alpha * (templated - state.templatedShare);
      state.activeBuckets++;
    }
    state.bucket = bucket;
    state.requests = state.tokens = state.blocks = state.novel = state.templated = 0;
    const warm = state.activeBuckets >= this.options.warmupBuckets;
    state.rate.limit = warm ? state.rate.level(this.options.rate.z) : 0;
    state.tokenUse.limit = warm ? state.tokenUse.level(this.options.tokens.z) : 0;
    state.diversity.limit = warm ? state.diversity.level(this.options.diversity.z) : 0;
  }

  /**
   * Compares the prompt with the principal's recent prompts and adds it to the ring. Returns the
   * number of near-identical (but not identical) earlier prompts, or -1 when the prompt is novel
   * (neither identical nor near-identical to any of them).
   */
  private comparePrompt(state: PrincipalState, prompt: string, threshold: number): number {
    const window = this.options.extraction.window;
    if (state.prints === null || state.hashes === null) {
      state.prints = new Uint16Array(window * SIGNATURE_BINS).fill(EMPTY_BIN);
      state.hashes = new Uint32Array(window);
    }
    const scratch = this.scratch;
    const hash = fingerprint(prompt, scratch, 0);
    let near = 0;
    let identical = false;
    for (let i = 0; i < state.ringSize; i++) {
      if (state.hashes[i] === hash) {
        identical = true;
        continue;
      }
      if (similarAtLeast(scratch, 0, state.prints, i * SIGNATURE_BINS, threshold)) near++;
    }
    state.prints.set(scratch, state.ringNext * SIGNATURE_BINS);
    state.hashes[state.ringNext] = hash;
    state.ringNext = (state.ringNext + 1) % window;
    if (state.ringSize < window) state.ringSize++;
    return near === 0 && !identical ? -1 : near;
  }

  private due(state: PrincipalState, kind: AnomalyKind, bucket: number): boolean {
    const index = KIND_INDEX[kind];
    if (bucket - state.lastReported[index]! <= this.options.cooldownBuckets) return false;
    state.lastReported[index] = bucket;
    return true;
  }

  private report(state: PrincipalState, kind: AnomalyKind, now: number, observed: number, expected: number, threshold: number, what: string): Anomaly {
    const ratio = threshold > 0 ? observed / threshold : Infinity;
    const severity = kind === "extraction" || kind === "escalation" || ratio >= 3 ? "high" : ratio >= 1.5 ? "medium" : "low";
    const round = (value: number): number => Math.round(value * 1000) / 1000;
    return {
      kind,
      principal: state.principal,
      time: now,
      severity,
      observed: round(observed),
      expected: round(expected),
      threshold: round(threshold),
      summary: `${state.principal}: ${round(observed)} ${what} (baseline ${round(expected)}, threshold ${round(threshold)})`,
    };
  }
}
