/**
 * Alerts to webhooks: signal events (incident changes by default; any signal
 * type or dotted prefix a webhook asks for) become HTTP POSTs with a generic
 * JSON body or a Slack-compatible one (`text` plus Block Kit `blocks`).
 *
 * Delivery is off the request path and can never block or crash the caller:
 * `observe` only decides and queues; sending runs on its own, with bounded
 * retries (exponential backoff with jitter, Retry-After honoured up to the cap)
 * on network errors, timeouts, 429 and 5xx. Per webhook:
 *  - deduplication: the first alert with a given key is sent at once; repeats
 *    within the window are counted, and when the window closes one follow-up
 *    carries the count (`repeat: true`). So a storm of one alert costs at most
 *    two messages per window;
 *  - a rate limit of its own (token bucket): alerts beyond it are dropped and
 *    counted, and the next alert sent says how many were dropped;
 *  - a bounded queue: beyond it alerts are dropped and counted.
 * Every outcome goes to the hooks (the gateway turns them into metrics).
 */
import { createHmac } from "node:crypto";
import { Agent, request, type Dispatcher } from "undici";
import { z } from "zod";
import type { AuditEvent, SignalEvent } from "../store/types.js";

export const SEVERITIES = ["info", "low", "medium", "high", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];
export const severityRank = (severity: string): number => SEVERITIES.indexOf(severity as Severity);

const slug = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "lower-case letters, digits, - and _ (up to 64)");
/** A signal type (`quarantine.added`) or a dotted prefix (`anomaly.`), or `*` for every signal. */
export const SignalTypePattern = z.string().regex(/^(\*|[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?)$/, "a signal type such as drift.score, a prefix ending in a dot such as anomaly., or *");

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name");
const headerName = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "an HTTP header name");

export const WebhookConfig = z
  .strictObject({
    name: slug.describe("A name for the webhook, used in metrics and logs (never the URL, which may hold a secret)."),
    url: z.url({ protocol: /^https?$/ }).optional().describe("Where alerts are POSTed. A URL that holds a secret (Slack's do) belongs in the environment: use urlEnv."),
    urlEnv: envName.optional().describe("Name of the environment variable holding the URL (instead of url)."),
    headersEnv: z.record(headerName, envName).default({}).describe("Extra request headers whose values come from environment variables, e.g. {authorization: ALERTS_TOKEN}."),
    signingSecretEnv: envName.optional().describe("Name of the environment variable holding a secret: each body is then signed, header x-bulwark-signature: sha256=HMAC-SHA256(secret, body) in hex."),
    format: z.enum(["json", "slack"]).default("json").describe("`json`: Bulwark's generic body; `slack`: a Slack-compatible body (`text` and `blocks`, for Slack incoming webhooks and tools that accept them)."),
    types: z.array(SignalTypePattern).min(1).default(["incident."]).describe("Signal types to send: exact (`scan.regression`), dotted prefixes (`anomaly.`) or `*`. Incident changes (`incident.`) by default."),
    minSeverity: z.enum(SEVERITIES).default("info").describe("Least severity sent."),
    timeoutMs: z.number().int().min(100).max(60_000).default(5_000).describe("Time allowed per attempt."),
    retries: z.number().int().min(0).max(10).default(3).describe("Retries after a network error, a timeout, 429 or 5xx."),
    backoffMs: z.number().int().min(1).max(60_000).default(500).describe("First retry delay; doubles each retry (with jitter)."),
    maxBackoffMs: z.number().int().min(1).max(600_000).default(30_000).describe("Longest delay between two attempts (also caps a Retry-After)."),
  })
  .refine((spec) => (spec.url === undefined) !== (spec.urlEnv === undefined), { message: "exactly one of url and urlEnv", path: ["url"] })
  .describe("One webhook receiving alerts.");

