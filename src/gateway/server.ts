/**
 * The gateway's HTTP server (Fastify): OpenAI-compatible routes guarded on the
 * way in and out, health and metrics, the admin API, configuration reload and
 * graceful shutdown.
 *
 *   request -> identity (401) -> shape (400) -> model grant (403) -> input guard (400 on block)
 *     -> upstream -> output guard (non-streamed, or streamed through the holdback guard) -> client
 *   every decision -> event writer (asynchronous, batched) -> event store
 */
import type { IncomingMessage } from "node:http";
import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { pino, type Logger } from "pino";
import { randomBytes } from "node:crypto";
import type { Decision } from "../guard/types.js";
import type { EventStore } from "../store/types.js";
import { EventWriter } from "../store/writer.js";
import { registerAdminRoutes } from "./admin.js";
import { GatewayLimits } from "./limits.js";
import { GatewayAgency, registerApprovalRoutes, type RequestAgency } from "./agency.js";
import { registerDashboard } from "./dashboard.js";
import type { LoadedModel } from "../threats/load-model.js";
import { guardTexts, parseChatRequest, refusalMessage, requestTexts, responseTexts, type AggregateDecision, type ChatRequest } from "./chat.js";
import { ConfigError, loadConfigFile, type LoadedConfig } from "./config.js";
import { badRequest, fromFrameworkError, GatewayError, type OpenAIErrorBody } from "./errors.js";
import { decisionEvent, type DecisionContext } from "./events.js";
import type { Principal } from "./identity.js";
import { GatewayMetrics } from "./metrics.js";
import { attachMonitoring } from "./incidents.js";
import { attachMonitorLoop } from "./watch.js";
import { buildRuntime, type Runtime, type RuntimeInputs } from "./runtime.js";
import { relayStream } from "./sse.js";
import { CheckerStreamGuard, type OutputStreamGuard } from "./stream-guard.js";
import { upstreamFailure, type UpstreamResponse } from "./upstream.js";

export interface GatewayOptions {
  readonly loaded: LoadedConfig;
  /** The configuration file to re-read on reload (none: reload re-validates the in-memory configuration). */
  readonly configFile?: string;
  /** An opened, initialised store; by default the one the configuration names is opened. */
  readonly store: EventStore;
  readonly env?: NodeJS.ProcessEnv;
  readonly logger?: Logger;
  readonly fallbackUpstreamUrl?: string;
  readonly guardOptions?: RuntimeInputs["guardOptions"];
  readonly defaultPolicy?: RuntimeInputs["defaultPolicy"];
  /** The guard for streamed text; the library's streaming checker (CheckerStreamGuard) by default. */
  readonly streamGuardFactory?: (runtime: Runtime) => OutputStreamGuard;
  /** A system model for the dashboard's threat-model coverage (`bulwark serve --threat-model`). */
  readonly threatModel?: LoadedModel;
}

export interface ShutdownReport {
  readonly inFlightAtStart: number;
  readonly drained: boolean;
  readonly flushed: boolean;
  readonly eventsWaiting: number;
  readonly eventsDropped: number;
  readonly eventsWritten: number;
}

export interface Gateway {
  readonly app: FastifyInstance;
  readonly store: EventStore;
  readonly writer: EventWriter;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  runtime(): Runtime;
  /** Listens on the configured host and port (or the given port); resolves to the base URL. */
  listen(port?: number): Promise<string>;
  /** Re-reads and validates the configuration and policy, then swaps them in; an invalid one is rejected and the running one kept. */
  reload(reason: string): Promise<{ ok: true } | { ok: false; error: string }>;
  /** Stop accepting, drain in-flight requests, flush the event buffer, close. */
  shutdown(reason: string): Promise<ShutdownReport>;
}

interface RequestInfo {
  started: number;
  principal: string;
  model: string;
  action: string;
  decisionId: string;
  upstreamMs: number;
  outcome: string;
}

