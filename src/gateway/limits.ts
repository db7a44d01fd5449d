/**
 * The gateway's side of rate limits, budgets, anomaly detection and quarantine
 * (the library parts live in src/limits):
 *
 *   admit()        after authentication: quarantine (403), limits and budgets
 *                  (429, RateLimit-* and Retry-After headers; 503 when the
 *                  counter store is down and the policy fails closed), and a
 *                  concurrency slot given back when the response ends
 *   observeInput() after the input guard: request rate, block rate, prompt
 *                  diversity and near-duplicate probing, multi-turn escalation
 *   recordUsage()  after the response: tokens (upstream `usage`, else counted)
 *                  into token windows, budgets and the token baseline
 *
 * Anomalies, limit refusals, quarantines and the counter store going down or
 * coming back are SignalEvents (anomaly.*, limit.exceeded, quarantine.added /
 * quarantine.removed, limit.degraded / limit.recovered) written through the
 * gateway's EventWriter; the admin API gets /admin/quarantine.
 *
 * Headers follow draft-ietf-httpapi-ratelimit-headers-06 (separate
 * RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset in delta seconds, and
 * RateLimit-Policy), the form most clients and proxies read today.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";
import type { Redis } from "ioredis";
import { z } from "zod";
import { AnomalyDetector, type Anomaly } from "../limits/anomaly.js";
import { QuarantineList, type QuarantineEntry } from "../limits/quarantine.js";
import { RateLimits, type Admission, type LimitSubject } from "../limits/rate.js";
import { connectLimitsRedis, whenReady } from "../limits/redis.js";
import { countTokens } from "../limits/tokens.js";
import type { LoadedPolicy } from "../policy/load.js";
import type { SignalEvent } from "../store/types.js";
import type { EventWriter } from "../store/writer.js";
import type { AggregateDecision, ChatRequest } from "./chat.js";
import type { GatewayConfig } from "./config.js";
import { GatewayError, badRequest, type ErrorType } from "./errors.js";
import { adminEvent, signalEvent } from "./events.js";
import type { Principal } from "./identity.js";
import type { Runtime } from "./runtime.js";
import { requireAdmin } from "./admin.js";

export interface GatewayLimitsOptions {
  readonly redis: GatewayConfig["redis"];
  readonly policy: LoadedPolicy;
  readonly registry: Registry;
  readonly writer: EventWriter;
  readonly logger: Logger;
}

/** At most one limit.exceeded event per principal, refusal code and this many ms (a flood of 429s is one story). */
const LIMIT_EVENT_INTERVAL_MS = 60_000;

export class GatewayLimits {
  readonly anomalies: AnomalyDetector;
  readonly quarantine: QuarantineList;
  private limits: RateLimits;
  private policy: LoadedPolicy;
  private readonly redis: Redis | null;
  private readonly keyPrefix: string;
  private storeUp = true;
  private storeError = "";
  private readonly lastLimitEvent = new Map<string, number>();
  /** Requests whose tokens are counted already (a stream that came back as one JSON response is counted once). */
  private readonly counted = new WeakSet<FastifyRequest>();
  private readonly metrics: {
    refusals: Counter<"code">;
    degraded: Counter;
    anomalies: Counter<"kind">;
    storeUp: Gauge;
  };

