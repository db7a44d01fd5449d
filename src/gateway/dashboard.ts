/**
 * The dashboard: the built page (dist/ui, made by `vite build` from src/ui)
 * served at /ui, and the JSON it reads under /admin/dashboard/..., with the
 * admin API's credentials. Every number on the page is computed by the event
 * store's aggregate queries (src/store/aggregates.ts), never by scanning
 * events in the gateway or the browser.
 *
 * The static files carry no data, so /ui itself needs no credentials (a
 * browser cannot send a bearer token on navigation); the page asks for the
 * admin key and sends it on every API call. With the admin API off, /ui
 * answers 404 like the admin routes.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createHash } from "node:crypto";
import { extname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import type { DecisionEvent, EventStore, SignalEvent, StoredEvent } from "../store/types.js";
import type { EventWriter } from "../store/writer.js";
import type { LoadedPolicy } from "../policy/load.js";
import { analyse } from "../threats/analyse.js";
import { controlStatus } from "../threats/coverage.js";
import { loadEvidenceFile, type LoadedEvidence } from "../threats/evidence.js";
import { builtInLibrary } from "../threats/library.js";
import type { LoadedModel } from "../threats/load-model.js";
import { VERSION } from "../version.js";
import type { CoverageControl, CoverageResponse, ModelCoverage, DecisionRow, DecisionsResponse, OverviewResponse, PoliciesResponse, SignalRow, SignalsResponse, StatusResponse } from "./dashboard-types.js";
import { GatewayError, badRequest } from "./errors.js";
import type { Runtime } from "./runtime.js";
import { requireAdmin } from "./admin.js";

export interface DashboardDependencies {
  runtime(): Runtime;
  readonly store: EventStore;
  readonly writer: EventWriter;
  /** The built page; by default dist/ui next to the compiled gateway (or the source tree's dist/ui). */
  readonly uiDir?: string;
  /** A system model (`bulwark serve --threat-model`): its threats are assessed against the running policy. */
  readonly threatModel?: LoadedModel;
}

/** Response headers for every file of the page. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

interface StaticFile {
  readonly body: Buffer;
  readonly gzip: Buffer | null;
  readonly type: string;
  readonly etag: string;
  /** Vite names assets by content hash: those never change, the page itself always may. */
  readonly immutable: boolean;
}

/** The page's files, read once into memory: only names found in the build can be served, so no path escapes it. */
export function loadStaticFiles(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  const walk = (current: string): void => {
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) {
        const type = CONTENT_TYPES[extname(entry.name).toLowerCase()];
        if (!type) continue;
        const body = readFileSync(path);
        const name = relative(dir, path).split(sep).join("/");
        const compressible = /^text\/|json|svg/.test(type) && body.length > 1024;
        files.set(name, {
          body,
          gzip: compressible ? gzipSync(body, { level: 9 }) : null,
          type,
          etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
          immutable: name.startsWith("assets/"),
        });
      }
    }
  };
  walk(dir);
  return files;
}

/** Where the built page is: dist/ui beside dist/gateway, or, running from the sources, the repository's dist/ui. */
export function defaultUiDir(): string {
  // From the sources (src/gateway/dashboard.ts, run through tsx), ../ui is the page's source, not its build.
  const fromSources = import.meta.url.endsWith(".ts");
  return fileURLToPath(new URL(fromSources ? "../../dist/ui/" : "../ui/", import.meta.url));
}

const ACTIONS = ["allow", "flag", "redact", "block"] as const;
const isoTime = z.iso.datetime({ offset: true }).transform((value) => new Date(value).toISOString());
const name = z.string().min(1).max(128);
/** Bucket widths the page may ask for (whole minutes, as the store requires). */
const BUCKETS = [60, 300, 900, 1800, 3600, 10_800, 21_600, 43_200, 86_400] as const;
const MAX_WINDOW_MS = 92 * 86_400_000;

const WindowQuery = z.strictObject({
  since: isoTime.optional(),
  until: isoTime.optional(),
});
const DecisionsQuery = WindowQuery.extend({
  principal: name.optional(),
  category: z.string().regex(/^[a-z0-9_]{1,64}$/, "a category name such as prompt_injection").optional(),
  action: z.enum(ACTIONS).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  before: z.coerce.number().int().min(1).optional(),
});
const SignalsQuery = WindowQuery.extend({
  type: z
    .string()
    .regex(/^[a-z0-9_.-]{1,64}(,[a-z0-9_.-]{1,64}){0,7}$/, "up to 8 signal types or prefixes ending in a dot, comma-separated (anomaly.,quarantine.)")
    .optional(),
  principal: name.optional(),
  limit: z.coerce.number().int().min(1).max(200).optional(),
});