declare module "fastify" {
  interface FastifyRequest {
    bulwark: RequestInfo;
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
/**
 * Request ids: a random per-process prefix and a counter. Unique enough to join log lines and events, and
 * nearly free (a ULID draws 16 random bytes per id, which showed up at over 5% of a request's CPU time).
 */
const requestIdPrefix = `req_${randomBytes(6).toString("hex")}`;
let requestCounter = 0;
const nextRequestId = (): string => `${requestIdPrefix}${(++requestCounter).toString(36).padStart(6, "0")}`;
const MAX_UPSTREAM_BODY = 32 * 1024 * 1024;

/**
 * The gateway's logger, and the one for its line per request. That line has fixed fields (ids, route,
 * status, timings, principal, model, action), never a header or a key, so it skips the redaction pass,
 * which made about 6% of a request's allocations. Both write to one buffered, asynchronous destination
 * (a synchronous write to a slow pipe would stall every request), flushed at shutdown.
 */
function gatewayLoggers(level: string): { logger: Logger; accessLog: Logger } {
  const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  const base = { level, base: { service: "bulwark-gateway" } };
  return {
    logger: pino({ ...base, redact: { paths: ["req.headers.authorization", "headers.authorization", "*.apiKey"], censor: "[redacted]" } }, destination),
    accessLog: pino(base, destination),
  };
}

export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const env = options.env ?? process.env;
  const { logger, accessLog } = options.logger ? { logger: options.logger, accessLog: options.logger } : gatewayLoggers(options.loaded.config.log.level);
  const store = options.store;
  // The metrics read the writer's stats lazily (at scrape time), so they can be made first.
  const metrics: GatewayMetrics = new GatewayMetrics(() => writer.stats());
  const writer: EventWriter = new EventWriter(store, options.loaded.config.store, {
    alarm: (message, stats) => logger.error({ alarm: "event_store", waiting: stats.waiting, dropped: stats.dropped, lastError: stats.lastError }, `ALARM: ${message}`),
    recovered: (stats) => logger.warn({ waiting: stats.waiting, dropped: stats.dropped }, "event store recovered; writing the backlog"),
    written: (count, ms) => {
      metrics.storeWritten.inc(count);
      metrics.storeWriteDuration.observe(ms / 1000);
    },
  });

  const inputsFor = (loaded: LoadedConfig, previous?: Runtime): Promise<RuntimeInputs> =>
    store.listKeys().then((storedKeys) => ({
      loaded,
      storedKeys,
      env,
      ...(options.fallbackUpstreamUrl ? { fallbackUpstreamUrl: options.fallbackUpstreamUrl } : {}),
      ...(options.guardOptions ? { guardOptions: options.guardOptions } : {}),
      ...(options.defaultPolicy ? { defaultPolicy: options.defaultPolicy } : {}),
      ...(previous ? { previous } : {}),
    }));
  let runtime = await buildRuntime(await inputsFor(options.loaded));
  const abuse = await GatewayLimits.create({ redis: options.loaded.config.redis, policy: runtime.policy, registry: metrics.registry, writer, logger });
  const agency = new GatewayAgency(writer, options.loaded.config.redis);
  agency.prepare(runtime);
  const streamGuard =
    options.streamGuardFactory ?? ((current: Runtime): OutputStreamGuard => new CheckerStreamGuard(current.guard));

  let shuttingDown = false;
  /** Requests being served, for draining and for the shutdown log. */
  const active = new Map<string, { route: string; started: number }>();
  const { limits } = options.loaded.config;