  private constructor(private readonly options: GatewayLimitsOptions) {
    this.policy = options.policy;
    this.keyPrefix = options.redis?.keyPrefix ?? "bulwark:";
    this.redis = options.redis ? connectLimitsRedis({ url: options.redis.url, commandTimeoutMs: options.redis.commandTimeoutMs }) : null;
    const store = this.redis ? ({ kind: "redis", client: this.redis, keyPrefix: this.keyPrefix } as const) : ({ kind: "memory" } as const);
    this.limits = new RateLimits(options.policy.policy.limits, store);
    this.anomalies = new AnomalyDetector(options.policy.policy.limits.anomaly);
    this.quarantine = new QuarantineList(store);
    const registers = [options.registry];
    const quarantine = this.quarantine;
    const storeUp = (): boolean => this.storeUp;
    this.metrics = {
      refusals: new Counter({ name: "bulwark_limit_refusals_total", help: "Requests refused by rate limits, budgets, concurrency limits or quarantine, by code.", labelNames: ["code"], registers }),
      degraded: new Counter({ name: "bulwark_limit_degraded_decisions_total", help: "Limit checks decided by the policy's failure mode because the counter store (Redis) failed.", registers }),
      anomalies: new Counter({ name: "bulwark_anomalies_total", help: "Anomalies reported, by kind.", labelNames: ["kind"], registers }),
      storeUp: new Gauge({
        name: "bulwark_limit_store_up",
        help: "1 when the shared limit store (Redis) is usable, or when none is configured.",
        registers,
        collect() {
          this.set(storeUp() ? 1 : 0);
        },
      }),
    };
    new Gauge({
      name: "bulwark_quarantined_principals",
      help: "Principals in quarantine (this replica's copy of the list).",
      registers,
      collect() {
        this.set(quarantine.list().length);
      },
    });
    if (this.redis) {
      const redis = this.redis;
      redis.on("ready", () => this.setStore(true));
      redis.on("error", (error: Error) => this.setStore(false, error.message));
      redis.on("close", () => this.setStore(false, "connection closed"));
    }
  }

  static async create(options: GatewayLimitsOptions): Promise<GatewayLimits> {
    const limits = new GatewayLimits(options);
    if (limits.redis) {
      const ready = await whenReady(limits.redis, 2_000);
      if (!ready) limits.setStore(false, limits.storeError || "not reachable at start");
      await limits.quarantine.start(ready ? 1_000 : 0);
    }
    return limits;
  }

  /** Readiness problems (for /readyz). */
  problems(): string[] {
    if (this.storeUp) return [];
    const mode = this.limits.rate.failureMode;
    return [`limit store (Redis) down: ${this.storeError}; limits ${mode === "closed" ? "refuse requests" : mode === "open" ? "are not enforced" : "are per replica"} until it is back`];
  }

  /** Quarantine, limits and budgets for one request; throws the refusal. */
  async admit(request: FastifyRequest, reply: FastifyReply, runtime: Runtime, principal: Principal, route: string): Promise<void> {
    this.sync(runtime);
    const now = Date.now();
    const quarantined = this.quarantine.get(principal.id, now);
    if (quarantined !== undefined) {
      this.metrics.refusals.inc({ code: "principal_quarantined" });
      const until = quarantined.until === null ? "until an administrator releases it" : `until ${new Date(quarantined.until).toISOString()}`;
      throw new GatewayError(403, "permission_error", "principal_quarantined", `This principal is quarantined ${until}: ${quarantined.reason.slice(0, 200)}`);
    }
    if (!this.limits.active) return;
    const subject = subjectOf(request, principal, route);
    const model = route === "/v1/chat/completions" ? modelOf(request.body) : undefined;
    const admission = await this.limits.admit(subject, model, now);
    if (admission.degraded) this.noteDegraded();
    if (admission.quota !== null) {
      reply.header("ratelimit-limit", String(admission.quota.limit));
      reply.header("ratelimit-remaining", String(admission.quota.remaining));
      reply.header("ratelimit-reset", String(admission.quota.resetSeconds));
      if (admission.quota.policy) reply.header("ratelimit-policy", admission.quota.policy);
    }
    if (!admission.allowed) throw this.refused(admission, reply, request, principal, route, now);
    if (this.limits.holdsSlots) reply.raw.once("close", admission.release);
  }