export const AlertsConfig = z
  .strictObject({
    webhooks: z.array(WebhookConfig).default([]).describe("Where alerts go. None: no alerts are sent (incidents still open)."),
    dedupeWindowSeconds: z.number().int().min(0).max(86_400).default(300).describe("Alerts with the same key (type, principal, route, incident or rule) within this window are sent once, then once more with their count when the window closes. 0 turns deduplication off."),
    rateLimit: z
      .strictObject({
        perMinute: z.number().int().min(1).max(10_000).default(30).describe("Alerts per minute per webhook, sustained."),
        burst: z.number().int().min(1).max(10_000).default(10).describe("Alerts per webhook that may go out at once."),
      })
      .prefault({})
      .describe("The alerts' own rate limit, per webhook; alerts beyond it are dropped and counted."),
    queueSize: z.number().int().min(1).max(100_000).default(1_000).describe("Most alerts waiting or being delivered, over all webhooks; beyond it alerts are dropped and counted."),
    linkBase: z.url({ protocol: /^https?$/ }).optional().describe("The gateway's address as people reach it (e.g. https://bulwark.example.com): alerts then link to the incident in the admin API."),
  })
  .describe("Alerts to webhooks.");

export type WebhookSpec = z.output<typeof WebhookConfig>;
export type AlertsSpec = z.output<typeof AlertsConfig>;
export type AlertsInput = z.input<typeof AlertsConfig>;

/** What one alert says; built from a signal event. */
export interface Alert {
  readonly key: string;
  readonly type: string;
  readonly severity: Severity;
  readonly title: string;
  readonly summary: string;
  readonly time: string;
  readonly eventId: string;
  readonly principal?: string;
  readonly route?: string;
  readonly detail: Readonly<Record<string, string | number | boolean | null>>;
}

export interface AlertDelivery {
  readonly alert: Alert;
  /** Occurrences of this key the delivery stands for (1 for a first alert; the window's total for a repeat). */
  readonly count: number;
  readonly repeat: boolean;
  readonly firstAt: string;
  readonly lastAt: string;
  /** Alerts dropped by this webhook's rate limit since the last delivery. */
  readonly droppedByRateLimit: number;
}

export type AlertOutcome = "delivered" | "failed" | "deduplicated" | "rate_limited" | "queue_full";

export interface AlertHooks {
  outcome?(webhook: string, outcome: AlertOutcome, detail: { attempts?: number; status?: number; error?: string }): void;
  retry?(webhook: string, attempt: number, reason: string): void;
}

export interface AlertDispatcherOptions {
  readonly hooks?: AlertHooks;
  readonly now?: () => number;
  /** The undici dispatcher to send through (a fresh Agent by default). */
  readonly dispatcher?: Dispatcher;
  /** Where urlEnv, headersEnv and signingSecretEnv are read (process.env by default). */
  readonly env?: NodeJS.ProcessEnv;
}

interface DedupeEntry {
  count: number;
  sent: number;
  firstAt: number;
  lastAt: number;
  latest: Alert;
  timer: NodeJS.Timeout | undefined;
}

interface WebhookState {
  readonly spec: WebhookSpec;
  tokens: number;
  refilledAt: number;
  droppedByRateLimit: number;
  readonly dedupe: Map<string, DedupeEntry>;
}

const USER_AGENT = "bulwark-alerts/1";
const MAX_RESPONSE_BYTES = 64 * 1024;
const MAX_DEDUPE_KEYS = 10_000;

export class AlertDispatcher {
  private webhooks: WebhookState[];
  private readonly pending = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private readonly dispatcher: Dispatcher;
  private readonly ownDispatcher: boolean;
  private readonly now: () => number;
  private closed = false;

  constructor(
    private config: AlertsSpec,
    private readonly options: AlertDispatcherOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.dispatcher = options.dispatcher ?? new Agent({ connections: 8, keepAliveTimeout: 10_000 });
    this.ownDispatcher = !options.dispatcher;
    this.webhooks = config.webhooks.map((spec) => this.stateFor(spec));
  }

  /** Applies a new configuration (after a reload); deduplication and rate-limit state of unchanged webhooks is kept. */
  reconfigure(config: AlertsSpec): void {
    const previous = new Map(this.webhooks.map((state) => [JSON.stringify(state.spec), state]));
    this.config = config;
    this.webhooks = config.webhooks.map((spec) => previous.get(JSON.stringify(spec)) ?? this.stateFor(spec));
  }

  /** Takes any audit event; signal events that a webhook asks for are queued for it. Never throws, never waits. */
  observe(event: AuditEvent): void {
    if (this.closed || event.kind !== "signal" || this.webhooks.length === 0) return;
    let alert: Alert | undefined;
    for (const state of this.webhooks) {
      if (!wants(state.spec, event)) continue;
      alert ??= alertFromSignal(event);
      this.offer(state, alert);
    }
  }