/** The store refuses a query it cannot answer with an AggregateQueryError (by name: the worker store passes it on as a plain Error): a 400. */
async function fromStore<T>(query: Promise<T>): Promise<T> {
  try {
    return await query;
  } catch (error) {
    if (error instanceof Error && error.name === "AggregateQueryError") throw badRequest("invalid_query", error.message);
    throw error;
  }
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value ?? {});
  if (!parsed.success) throw badRequest("invalid_query", parsed.error.issues.map((issue) => `${issue.path.join(".") || "query"}: ${issue.message}`).join("; "));
  return parsed.data;
}

/** The time window asked for (default: the last hour), checked. */
export function resolveWindow(query: { since?: string; until?: string }, now = Date.now()): { since: string; until: string } {
  const until = query.until ?? new Date(now).toISOString();
  const since = query.since ?? new Date(Date.parse(until) - 3_600_000).toISOString();
  const span = Date.parse(until) - Date.parse(since);
  if (span <= 0) throw badRequest("invalid_query", `since (${since}) must be before until (${until}).`, "since");
  if (span > MAX_WINDOW_MS) throw badRequest("invalid_query", `The window from ${since} to ${until} is longer than 92 days.`, "since");
  return { since, until };
}

/** The narrowest bucket that keeps a window within 120 buckets. */
export function bucketFor(spanMs: number): number {
  return BUCKETS.find((seconds) => spanMs / (seconds * 1000) <= 120) ?? BUCKETS[BUCKETS.length - 1]!;
}