  /** The input guard's verdict on a chat request: request rate, block rate, probing, escalation; and, for a stream, its tokens once it ends. */
  observeInput(request: FastifyRequest, reply: FastifyReply, principal: Principal, chat: ChatRequest, input: AggregateDecision): void {
    // A streamed response's tokens are counted when it ends (a non-streamed one's by recordUsage, from its usage).
    if (chat.stream === true && input.action !== "block") {
      reply.raw.once("close", () => {
        if (reply.raw.statusCode < 400) this.recordUsage(request, principal, chat, undefined);
      });
    }
    if (!this.anomalies.enabled) return;
    const now = Date.now();
    let prompt: string | undefined;
    let userTurns = 0;
    for (const { item } of input.checked) {
      if (item.role === "user") {
        prompt = item.text;
        userTurns++;
      }
    }
    const found = this.anomalies.observeRequest(principal.id, now, prompt, input.action === "block");
    for (const anomaly of found) this.report(anomaly, request);
    if (userTurns >= 2) {
      const scores: number[] = [];
      for (const { item, decision } of input.checked) if (item.role === "user") scores.push(decision.score);
      const escalation = this.anomalies.observeConversation(principal.id, now, scores);
      if (escalation) this.report(escalation, request);
    }
  }

  /** A served chat request's tokens: the upstream's `usage` when given, else counted (completion: max_tokens for streams). */
  recordUsage(request: FastifyRequest, principal: Principal, chat: ChatRequest, response: unknown): void {
    if (this.counted.has(request)) return;
    this.counted.add(request);
    const usage = (response as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } } | null | undefined)?.usage;
    let promptTokens: number;
    let completionTokens: number;
    if (usage && typeof usage.prompt_tokens === "number" && typeof usage.completion_tokens === "number") {
      promptTokens = usage.prompt_tokens;
      completionTokens = usage.completion_tokens;
    } else {
      if (!this.limits.active && !this.anomalies.enabled) return;
      // The tokenizer where tokens are billed or limited; four characters a token for the anomaly baseline
      // alone (tokenizing a whole conversation on every streamed request would cost more than the check).
      const count = this.limits.countsTokens ? countTokens : estimateTokens;
      promptTokens = 0;
      for (const message of chat.messages) {
        if (typeof message.content === "string") promptTokens += count(message.content);
        else if (Array.isArray(message.content)) for (const part of message.content) if (typeof part.text === "string") promptTokens += count(part.text);
      }
      completionTokens = completionOf(response, count) ?? chat.max_tokens ?? chat.max_completion_tokens ?? 0;
    }
    const now = Date.now();
    if (this.limits.active) void this.limits.recordUsage(subjectOf(request, principal, "/v1/chat/completions"), chat.model, promptTokens, completionTokens, now).then(() => {
      const failure = this.limits.takeFailure();
      if (failure) this.noteDegraded(failure.message);
    });
    for (const anomaly of this.anomalies.observeTokens(principal.id, now, promptTokens + completionTokens)) this.report(anomaly, request);
  }

  /** Admin API: GET /admin/quarantine, POST /admin/quarantine, DELETE /admin/quarantine/:principal. */
  registerAdminRoutes(app: FastifyInstance, runtime: () => Runtime): void {
    const admin = (request: FastifyRequest): string => {
      return requireAdmin(request, runtime());
    };
    const present = (entry: QuarantineEntry): Record<string, unknown> => ({
      principal: entry.principal,
      reason: entry.reason,
      by: entry.by,
      since: new Date(entry.since).toISOString(),
      until: entry.until === null ? null : new Date(entry.until).toISOString(),
    });
    app.get("/admin/quarantine", async (request) => {
      admin(request);
      return { data: this.quarantine.list().map(present), shared: this.redis !== null, store_up: this.storeUp };
    });
    app.post("/admin/quarantine", async (request, reply) => {
      const adminId = admin(request);
      const parsed = QuarantineRequest.safeParse(request.body);
      if (!parsed.success) throw badRequest("invalid_field", parsed.error.issues.map((issue) => `${issue.path.join(".") || "body"}: ${issue.message}`).join("; "));
      const { principal, reason, durationSeconds } = parsed.data;
      const now = Date.now();
      const entry: QuarantineEntry = { principal, reason: reason ?? "quarantined by an administrator", by: `admin:${adminId}`, since: now, until: durationSeconds ? now + durationSeconds * 1000 : null };
      const { shared } = await this.quarantine.add(entry);
      this.options.writer.enqueue(adminEvent(adminId, "/admin/quarantine", "quarantine_added", { principal, reason: entry.reason.slice(0, 200), until: entry.until, shared }));
      this.signal("quarantine.added", "high", principal, `${principal} quarantined by admin ${adminId}: ${entry.reason.slice(0, 200)}`, { by: entry.by, until: entry.until === null ? null : new Date(entry.until).toISOString(), shared });
      reply.code(201);
      return { ...present(entry), shared };
    });
    app.delete<{ Params: { principal: string } }>("/admin/quarantine/:principal", async (request) => {
      const adminId = admin(request);
      const principal = request.params.principal.slice(0, 128);
      const { removed, shared } = await this.quarantine.remove(principal);
      if (!removed && !shared) throw new GatewayError(404, "not_found_error", "not_quarantined", `${JSON.stringify(principal)} is not quarantined.`);
      this.options.writer.enqueue(adminEvent(adminId, `/admin/quarantine/${principal}`, "quarantine_removed", { principal, shared }));
      this.signal("quarantine.removed", "info", principal, `${principal} released from quarantine by admin ${adminId}`, { by: `admin:${adminId}`, shared });
      return { principal, released: true, shared };
    });
  }

  async close(): Promise<void> {
    await this.limits.flushCharges().catch(() => undefined);
    await this.quarantine.close();
    if (this.redis) {
      this.redis.removeAllListeners("close");
      this.redis.removeAllListeners("error");
      this.redis.on("error", () => undefined);
      this.redis.disconnect();
    }
  }

  /** A reloaded policy: new limit rules (memory counters start over; Redis ones carry on), detector options; baselines kept. */
  private sync(runtime: Runtime): void {
    if (runtime.policy === this.policy) return;
    if (runtime.policy.hash !== this.policy.hash) {
      const store = this.redis ? ({ kind: "redis", client: this.redis, keyPrefix: this.keyPrefix } as const) : ({ kind: "memory" } as const);
      this.limits = new RateLimits(runtime.policy.policy.limits, store);
      this.anomalies.configure(runtime.policy.policy.limits.anomaly);
    }
    this.policy = runtime.policy;
  }

  private refused(admission: Admission, reply: FastifyReply, request: FastifyRequest, principal: Principal, route: string, now: number): GatewayError {
    const code = admission.code ?? "rate_limit_exceeded";
    this.metrics.refusals.inc({ code });
    if (admission.retryAfterSeconds !== undefined) reply.header("retry-after", String(admission.retryAfterSeconds));
    if (code !== "limits_unavailable" && code !== "model_not_priced") {
      const throttleKey = `${principal.id}\u0000${code}\u0000${admission.rule ?? ""}`;
      const last = this.lastLimitEvent.get(throttleKey);
      if (last === undefined || now - last >= LIMIT_EVENT_INTERVAL_MS) {
        if (this.lastLimitEvent.size >= 10_000) this.lastLimitEvent.clear();
        this.lastLimitEvent.set(throttleKey, now);
        this.signal("limit.exceeded", code === "budget_exceeded" ? "medium" : "low", principal.id, `${principal.id}: ${admission.message ?? code}`, { code, rule: admission.rule ?? null, retryAfterSeconds: admission.retryAfterSeconds ?? null }, route, request.id);
      }
    }
    const type: ErrorType = admission.status === 503 ? "service_unavailable" : admission.status === 403 ? "permission_error" : "rate_limit_error";
    return new GatewayError(admission.status ?? 429, type, code, admission.message ?? "Rate limit reached.");
  }

  private report(anomaly: Anomaly, request: FastifyRequest): void {
    this.metrics.anomalies.inc({ kind: anomaly.kind });
    this.signal(`anomaly.${anomaly.kind}`, anomaly.severity, anomaly.principal, anomaly.summary, { kind: anomaly.kind, observed: anomaly.observed, expected: anomaly.expected, threshold: anomaly.threshold }, request.routeOptions.url ?? undefined, request.id);
    this.options.logger.warn({ anomaly: anomaly.kind, principal: anomaly.principal, observed: anomaly.observed, threshold: anomaly.threshold }, "anomaly");
    const { automatic, durationSeconds } = this.policy.policy.limits.quarantine;
    if (automatic.includes(anomaly.kind) && this.quarantine.get(anomaly.principal) === undefined) {
      const entry: QuarantineEntry = { principal: anomaly.principal, reason: `anomaly.${anomaly.kind}: ${anomaly.summary}`, by: "automatic", since: anomaly.time, until: anomaly.time + durationSeconds * 1000 };
      void this.quarantine.add(entry).then(({ shared }) => {
        this.signal("quarantine.added", "high", anomaly.principal, `${anomaly.principal} quarantined automatically for ${durationSeconds} s after anomaly.${anomaly.kind}`, { by: "automatic", anomaly: anomaly.kind, until: new Date(entry.until!).toISOString(), shared });
        this.options.logger.warn({ principal: anomaly.principal, anomaly: anomaly.kind, durationSeconds, shared }, "principal quarantined automatically");
      });
    }
  }

  private noteDegraded(message?: string): void {
    this.metrics.degraded.inc();
    const failure = this.limits.takeFailure();
    if (this.storeUp) this.setStore(false, message ?? failure?.message ?? "command failed");
  }

  private setStore(up: boolean, error = ""): void {
    if (up === this.storeUp) {
      if (!up && error) this.storeError = error;
      return;
    }
    this.storeUp = up;
    if (up) {
      this.options.logger.warn("limit store (Redis) is back: shared limits and quarantine list in force again");
      this.signal("limit.recovered", "info", undefined, "The shared limit store (Redis) is reachable again.", { failureMode: this.limits.rate.failureMode });
      void this.quarantine.refresh();
      this.storeError = "";
    } else {
      this.storeError = error || "unreachable";
      this.options.logger.error({ error: this.storeError, failureMode: this.limits.rate.failureMode }, "ALARM: limit store (Redis) unreachable");
      this.signal("limit.degraded", "high", undefined, `The shared limit store (Redis) is unreachable (${this.storeError.slice(0, 200)}); limits follow failureMode ${this.limits.rate.failureMode}.`, { error: this.storeError.slice(0, 200), failureMode: this.limits.rate.failureMode });
    }
  }

  private signal(type: string, severity: SignalEvent["severity"], principal: string | undefined, summary: string, detail: SignalEvent["detail"], route?: string, requestId?: string): void {
    this.options.writer.enqueue(
      signalEvent({
        type,
        severity,
        ...(principal !== undefined ? { principal } : {}),
        ...(route !== undefined ? { route } : {}),
        ...(requestId !== undefined ? { requestId } : {}),
        summary: summary.slice(0, 500),
        detail,
      }),
    );
  }
}

const QuarantineRequest = z.strictObject({
  principal: z.string().min(1).max(128),
  reason: z.string().min(1).max(1000).optional(),
  durationSeconds: z.number().int().min(1).max(365 * 86_400).optional(),
});

function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

function subjectOf(request: FastifyRequest, principal: Principal, route: string): LimitSubject {
  return { key: principal.keyId, principal: principal.id, ip: request.ip, route };
}

function modelOf(body: unknown): string | undefined {
  const model = (body as { model?: unknown } | null | undefined)?.model;
  return typeof model === "string" ? model : undefined;
}

/** Completion text of a non-streamed response, counted, when the upstream gave no usage. */
function completionOf(response: unknown, count: (text: string) => number): number | undefined {
  const choices = (response as { choices?: unknown } | null | undefined)?.choices;
  if (!Array.isArray(choices)) return undefined;
  let tokens = 0;
  for (const choice of choices) {
    const content = (choice as { message?: { content?: unknown } } | null)?.message?.content;
    if (typeof content === "string") tokens += count(content);
  }
  return tokens;
}