  /** Waits until every queued delivery finished (or the time is up); repeats still waiting for their window are sent first when `repeats` is set. */
  async flush(timeoutMs: number, repeats = false): Promise<boolean> {
    if (repeats) for (const state of this.webhooks) for (const [key, entry] of state.dedupe) this.closeWindow(state, key, entry);
    const deadline = this.now() + timeoutMs;
    while (this.pending.size > 0 && this.now() < deadline) {
      await Promise.race([Promise.allSettled([...this.pending]), sleep(Math.max(1, deadline - this.now()))]);
    }
    return this.pending.size === 0;
  }

  /** Sends what is waiting (repeats included) within the time given, then stops; retries still waiting are abandoned. */
  async close(timeoutMs = 5_000): Promise<void> {
    const flushed = await this.flush(timeoutMs, true);
    this.closed = true;
    for (const state of this.webhooks) for (const entry of state.dedupe.values()) if (entry.timer) clearTimeout(entry.timer);
    if (!flushed) this.abort.abort();
    await Promise.allSettled([...this.pending]);
    if (this.ownDispatcher) await this.dispatcher.close().catch(() => undefined);
  }

  private stateFor(spec: WebhookSpec): WebhookState {
    return { spec, tokens: this.config.rateLimit.burst, refilledAt: this.now(), droppedByRateLimit: 0, dedupe: new Map() };
  }

  private offer(state: WebhookState, alert: Alert): void {
    const windowMs = this.config.dedupeWindowSeconds * 1000;
    const at = this.now();
    // Keys tracked per webhook are bounded: past the bound (a flood of distinct keys) alerts go to the rate limit untracked.
    if (windowMs > 0 && (state.dedupe.size < MAX_DEDUPE_KEYS || state.dedupe.has(alert.key))) {
      const entry = state.dedupe.get(alert.key);
      if (entry) {
        entry.count++;
        entry.lastAt = at;
        entry.latest = alert;
        this.options.hooks?.outcome?.(state.spec.name, "deduplicated", {});
        return;
      }
      const fresh: DedupeEntry = { count: 1, sent: 1, firstAt: at, lastAt: at, latest: alert, timer: undefined };
      fresh.timer = setTimeout(() => this.closeWindow(state, alert.key, fresh), windowMs);
      fresh.timer.unref();
      state.dedupe.set(alert.key, fresh);
    }
    this.enqueue(state, { alert, count: 1, repeat: false, firstAt: new Date(at).toISOString(), lastAt: new Date(at).toISOString(), droppedByRateLimit: 0 });
  }

  private closeWindow(state: WebhookState, key: string, entry: DedupeEntry): void {
    if (entry.timer) clearTimeout(entry.timer);
    if (state.dedupe.get(key) === entry) state.dedupe.delete(key);
    if (entry.count <= entry.sent || this.closed) return;
    entry.sent = entry.count;
    this.enqueue(state, { alert: entry.latest, count: entry.count, repeat: true, firstAt: new Date(entry.firstAt).toISOString(), lastAt: new Date(entry.lastAt).toISOString(), droppedByRateLimit: 0 });
  }

  private enqueue(state: WebhookState, delivery: AlertDelivery): void {
    const { perMinute, burst } = this.config.rateLimit;
    const at = this.now();
    state.tokens = Math.min(burst, state.tokens + ((at - state.refilledAt) * perMinute) / 60_000);
    state.refilledAt = at;
    if (state.tokens < 1) {
      state.droppedByRateLimit++;
      this.options.hooks?.outcome?.(state.spec.name, "rate_limited", {});
      return;
    }
    if (this.pending.size >= this.config.queueSize) {
      this.options.hooks?.outcome?.(state.spec.name, "queue_full", {});
      return;
    }
    state.tokens -= 1;
    const withDrops = { ...delivery, droppedByRateLimit: state.droppedByRateLimit };
    state.droppedByRateLimit = 0;
    const task = this.deliver(state.spec, withDrops).catch(() => undefined);
    this.pending.add(task);
    void task.finally(() => this.pending.delete(task));
  }