export function registerDashboard(app: FastifyInstance, deps: DashboardDependencies): void {
  // The admin API's check (admin.ts): 404 while the admin API is off, 401 without a valid admin key.
  const admin = (request: FastifyRequest, reply: FastifyReply): void => {
    requireAdmin(request, deps.runtime());
    // What the gateway decided about whom: not for any cache on the way.
    reply.header("cache-control", "no-store");
  };
  const startedAt = new Date().toISOString();
  let files: Map<string, StaticFile> | undefined;
  const uiDir = deps.uiDir ?? defaultUiDir();

  const serveFile = (request: FastifyRequest, reply: FastifyReply, path: string): FastifyReply => {
    if (!deps.runtime().admin.enabled) {
      throw new GatewayError(404, "not_found_error", "dashboard_disabled", "The dashboard needs the admin API, which is off (no admin credentials configured: see docs/dashboard.md).");
    }
    if (!files) {
      if (!existsSync(join(uiDir, "index.html"))) {
        throw new GatewayError(503, "service_unavailable", "dashboard_not_built", `The dashboard is not built (${join(uiDir, "index.html")} is missing): run \`npm run build\`.`);
      }
      files = loadStaticFiles(uiDir);
    }
    const file = files.get(path === "" ? "index.html" : path);
    if (!file) throw new GatewayError(404, "not_found_error", "unknown_route", `${request.method} /ui/${path.slice(0, 100)} is not a file of the dashboard.`);
    reply.header("content-security-policy", CONTENT_SECURITY_POLICY);
    reply.header("x-content-type-options", "nosniff");
    reply.header("referrer-policy", "no-referrer");
    reply.header("cross-origin-opener-policy", "same-origin");
    reply.header("cache-control", file.immutable ? "public, max-age=31536000, immutable" : "no-cache");
    reply.header("etag", file.etag);
    reply.header("vary", "accept-encoding");
    reply.type(file.type);
    if (request.headers["if-none-match"] === file.etag) return reply.code(304).send();
    const acceptsGzip = file.gzip !== null && /\bgzip\b/.test(String(request.headers["accept-encoding"] ?? ""));
    if (acceptsGzip) reply.header("content-encoding", "gzip");
    return reply.send(acceptsGzip ? file.gzip : file.body);
  };

  app.get("/ui", (request, reply) => serveFile(request, reply, ""));
  app.get<{ Params: { "*": string } }>("/ui/*", (request, reply) => serveFile(request, reply, request.params["*"]));

  app.get("/admin/dashboard/status", async (request, reply): Promise<StatusResponse> => {
    admin(request, reply);
    const runtime = deps.runtime();
    const stats = deps.writer.stats();
    const has = (url: string): boolean => app.hasRoute({ method: "GET", url });
    return {
      version: VERSION,
      startedAt,
      now: new Date().toISOString(),
      policy: { name: runtime.policy.policy.name, hash: runtime.policy.hash, source: runtime.policy.source },
      store: { description: deps.store.description, up: stats.storeUp, waiting: stats.waiting, dropped: stats.dropped, written: stats.written },
      upstream: runtime.upstream.description,
      features: { quarantine: has("/admin/quarantine"), incidents: has("/admin/incidents"), approvals: has("/admin/approvals"), monitor: has("/admin/monitor"), schedules: has("/admin/schedules"), aggregates: true },
    };
  });

  app.get("/admin/dashboard/overview", async (request, reply): Promise<OverviewResponse> => {
    admin(request, reply);
    const window = resolveWindow(parse(WindowQuery, request.query));
    const bucketSeconds = bucketFor(Date.parse(window.until) - Date.parse(window.since));
    // Whole buckets: the chart's first and last points cover as much time as the others.
    const since = new Date(Math.floor(Date.parse(window.since) / (bucketSeconds * 1000)) * bucketSeconds * 1000).toISOString();
    const until = new Date(Math.ceil(Date.parse(window.until) / (bucketSeconds * 1000)) * bucketSeconds * 1000).toISOString();
    const started = performance.now();
    const [series, topPrincipals, categories, containment, signals, latency] = await fromStore(
      Promise.all([
        deps.store.decisionSeries({ since, until, bucketSeconds }),
        deps.store.topPrincipals({ since, until, limit: 10 }),
        deps.store.categoryCounts({ since, until }),
        deps.store.containment({ since, until }),
        deps.store.signalCounts({ since, until }),
        deps.store.latency({ since, until }),
      ]),
    );
    const queryMs = Math.round((performance.now() - started) * 10) / 10;
    const sum = (key: "total" | "allow" | "flag" | "redact" | "block" | "degraded"): number => series.reduce((total, bucket) => total + bucket[key], 0);
    const total = sum("total");
    return {
      since,
      until,
      bucketSeconds,
      totals: { total, allow: sum("allow"), flag: sum("flag"), redact: sum("redact"), block: sum("block"), degraded: sum("degraded"), blockRate: total === 0 ? 0 : sum("block") / total, latencyP95Us: latency?.p95 ?? null, latencyP50Us: latency?.p50 ?? null },
      series,
      topPrincipals,
      categories,
      containment,
      signals,
      queryMs,
    };
  });

  app.get("/admin/dashboard/decisions", async (request, reply): Promise<DecisionsResponse> => {
    admin(request, reply);
    const query = parse(DecisionsQuery, request.query);
    const page = await fromStore(deps.store.searchEvents({
      kind: "decision",
      ...(query.since ? { since: query.since } : {}),
      ...(query.until ? { until: query.until } : {}),
      ...(query.principal ? { principal: query.principal } : {}),
      ...(query.category ? { category: query.category } : {}),
      ...(query.action ? { action: query.action } : {}),
      ...(query.before ? { beforeSeq: query.before } : {}),
      limit: query.limit ?? 50,
    }));
    return { data: page.events.flatMap(decisionRow), ...(page.nextBeforeSeq !== null ? { next_before: page.nextBeforeSeq } : {}) };
  });

  app.get("/admin/dashboard/signals", async (request, reply): Promise<SignalsResponse> => {
    admin(request, reply);
    const query = parse(SignalsQuery, request.query);
    const limit = query.limit ?? 50;
    const types: ReadonlyArray<string | undefined> = query.type ? [...new Set(query.type.split(","))] : [undefined];
    const pages = await fromStore(Promise.all(
      types.map((type) =>
        deps.store.searchEvents({
          // Only signals have a type: with one, asking for the kind as well only misleads PostgreSQL's planner
          // (it cannot know the two go together, and on 10 million events sorted 16 000 rows instead of reading 30).
          ...(type ? { type } : { kind: "signal" as const }),
          limit,
          ...(query.principal ? { principal: query.principal } : {}),
          ...(query.since ? { since: query.since } : {}),
          ...(query.until ? { until: query.until } : {}),
        }),
      ),
    ));
    const merged = pages.flatMap((page) => page.events).sort((a, b) => b.seq - a.seq);
    return { data: merged.slice(0, limit).flatMap(signalRow) };
  });

  app.get("/admin/dashboard/policies", async (request, reply): Promise<PoliciesResponse> => {
    admin(request, reply);
    const query = parse(WindowQuery, request.query);
    // The policy history reaches further back than the page's window: 30 days by default.
    const until = query.until ?? new Date().toISOString();
    const window = resolveWindow({ since: query.since ?? new Date(Date.parse(until) - 30 * 86_400_000).toISOString(), until });
    const runtime = deps.runtime();
    const [versions, reloads] = await fromStore(Promise.all([deps.store.policyVersions(window), deps.store.searchEvents({ kind: "admin", limit: 200 })]));
    return {
      current: { name: runtime.policy.policy.name, hash: runtime.policy.hash, source: runtime.policy.source },
      ...window,
      versions,
      reloads: reloads.events.flatMap(({ event }) =>
        event.kind === "admin" && event.operation === "reload"
          ? [{ time: event.time, principal: event.principal, ok: event.detail.ok === true, ...(typeof event.detail.error === "string" ? { error: event.detail.error } : {}) }]
          : [],
      ).slice(0, 20),
    };
  });

  let coverage: { key: string; response: CoverageResponse } | undefined;
  app.get("/admin/dashboard/coverage", async (request, reply): Promise<CoverageResponse> => {
    admin(request, reply);
    const { policy } = deps.runtime();
    // Evidence: the results file of the latest scheduled scan, when it is still there.
    const latestScan = deps.threatModel ? (await fromStore(deps.store.searchEvents({ type: "scan.completed", limit: 1 }))).events[0]?.event : undefined;
    const resultsPath = latestScan?.kind === "signal" && typeof latestScan.detail.results === "string" && existsSync(latestScan.detail.results) ? latestScan.detail.results : null;
    const key = `${policy.hash} ${resultsPath ?? ""} ${resultsPath ? statSync(resultsPath).mtimeMs : ""}`;
    if (coverage?.key !== key) {
      const evidence = resultsPath ? await loadEvidenceFile(resultsPath).catch(() => null) : null;
      coverage = { key, response: { ...policyCoverage(policy.policy, policy.hash), model: deps.threatModel ? modelCoverage(deps.threatModel, policy, evidence, resultsPath) : null } };
    }
    return coverage.response;
  });
}