  const app = fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: limits.maxBodyBytes,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: 65_000,
    forceCloseConnections: "idle",
    return503OnClosing: true,
    requestIdHeader: false,
    genReqId: (req: IncomingMessage) => {
      const given = req.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID.test(given) ? given : nextRequestId();
    },
    onProtoPoisoning: "remove",
    onConstructorPoisoning: "remove",
  });
  app.decorateRequest("bulwark", null as unknown as RequestInfo);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_request: FastifyRequest, body: Buffer | string, done: (error: Error | null, value?: unknown) => void) => {
    try {
      done(null, parseJsonBody(typeof body === "string" ? Buffer.from(body) : body, limits.maxJsonDepth));
    } catch (error) {
      done(error as Error);
    }
  });

  app.addHook("onRequest", (request, reply, done) => {
    active.set(request.id, { route: request.url.split("?")[0]!.slice(0, 100), started: performance.now() });
    const info: RequestInfo = { started: performance.now(), principal: "-", model: "", action: "", decisionId: "", upstreamMs: 0, outcome: "" };
    request.bulwark = info;
    reply.header("x-request-id", request.id);
    reply.raw.once("close", () => {
      active.delete(request.id);
      const route = request.routeOptions.url ?? "unmatched";
      const status = reply.raw.statusCode;
      const seconds = (performance.now() - info.started) / 1000;
      metrics.requests.inc({ route, status: String(status) });
      metrics.requestDuration.observe({ route }, seconds);
      if (options.loaded.config.log.requests && route !== "/metrics" && route !== "/healthz" && route !== "/readyz") {
        accessLog.info(
          {
            reqId: request.id,
            method: request.method,
            route,
            status,
            ms: Math.round(seconds * 10_000) / 10,
            principal: info.principal,
            ...(info.model ? { model: info.model } : {}),
            ...(info.action ? { action: info.action, decisionId: info.decisionId } : {}),
            ...(info.upstreamMs ? { upstreamMs: Math.round(info.upstreamMs * 10) / 10 } : {}),
            ...(info.outcome ? { outcome: info.outcome } : {}),
            ...(reply.raw.writableFinished ? {} : { clientClosed: true }),
          },
          "request",
        );
      }
    });
    if (shuttingDown) {
      reply.header("connection", "close");
      sendError(reply, new GatewayError(503, "service_unavailable", "shutting_down", "The gateway is shutting down; retry on another instance."));
      return;
    }
    done();
  });

  app.setErrorHandler((error: Error & { code?: string; statusCode?: number }, request, reply) => {
    const gatewayError = error instanceof GatewayError ? error : fromFrameworkError(error);
    if (gatewayError.status >= 500 && !(error instanceof GatewayError)) request.log.error({ err: error, reqId: request.id }, "unhandled error");
    sendError(reply, gatewayError);
  });
  app.setNotFoundHandler((request, reply) => {
    sendError(reply, new GatewayError(404, "not_found_error", "unknown_route", `${request.method} ${request.url.split("?")[0]} is not a route of this gateway.`));
  });

  // Liveness: the process answers. Readiness: it should get traffic.
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_request, reply) => {
    const stats = writer.stats();
    const problems = [...(shuttingDown ? ["shutting down"] : []), ...(stats.storeUp ? [] : [`event store down: ${stats.lastError ?? "unknown"}`]), ...(writer.full ? ["event buffer full"] : []), ...abuse.problems()];
    reply.code(problems.length === 0 ? 200 : 503);
    return { status: problems.length === 0 ? "ready" : "not ready", problems, store: { ...stats, description: store.description }, upstream: runtime.upstream.description };
  });
  app.get("/metrics", async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  const authenticate = (request: FastifyRequest, current: Runtime): Principal => {
    const principal = current.identities.authenticate(request.headers.authorization);
    if (!principal) {
      throw new GatewayError(401, "authentication_error", "invalid_api_key", request.headers.authorization ? "Incorrect API key provided." : "No API key provided. Send it as Authorization: Bearer KEY.");
    }
    request.bulwark.principal = principal.id;
    return principal;
  };

  const record = (decisions: ReadonlyArray<{ decision: Decision; location: string }>, context: Omit<DecisionContext, "location">): void => {
    for (const { decision, location } of decisions) {
      metrics.recordDecision(decision);
      if (!writer.enqueue(decisionEvent(decision, { ...context, location }))) metrics.storeDropped.inc();
    }
  };

  app.get("/v1/models", async (request, reply) => {
    const current = runtime;
    const principal = authenticate(request, current);
    await abuse.admit(request, reply, current, principal, "/v1/models");
    const response = await callUpstream(current, { method: "GET", path: "/models", requestId: request.id }, request);
    const body = await readUpstreamJson(response);
    if (response.status >= 300) throw upstreamStatusError(response.status, body);
    const allowed = current.identities.modelMatcher(principal);
    const data = Array.isArray((body as { data?: unknown }).data) ? ((body as { data: unknown[] }).data as Array<{ id?: unknown }>) : [];
    reply.type("application/json");
    return JSON.stringify({ object: "list", data: data.filter((model) => typeof model?.id === "string" && allowed(model.id)) });
  });

  app.post("/v1/chat/completions", async (request, reply) => {
    const current = runtime;
    const info = request.bulwark;
    if (writer.full && current.loaded.config.store.onBufferFull === "reject") {
      throw new GatewayError(503, "service_unavailable", "audit_unavailable", "The audit trail cannot take more events right now; the gateway refuses requests rather than serve them unaudited.");
    }
    const principal = authenticate(request, current);
    await abuse.admit(request, reply, current, principal, "/v1/chat/completions");
    const chat = parseChatRequest(request.body, limits.maxMessages);
    info.model = chat.model;
    const grant = current.identities.grant(principal, chat.model);
    if (!grant.allowed) throw new GatewayError(403, "permission_error", "model_not_allowed", `Your key may not use the model ${JSON.stringify(chat.model)}.`, "model");
    enforceTokenLimit(chat, grant.maxTokens, current.loaded.config.upstream.maxTokensField);

    const context = { requestId: request.id, principal: principal.id, keyId: principal.keyId, route: "/v1/chat/completions", model: chat.model };
    const agent = agency.begin(current, chat, { requestId: request.id, principal, route: context.route, model: chat.model });
    const input = await guardTexts(current.guard, requestTexts(chat), "input");
    record(input.checked.map(({ decision, item }) => ({ decision, location: item.location })), context);
    noteDecision(info, input);
    abuse.observeInput(request, reply, principal, chat, input);
    if (input.decisive) reply.header("x-bulwark-decision-id", input.decisive.decision.id);
    reply.header("x-bulwark-action", input.action);
    if (input.action === "block") {
      const { decision, item } = input.decisive!;
      throw new GatewayError(400, "guardrail_violation", "input_blocked", refusalMessage("input", decision), item.location, decision.id);
    }
    agent?.afterInput(input, chat);

    const abort = new AbortController();
    reply.raw.once("close", () => {
      if (!reply.raw.writableFinished) abort.abort(new Error("client closed the connection"));
    });
    const response = await callUpstream(current, { method: "POST", path: "/chat/completions", body: JSON.stringify(chat), requestId: request.id, signal: abort.signal }, request);
    const isStream = chat.stream === true && response.status < 300 && String(response.headers["content-type"] ?? "").includes("text/event-stream");
    if (isStream) return streamResponse(current, request, reply, response, input, context, abort.signal, agent);

    const body = await readUpstreamJson(response);
    if (response.status >= 300) throw upstreamStatusError(response.status, body);
    abuse.recordUsage(request, principal, chat, body);
    const output = await guardTexts(current.guard, responseTexts(body), "output");
    record(output.checked.map(({ decision, item }) => ({ decision, location: item.location })), context);
    const worst = moreSevereAggregate(input, output);
    noteDecision(info, worst);
    if (worst.decisive) reply.header("x-bulwark-decision-id", worst.decisive.decision.id);
    reply.header("x-bulwark-action", worst.action);
    if (output.action === "block") {
      const { decision, item } = output.decisive!;
      throw new GatewayError(400, "guardrail_violation", "output_blocked", refusalMessage("output", decision), item.location, decision.id);
    }
    // Token log-probabilities repeat the text token by token: after a rewrite they would restore what was removed.
    if (output.checked.some(({ decision, item }) => decision.text !== item.text || decision.action === "redact")) stripLogprobs(body);
    await agent?.reviewCompletion(body);
    reply.type("application/json");
    return JSON.stringify(body);
  });

  async function callUpstream(current: Runtime, upstreamRequest: Parameters<Runtime["upstream"]["request"]>[0], request: FastifyRequest): Promise<UpstreamResponse> {
    const started = performance.now();
    try {
      const response = await current.upstream.request(upstreamRequest);
      request.bulwark.upstreamMs = performance.now() - started;
      metrics.upstreamDuration.observe({ status: `${Math.floor(response.status / 100)}xx` }, request.bulwark.upstreamMs / 1000);
      return response;
    } catch (error) {
      const failure = upstreamFailure(error);
      metrics.upstreamErrors.inc({ code: failure.code });
      if (!upstreamRequest.signal?.aborted) request.log.warn({ reqId: request.id, upstream: current.upstream.description, code: (error as { code?: string }).code, error: (error as Error).message }, "upstream request failed");
      throw failure;
    }
  }

  async function streamResponse(
    current: Runtime,
    request: FastifyRequest,
    reply: FastifyReply,
    response: UpstreamResponse,
    input: AggregateDecision,
    context: Omit<DecisionContext, "location">,
    signal: AbortSignal,
    agent: RequestAgency | null,
  ): Promise<void> {
    reply.hijack();
    const raw = reply.raw;
    const headers: Record<string, string> = {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
      "x-request-id": request.id,
      "x-bulwark-action": input.action,
    };
    if (input.decisive) headers["x-bulwark-decision-id"] = input.decisive.decision.id;
    raw.writeHead(200, headers);
    const clientGone = (): boolean => signal.aborted || raw.destroyed;
    const write = (data: string): Promise<void> =>
      new Promise((resolve, reject) => {
        if (clientGone()) return reject(new Error("client closed the connection"));
        if (raw.write(data)) return resolve();
        const onDrain = (): void => {
          raw.off("close", onClose);
          resolve();
        };
        const onClose = (): void => {
          raw.off("drain", onDrain);
          reject(new Error("client closed the connection"));
        };
        raw.once("drain", onDrain);
        raw.once("close", onClose);
      });
    const reviewToolCalls = agent?.streamReviewer();
    const result = await relayStream({
      source: response.body,
      channelGuard: () => streamGuard(current),
      checkWhole: (text) => current.guard.check({ text, role: "assistant", stage: "output" }),
      write,
      clientGone,
      upstreamError: (error) => {
        const failure = upstreamInStreamError(error);
        metrics.upstreamErrors.inc({ code: failure.error.code ?? "upstream_error" });
        return failure;
      },
      blockedError: (decision, location) => new GatewayError(400, "guardrail_violation", "output_blocked", refusalMessage("output", decision), location, decision.id).body(),
      ...(reviewToolCalls ? { reviewToolCalls } : {}),
    });
    if (!response.body.destroyed) response.body.destroy();
    record(result.decisions, context);
    metrics.streamEvents.inc({ outcome: result.outcome });
    request.bulwark.outcome = result.outcome;
    const decisive = result.blockedBy ?? input.decisive?.decision;
    request.bulwark.action = result.blockedBy ? "block" : input.action;
    request.bulwark.decisionId = decisive?.id ?? "";
    if (!raw.destroyed) raw.end();
  }

  registerDashboard(app, { runtime: () => runtime, store, writer, ...(options.threatModel ? { threatModel: options.threatModel } : {}) });
  registerApprovalRoutes(app, agency, () => runtime, writer);
  abuse.registerAdminRoutes(app, () => runtime);
  registerAdminRoutes(app, {
    runtime: () => runtime,
    store,
    writer,
    reload: (reason) => reload(reason),
    onKeysChanged: async () => {
      runtime = await buildRuntime(await inputsFor(runtime.loaded, runtime));
    },
  });
  // Alerts, incidents and scheduled scans (src/gateway/incidents.ts): they watch the writer, off the request path.
  const monitoring = await attachMonitoring({ app, store, writer, metrics, logger, env, runtime: () => runtime, onKeysChanged: async () => void (runtime = await buildRuntime(await inputsFor(runtime.loaded, runtime))) });

  // Drift and failure boundaries (src/gateway/watch.ts): computed from the store every monitor.intervalSeconds.
  const monitorLoop = attachMonitorLoop({ app, store, writer, logger, runtime: () => runtime });

  let reloading: Promise<{ ok: true } | { ok: false; error: string }> | undefined;
  async function reload(reason: string): Promise<{ ok: true } | { ok: false; error: string }> {
    // Reloads triggered together (a file save fires several change events) share one.
    reloading ??= (async () => {
      try {
        const loaded = options.configFile ? await loadConfigFile(options.configFile) : runtime.loaded;
        const restartOnly = (["listen", "store", "limits", "redis", "schedules"] as const).filter((key) => JSON.stringify(loaded.config[key]) !== JSON.stringify(runtime.loaded.config[key]));
        const next = await buildRuntime(await inputsFor(loaded, runtime));
        const previous = runtime;
        runtime = next;
        if (previous.upstream !== next.upstream) void previous.upstream.close().catch(() => undefined);
        metrics.reloads.inc({ result: "ok" });
        logger.info({ reason, policy: next.policy.source, policyHash: next.policy.hash, keys: next.identities.keyCount, ...(restartOnly.length ? { needsRestart: restartOnly } : {}) }, "configuration reloaded");
        if (restartOnly.length) logger.warn({ sections: restartOnly }, "these sections changed but take effect only after a restart");
        return { ok: true as const };
      } catch (error) {
        metrics.reloads.inc({ result: "rejected" });
        const message = error instanceof Error ? error.message : String(error);
        logger.error({ reason, error: message }, "configuration reload rejected; the running configuration stays in force");
        return { ok: false as const, error: message };
      } finally {
        reloading = undefined;
      }
    })();
    return reloading;
  }

  let shutdownPromise: Promise<ShutdownReport> | undefined;
  function shutdown(reason: string): Promise<ShutdownReport> {
    shutdownPromise ??= (async () => {
      shuttingDown = true;
      void monitoring.scheduler.stop();
      const inFlightAtStart = active.size;
      logger.info({ reason, inFlight: active.size }, "shutting down: no new requests; draining in-flight ones");
      const drainTimeout = options.loaded.config.drainTimeoutMs;
      const deadline = performance.now() + drainTimeout;
      // Drain first, listening on: a request that arrives now gets a clean 503 with Connection: close (which
      // clients retry elsewhere) instead of a reset connection, and readiness already says "not ready".
      while (active.size > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      const drained = active.size === 0;
      if (!drained) {
        const now = performance.now();
        logger.warn({ inFlight: [...active].map(([id, entry]) => ({ id, route: entry.route, ms: Math.round(now - entry.started) })) }, "drain timeout: closing the remaining connections");
        app.server.closeAllConnections();
      }
      // Nothing is in flight: every remaining connection is an idle keep-alive one, or a client that went away.
      const idleCloser = setInterval(() => {
        if (active.size === 0) app.server.closeAllConnections();
      }, 50);
      await app.close();
      clearInterval(idleCloser);
      await monitoring.close().catch((error: unknown) => logger.error({ error: String(error) }, "monitoring did not close cleanly"));
      await monitorLoop.stop();
      const flushed = await writer.close(Math.max(5_000, drainTimeout));
      const stats = writer.stats();
      await Promise.allSettled([store.close(), runtime.upstream.close(), abuse.close()]);
      const report: ShutdownReport = { inFlightAtStart, drained, flushed, eventsWaiting: stats.waiting, eventsDropped: stats.dropped, eventsWritten: stats.written };
      (flushed ? logger.info.bind(logger) : logger.error.bind(logger))(report, flushed ? "shut down cleanly" : "shut down with events not written");
      await new Promise<void>((resolve) => logger.flush(() => resolve()));
      return report;
    })();
    return shutdownPromise;
  }

  return {
    app,
    store,
    writer,
    metrics,
    logger,
    runtime: () => runtime,
    async listen(port?: number) {
      const { host } = options.loaded.config.listen;
      await app.listen({ host, port: port ?? options.loaded.config.listen.port });
      const address = app.server.address();
      const bound = typeof address === "object" && address ? address.port : port;
      const url = `http://${host.includes(":") ? `[${host}]` : host}:${bound}`;
      await monitoring.start(url);
      return url;
    },
    reload,
    shutdown,
  };
}

function sendError(reply: FastifyReply, error: GatewayError): void {
  if (error.decisionId) reply.header("x-bulwark-decision-id", error.decisionId);
  if (error.type === "guardrail_violation") reply.header("x-bulwark-action", "block");
  if (error.status === 401) reply.header("www-authenticate", 'Bearer realm="bulwark"');
  reply.code(error.status).type("application/json").send(JSON.stringify(error.body()));
}

/** JSON parsing that tells the client exactly what is wrong: invalid UTF-8, invalid JSON, nesting too deep. */
export function parseJsonBody(body: Buffer, maxDepth: number): unknown {
  // No body at all: routes that need one say so (a DELETE with a content type and no body is fine).
  if (body.length === 0) return undefined;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    throw badRequest("invalid_utf8", "The request body is not valid UTF-8.");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw badRequest("invalid_json", `The request body is not valid JSON: ${(error as Error).message.slice(0, 160)}`);
  }
  if (exceedsDepth(value, maxDepth)) throw badRequest("json_too_deep", `The request body is nested more than ${maxDepth} levels deep.`);
  return value;
}