  /** The webhook's URL and headers with their environment variables read; a problem names the variable. */
  private target(spec: WebhookSpec, body: string): { url: string; headers: Record<string, string> } | { problem: string } {
    const env = this.options.env ?? process.env;
    const url = spec.url ?? (spec.urlEnv ? env[spec.urlEnv] : undefined);
    if (!url) return { problem: `the environment variable ${spec.urlEnv ?? "?"} (urlEnv) is unset` };
    if (!/^https?:\/\//.test(url)) return { problem: `the environment variable ${spec.urlEnv ?? "?"} (urlEnv) does not hold an http(s) URL` };
    const headers: Record<string, string> = { "content-type": "application/json", "user-agent": USER_AGENT };
    for (const [header, variable] of Object.entries(spec.headersEnv)) {
      const value = env[variable];
      if (!value) return { problem: `the environment variable ${variable} (headersEnv.${header}) is unset` };
      headers[header.toLowerCase()] = value;
    }
    if (spec.signingSecretEnv) {
      const secret = env[spec.signingSecretEnv];
      if (!secret) return { problem: `the environment variable ${spec.signingSecretEnv} (signingSecretEnv) is unset` };
      headers["x-bulwark-signature"] = `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
    }
    return { url, headers };
  }

  private async deliver(spec: WebhookSpec, delivery: AlertDelivery): Promise<void> {
    const body = JSON.stringify(spec.format === "slack" ? slackBody(delivery, this.config.linkBase) : jsonBody(delivery, this.config.linkBase));
    const target = this.target(spec, body);
    if ("problem" in target) {
      this.options.hooks?.outcome?.(spec.name, "failed", { attempts: 0, error: target.problem });
      return;
    }
    const attempts = spec.retries + 1;
    let last: { status?: number; error?: string } = {};
    for (let attempt = 1; attempt <= attempts; attempt++) {
      let retryAfterMs: number | undefined;
      try {
        const response = await request(target.url, {
          method: "POST",
          body,
          headers: target.headers,
          dispatcher: this.dispatcher,
          headersTimeout: spec.timeoutMs,
          bodyTimeout: spec.timeoutMs,
          signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(spec.timeoutMs)]),
        });
        await drain(response.body);
        if (response.statusCode >= 200 && response.statusCode < 300) {
          this.options.hooks?.outcome?.(spec.name, "delivered", { attempts: attempt, status: response.statusCode });
          return;
        }
        last = { status: response.statusCode };
        const retryable = response.statusCode === 429 || response.statusCode === 408 || response.statusCode >= 500;
        if (!retryable) break;
        retryAfterMs = parseRetryAfter(response.headers["retry-after"], this.now());
      } catch (error) {
        last = { error: error instanceof Error ? error.message : String(error) };
        if (this.abort.signal.aborted) break;
      }
      if (attempt === attempts) break;
      const backoff = Math.min(spec.maxBackoffMs, spec.backoffMs * 2 ** (attempt - 1));
      const delay = Math.min(spec.maxBackoffMs, Math.max(retryAfterMs ?? 0, backoff * (0.8 + Math.random() * 0.4)));
      this.options.hooks?.retry?.(spec.name, attempt, last.status !== undefined ? `status ${last.status}` : (last.error ?? "error"));
      if (!(await sleep(delay, this.abort.signal))) break;
    }
    this.options.hooks?.outcome?.(spec.name, "failed", { attempts, ...last });
  }
}

function wants(spec: WebhookSpec, event: SignalEvent): boolean {
  if (severityRank(event.severity) < severityRank(spec.minSeverity)) return false;
  return spec.types.some((pattern) => pattern === "*" || (pattern.endsWith(".") ? event.type.startsWith(pattern) : event.type === pattern));
}

/** The alert a signal event makes. Incident signals carry their incident's title, rule and runbook in `detail`. */
export function alertFromSignal(event: SignalEvent): Alert {
  const detail = event.detail;
  const incident = typeof detail.incident === "string" ? detail.incident : undefined;
  const rule = typeof detail.rule === "string" ? detail.rule : undefined;
  const key = [event.type, incident ?? rule ?? "", event.principal ?? "", event.route ?? ""].join("|");
  const title = typeof detail.title === "string" && detail.title ? `${titleFor(event.type)}: ${detail.title}` : titleFor(event.type);
  return {
    key,
    type: event.type,
    severity: (SEVERITIES as readonly string[]).includes(event.severity) ? event.severity : "medium",
    title,
    summary: event.summary,
    time: event.time,
    eventId: event.id,
    ...(event.principal ? { principal: event.principal } : {}),
    ...(event.route ? { route: event.route } : {}),
    detail,
  };
}

function titleFor(type: string): string {
  const known: Record<string, string> = {
    "incident.opened": "Incident opened",
    "incident.acknowledged": "Incident acknowledged",
    "incident.resolved": "Incident resolved",
    "scan.regression": "Scheduled scan regressed",
    "scan.completed": "Scheduled scan completed",
    "scan.failed": "Scheduled scan failed",
    "quarantine.added": "Principal quarantined",
  };
  return known[type] ?? type;
}

function incidentLink(delivery: AlertDelivery, linkBase: string | undefined): string | undefined {
  const incident = delivery.alert.detail.incident;
  return linkBase && typeof incident === "string" ? `${linkBase.replace(/\/+$/, "")}/admin/incidents/${encodeURIComponent(incident)}` : undefined;
}

/** The generic JSON body (documented in docs/monitoring.md). */
export function jsonBody(delivery: AlertDelivery, linkBase?: string): Record<string, unknown> {
  const { alert } = delivery;
  const runbook = alert.detail.runbook;
  const link = incidentLink(delivery, linkBase);
  return {
    source: "bulwark",
    version: 1,
    key: alert.key,
    type: alert.type,
    severity: alert.severity,
    title: alert.title,
    summary: alert.summary,
    time: alert.time,
    eventId: alert.eventId,
    principal: alert.principal ?? null,
    route: alert.route ?? null,
    count: delivery.count,
    repeat: delivery.repeat,
    firstAt: delivery.firstAt,
    lastAt: delivery.lastAt,
    droppedByRateLimit: delivery.droppedByRateLimit,
    incident: typeof alert.detail.incident === "string" ? { id: alert.detail.incident, rule: alert.detail.rule ?? null, status: alert.detail.status ?? null, runbook: typeof runbook === "string" ? runbook : null, ...(link ? { link } : {}) } : null,
    detail: alert.detail,
  };
}

/** Slack's mrkdwn needs &, < and > escaped. */
const mrkdwn = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** A Slack-compatible body: `text` (the notification line and fallback) and Block Kit `blocks`. */
export function slackBody(delivery: AlertDelivery, linkBase?: string): { text: string; blocks: unknown[] } {
  const { alert } = delivery;
  const times = delivery.repeat ? ` (${delivery.count}× since ${delivery.firstAt})` : "";
  const text = `[${alert.severity.toUpperCase()}] ${alert.title}: ${alert.summary}${times}`;
  const fields = [
    `*Severity*\n${alert.severity}`,
    `*Type*\n\`${alert.type}\``,
    ...(alert.principal ? [`*Principal*\n${mrkdwn(alert.principal)}`] : []),
    ...(typeof alert.detail.incident === "string" ? [`*Incident*\n${mrkdwn(alert.detail.incident)} (${mrkdwn(String(alert.detail.status ?? ""))})`] : []),
    ...(delivery.count > 1 ? [`*Count*\n${delivery.count} between ${delivery.firstAt} and ${delivery.lastAt}`] : []),
  ];
  const links: string[] = [];
  if (typeof alert.detail.runbook === "string" && alert.detail.runbook) links.push(`<${alert.detail.runbook}|Runbook>`);
  const link = incidentLink(delivery, linkBase);
  if (link) links.push(`<${link}|Incident>`);
  const context = [`event ${alert.eventId}`, alert.time, ...(delivery.droppedByRateLimit > 0 ? [`${delivery.droppedByRateLimit} alert(s) dropped by the rate limit`] : []), ...links];
  return {
    text: mrkdwn(text),
    blocks: [
      { type: "header", text: { type: "plain_text", text: alert.title.slice(0, 150), emoji: false } },
      { type: "section", text: { type: "mrkdwn", text: mrkdwn(alert.summary).slice(0, 3000) } },
      { type: "section", fields: fields.slice(0, 10).map((field) => ({ type: "mrkdwn", text: field })) },
      { type: "context", elements: [{ type: "mrkdwn", text: context.join(" · ") }] },
    ],
  };
}

function parseRetryAfter(value: string | string[] | undefined, now: number): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

async function drain(body: AsyncIterable<unknown> & { destroy?: () => void }): Promise<void> {
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > MAX_RESPONSE_BYTES) {
      body.destroy?.();
      return;
    }
  }
}

/** Resolves true after the delay, false when aborted first. */
function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    timer.unref();
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