/**
 * Which of the threat library's policy controls the running policy enforces, and how many of the library's
 * threats have at least one enforced mitigation. Organisational controls need a threat model that declares
 * them (`bulwark threats`), so they are not counted here.
 */
/** The system model's threats against the running policy (and the latest scan's results), as `bulwark threats` reports them. */
export function modelCoverage(model: LoadedModel, policy: LoadedPolicy, evidence: LoadedEvidence | null, evidenceSource: string | null): ModelCoverage {
  const report = analyse({ model, policy, evidence });
  const open = report.threats.filter((threat) => threat.risk.status !== "false_positive");
  const residual = { critical: 0, high: 0, medium: 0, low: 0 };
  for (const threat of open) residual[threat.residual.severity as keyof typeof residual] += 1;
  return {
    name: report.model.name,
    source: report.model.source,
    evidence: evidenceSource,
    threats: report.summary.threats,
    open: report.summary.open,
    residual,
    tested: { tested_held: report.summary.evidence.tested_held, tested_failed: report.summary.evidence.tested_failed, untested: report.summary.evidence.untested },
    top: report.threats.slice(0, 8).map((threat) => ({
      rank: threat.rank,
      id: threat.id,
      title: threat.title,
      severity: threat.residual.severity,
      risk: threat.risk.status,
      inPlace: threat.coverage.inPlace,
      controls: threat.coverage.total,
      evidence: threat.evidence.status,
    })),
  };
}

export function policyCoverage(policy: Parameters<typeof controlStatus>[1], policyHash: string): Omit<CoverageResponse, "model"> {
  const library = builtInLibrary();
  const threatsByControl = new Map<string, number>();
  for (const rule of library.library.rules) for (const id of rule.mitigations) threatsByControl.set(id, (threatsByControl.get(id) ?? 0) + 1);
  const controls: CoverageControl[] = [...library.controls.values()]
    .filter((control) => control.kind === "policy")
    .map((control) => {
      const status = controlStatus(control, policy, new Set());
      return { id: control.id, name: control.name, status: status.status, reason: status.reason, threats: threatsByControl.get(control.id) ?? 0 };
    })
    .sort((a, b) => (a.status === b.status ? b.threats - a.threats : a.status === "missing" ? -1 : 1));
  const enforced = new Set(controls.filter((control) => control.status === "enforced").map((control) => control.id));
  const rules = library.library.rules;
  return {
    policyHash,
    summary: {
      controls: controls.length,
      enforced: enforced.size,
      missing: controls.filter((control) => control.status === "missing").length,
      threats: rules.length,
      threatsCovered: rules.filter((rule) => rule.mitigations.some((id) => enforced.has(id))).length,
    },
    controls,
  };
}

function decisionRow(stored: StoredEvent): DecisionRow[] {
  const event = stored.event;
  if (event.kind !== "decision") return [];
  const e: DecisionEvent = event;
  return [
    {
      seq: stored.seq,
      id: e.id,
      time: e.time,
      requestId: e.requestId,
      principal: e.principal,
      route: e.route,
      model: e.model,
      stage: e.stage,
      action: e.action,
      categories: e.categories,
      score: e.score,
      latencyUs: e.latencyUs,
      degraded: e.degraded,
      policyHash: e.policyHash,
      excerpt: e.excerpt,
    },
  ];
}

function signalRow(stored: StoredEvent): SignalRow[] {
  const event = stored.event;
  if (event.kind !== "signal") return [];
  const e: SignalEvent = event;
  return [{ seq: stored.seq, id: e.id, time: e.time, type: e.type, severity: e.severity, ...(e.principal ? { principal: e.principal } : {}), summary: e.summary, detail: e.detail }];
}