/** Iterative, so that a hostile nesting depth cannot overflow the stack. */
function exceedsDepth(root: unknown, maxDepth: number): boolean {
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (value === null || typeof value !== "object") continue;
    if (depth > maxDepth) return true;
    for (const child of Array.isArray(value) ? value : Object.values(value)) if (child !== null && typeof child === "object") stack.push([child, depth + 1]);
  }
  return false;
}

function enforceTokenLimit(chat: ChatRequest, maxTokens: number | undefined, field: "max_tokens" | "max_completion_tokens"): void {
  if (maxTokens === undefined) return;
  for (const key of ["max_tokens", "max_completion_tokens"] as const) {
    const asked = chat[key];
    if (typeof asked === "number" && asked > maxTokens) {
      throw new GatewayError(403, "permission_error", "max_tokens_exceeded", `Your key may ask for at most ${maxTokens} tokens; ${key} is ${asked}.`, key);
    }
  }
  if (chat.max_tokens == null && chat.max_completion_tokens == null) (chat as Record<string, unknown>)[field] = maxTokens;
}

const SEVERITY = { allow: 0, flag: 1, redact: 2, block: 3 } as const;

function moreSevereAggregate(a: AggregateDecision, b: AggregateDecision): AggregateDecision {
  if (!b.decisive) return a;
  if (!a.decisive) return b;
  return SEVERITY[b.action] > SEVERITY[a.action] ? b : a;
}

function noteDecision(info: RequestInfo, aggregate: AggregateDecision): void {
  info.action = aggregate.action;
  info.decisionId = aggregate.decisive?.decision.id ?? "";
}

function stripLogprobs(body: unknown): void {
  const choices = (body as { choices?: unknown }).choices;
  if (!Array.isArray(choices)) return;
  for (const choice of choices) if (choice && typeof choice === "object" && "logprobs" in choice) (choice as { logprobs: unknown }).logprobs = null;
}

async function readUpstreamJson(response: UpstreamResponse): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of response.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_UPSTREAM_BODY) {
        response.body.destroy();
        throw new GatewayError(502, "upstream_error", "upstream_response_too_large", "The model server's response is larger than the gateway accepts.");
      }
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    throw upstreamFailure(error);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  try {
    return JSON.parse(text) as unknown;
  } catch {
    if (response.status >= 300) return { error: { message: text.slice(0, 300) } };
    throw new GatewayError(502, "upstream_error", "upstream_invalid_response", "The model server's response is not JSON.");
  }
}

/** An upstream error status, translated: its own 401/403 must not look like the client's key being wrong. */
function upstreamStatusError(status: number, body: unknown): GatewayError {
  const upstream = (body as { error?: { message?: unknown; code?: unknown; param?: unknown; type?: unknown } } | null)?.error;
  const message = typeof upstream?.message === "string" ? upstream.message.slice(0, 500) : typeof (body as { detail?: unknown })?.detail === "string" ? String((body as { detail: string }).detail).slice(0, 500) : "";
  const code = typeof upstream?.code === "string" ? upstream.code : null;
  const param = typeof upstream?.param === "string" ? upstream.param : null;
  if (status === 401 || status === 403) return new GatewayError(502, "upstream_error", "upstream_auth_failed", "The model server rejected the gateway's credentials.");
  if (status === 429) return new GatewayError(429, "upstream_error", code ?? "upstream_rate_limited", message || "The model server is rate limiting requests; retry later.", param);
  if (status >= 400 && status < 500) return new GatewayError(status, "invalid_request_error", code ?? "upstream_rejected", message || `The model server rejected the request (${status}).`, param);
  return new GatewayError(502, "upstream_error", "upstream_error", `The model server failed (${status})${message ? `: ${message}` : ""}.`);
}

function upstreamInStreamError(error: unknown): OpenAIErrorBody {
  if (error && typeof error === "object" && "error" in error) {
    const inner = (error as { error?: { message?: unknown } }).error;
    const message = typeof inner?.message === "string" ? inner.message.slice(0, 500) : "the model server reported an error";
    return new GatewayError(502, "upstream_error", "upstream_stream_error", `The model server failed mid-stream: ${message}`).body();
  }
  const failure = upstreamFailure(error);
  if (failure.code === "upstream_timeout") return failure.body();
  const reason = error instanceof Error ? error.message : String(error);
  return new GatewayError(502, "upstream_error", "upstream_stream_interrupted", `The model server's stream broke off: ${reason.slice(0, 200)}`).body();
}

export { ConfigError };
