/**
 * The gateway's monitoring glue: alerts, incidents and scheduled scans wired to
 * the running gateway. The incident engine and the alert dispatcher watch the
 * event writer (every event handed to it, as it is handed over); incident and
 * scan events go back through the writer into the audit chain. Admin routes
 * under /admin/incidents and /admin/schedules; metrics on the gateway's
 * registry. Nothing here runs on a request's path beyond a synchronous rule
 * check, and nothing here can fail a request.
 *
 * Configuration: `alerts`, `incidents` and `schedules` in the gateway
 * configuration. Alerts and incident rules follow a reload; schedules take
 * effect at start.
 */
import { hostname } from "node:os";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { Counter } from "prom-client";
import { z } from "zod";
import { AlertDispatcher } from "../monitor/alerts.js";
import { IncidentEngine, IncidentError, incidentJson, incidentMarkdown, type Incident } from "../monitor/incidents.js";
import { ScanScheduler, type ScheduleSpec } from "../monitor/schedules.js";
import type { EventStore } from "../store/types.js";
import type { EventWriter } from "../store/writer.js";
import type { GatewayConfig } from "./config.js";
import { GatewayError, badRequest } from "./errors.js";
import { adminEvent } from "./events.js";
import { generateKey, hashKey } from "./identity.js";
import type { GatewayMetrics } from "./metrics.js";
import type { Runtime } from "./runtime.js";
import { requireAdmin } from "./admin.js";

export interface MonitoringDependencies {
  readonly app: FastifyInstance;
  readonly store: EventStore;
  readonly writer: EventWriter;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  /** Where webhooks' urlEnv, headersEnv and signingSecretEnv are read. */
  readonly env: NodeJS.ProcessEnv;
  runtime(): Runtime;
  /** Rebuild identities after keys changed in the store. */
  onKeysChanged(): Promise<void>;
}

export interface Monitoring {
  readonly incidents: IncidentEngine;
  readonly alerts: AlertDispatcher;
  readonly scheduler: ScanScheduler;
  /** Creates the schedules' keys and starts their cron jobs; called once the gateway listens. */
  start(baseUrl: string): Promise<void>;
  /** Stops schedules, sends alerts still waiting (bounded), and waits for incident writes. */
  close(timeoutMs?: number): Promise<void>;
}

const ListQuery = z.strictObject({
  status: z.enum(["open", "acknowledged", "resolved"]).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  before: z.string().regex(/^[0-9A-Za-z]{1,64}$/).optional(),
});
const Change = z.strictObject({ note: z.string().max(2000).optional() }).nullish();
const ExportQuery = z.strictObject({ format: z.enum(["json", "md", "markdown"]).default("json") });
const SCHEDULE_KEY_PREFIX = "schedule-";

export async function attachMonitoring(deps: MonitoringDependencies): Promise<Monitoring> {
  const { app, store, writer, metrics, logger } = deps;
  const registers = [metrics.registry];
  const alertCounter = new Counter({ name: "bulwark_alerts_total", help: "Alerts by webhook and outcome (delivered, failed, deduplicated, rate_limited, queue_full).", labelNames: ["webhook", "outcome"], registers });
  const alertRetries = new Counter({ name: "bulwark_alert_retries_total", help: "Webhook delivery retries.", labelNames: ["webhook"], registers });
  const incidentCounter = new Counter({ name: "bulwark_incidents_total", help: "Incident changes by rule (opened, acknowledged, resolved).", labelNames: ["rule", "change"], registers });
  const monitorErrors = new Counter({ name: "bulwark_monitor_errors_total", help: "Monitoring failures (incident store writes, rule evaluation), by part.", labelNames: ["part"], registers });
  const scanCounter = new Counter({ name: "bulwark_scheduled_scans_total", help: "Scheduled scan runs by schedule and outcome (passed, regression, baseline, failed; skipped: another replica ran the tick).", labelNames: ["schedule", "outcome"], registers });

  let config: GatewayConfig = deps.runtime().loaded.config;
  let policy = deps.runtime().policy;
  /** Runbooks: the policy's (`monitor.runbooks`, when the policy gives them), overridden by the configuration's. */
  const incidentsConfig = (): GatewayConfig["incidents"] => {
    const fromPolicy = (policy.policy as { monitor?: { runbooks?: Record<string, string> } }).monitor?.runbooks ?? {};
    return { ...config.incidents, runbooks: { ...fromPolicy, ...config.incidents.runbooks } };
  };
  const schedules: readonly ScheduleSpec[] = config.schedules;
  const schedulePrincipals = schedules.map((schedule) => schedule.principal);
  const emit = (event: Parameters<EventWriter["enqueue"]>[0]): void => {
    if (!writer.enqueue(event)) metrics.storeDropped.inc();
  };

  const alerts = new AlertDispatcher(config.alerts, {
    env: deps.env,
    hooks: {
      outcome: (webhook, outcome, detail) => {
        alertCounter.inc({ webhook, outcome });
        if (outcome === "failed") logger.warn({ webhook, attempts: detail.attempts, status: detail.status, error: detail.error }, "alert delivery failed");
      },
      retry: (webhook) => alertRetries.inc({ webhook }),
    },
  });
  const incidents = new IncidentEngine({
    store,
    emit,
    config: incidentsConfig(),
    onError: (message, error) => {
      monitorErrors.inc({ part: "incidents" });
      logger.error({ error: error instanceof Error ? error.message : String(error) }, message);
    },
    onChange: (incident, change) => {
      incidentCounter.inc({ rule: incident.rule, change });
      logger.warn({ incident: incident.id, rule: incident.rule, severity: incident.severity, principal: incident.principal }, `incident ${change}: ${incident.title}`);
    },
  });
  incidents.reconfigure(incidentsConfig(), schedulePrincipals);
  try {
    await incidents.load();
  } catch (error) {
    monitorErrors.inc({ part: "incidents" });
    logger.error({ error: (error as Error).message }, "open incidents could not be loaded; new events open new incidents");
  }

  // Follow reloads: the runtime's configuration and policy are replaced as a whole, so identity tells a change.
  const current = (): void => {
    const runtime = deps.runtime();
    if (runtime.loaded.config === config && runtime.policy === policy) return;
    if (runtime.loaded.config !== config) alerts.reconfigure(runtime.loaded.config.alerts);
    config = runtime.loaded.config;
    policy = runtime.policy;
    incidents.reconfigure(incidentsConfig(), schedulePrincipals);
  };
  const unsubscribe = writer.observe((event) => {
    current();
    incidents.observe(event);
    alerts.observe(event);
  });

  const keys = new Map<string, string>();
  /** Who claims cron ticks in the store (several replicas: the first claim runs the tick). */
  const holder = `${hostname()}:${process.pid}`;
  let baseUrl = "";
  const scheduler = new ScanScheduler({
    schedules,
    baseDir: deps.runtime().loaded.baseDir,
    gatewayUrl: () => baseUrl,
    credentials: async (schedule) => {
      const key = keys.get(schedule.name);
      if (!key) throw new Error(`no key for schedule ${schedule.name} (the gateway has not started it)`);
      return key;
    },
    emit,
    claim: (key) => store.claimOnce(key, holder),
    onError: (schedule, error) => logger.error({ schedule, error: error instanceof Error ? error.message : String(error) }, "scheduled scan failed"),
    onRun: (schedule, outcome) => {
      scanCounter.inc({ schedule, outcome });
      logger.info({ schedule, outcome }, "scheduled scan finished");
    },
  });

  const admin = (request: FastifyRequest): string => {
    return requireAdmin(request, deps.runtime());
  };
  const incidentError = (error: unknown): never => {
    if (error instanceof IncidentError) throw new GatewayError(error.status, error.status === 404 ? "not_found_error" : "invalid_request_error", error.code, error.message);
    throw error;
  };
  const view = (incident: Incident): Record<string, unknown> => ({ ...incident, timeline: undefined, timelineEntries: incident.timeline.length });

  app.get("/admin/incidents", async (request) => {
    admin(request);
    const parsed = ListQuery.safeParse(request.query);
    if (!parsed.success) throw badRequest("invalid_query", parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; "));
    const list = await incidents.list(parsed.data);
    const last = list[list.length - 1];
    return { data: list.map(view), ...(last && list.length === (parsed.data.limit ?? 100) ? { next_before: last.id } : {}) };
  });
  app.get<{ Params: { id: string } }>("/admin/incidents/:id", async (request) => {
    admin(request);
    const incident = await incidents.get(request.params.id);
    if (!incident) throw new GatewayError(404, "not_found_error", "incident_not_found", `No incident with id ${JSON.stringify(request.params.id.slice(0, 64))}.`);
    return incident;
  });
  for (const action of ["acknowledge", "resolve"] as const) {
    app.post<{ Params: { id: string } }>(`/admin/incidents/:id/${action}`, async (request) => {
      const adminId = admin(request);
      const parsed = Change.safeParse(request.body);
      if (!parsed.success) throw badRequest("invalid_field", parsed.error.issues.map((issue) => `${issue.path.join(".") || "body"}: ${issue.message}`).join("; "));
      const note = parsed.data?.note;
      const incident = await (action === "acknowledge" ? incidents.acknowledge(request.params.id, `admin:${adminId}`, note) : incidents.resolve(request.params.id, `admin:${adminId}`, note)).catch(incidentError);
      return incident;
    });
  }
  app.get<{ Params: { id: string } }>("/admin/incidents/:id/export", async (request, reply) => {
    admin(request);
    const parsed = ExportQuery.safeParse(request.query);
    if (!parsed.success) throw badRequest("invalid_query", "format: json or md");
    const incident = await incidents.get(request.params.id);
    if (!incident) throw new GatewayError(404, "not_found_error", "incident_not_found", `No incident with id ${JSON.stringify(request.params.id.slice(0, 64))}.`);
    const markdown = parsed.data.format !== "json";
    reply.header("content-disposition", `attachment; filename="incident-${incident.id}.${markdown ? "md" : "json"}"`);
    if (markdown) {
      reply.type("text/markdown; charset=utf-8");
      return incidentMarkdown(incident);
    }
    reply.type("application/json");
    return JSON.stringify(incidentJson(incident), null, 2);
  });
  app.get("/admin/incidents/rules", async (request) => {
    admin(request);
    current();
    const runbooks = incidentsConfig().runbooks;
    return { data: incidents.activeRules.map((rule) => ({ ...rule, runbook: rule.runbook ?? runbooks[rule.id] ?? null })) };
  });
  app.get("/admin/schedules", async (request) => {
    admin(request);
    const next = scheduler.nextRuns();
    return { data: schedules.map((schedule) => ({ name: schedule.name, cron: schedule.cron, principal: schedule.principal, model: schedule.model, nextRun: next[schedule.name] ?? null })) };
  });
  app.post<{ Params: { name: string } }>("/admin/schedules/:name/run", async (request, reply) => {
    const adminId = admin(request);
    if (!schedules.some((schedule) => schedule.name === request.params.name)) throw new GatewayError(404, "not_found_error", "schedule_not_found", `No schedule named ${JSON.stringify(request.params.name.slice(0, 64))}.`);
    emit(adminEvent(adminId, `/admin/schedules/${request.params.name}/run`, "schedule_triggered", { schedule: request.params.name }));
    void scheduler.trigger(request.params.name).catch(() => undefined);
    reply.code(202);
    return { schedule: request.params.name, status: "started", note: "A scan.completed (or scan.failed) event reports the result." };
  });

  return {
    incidents,
    alerts,
    scheduler,
    async start(url: string) {
      baseUrl = url;
      if (schedules.length === 0) return;
      // One fresh key per schedule and start: the previous ones are revoked, the new one lives only in memory here.
      try {
        const stored = await store.listKeys();
        const now = new Date().toISOString();
        for (const schedule of schedules) {
          const prefix = `${SCHEDULE_KEY_PREFIX}${schedule.name}-`;
          for (const old of stored.filter((key) => key.id.startsWith(prefix) && !key.revoked)) await store.putKey({ ...old, revoked: true });
          const key = generateKey();
          const id = `${prefix}${Date.now().toString(36)}`;
          await store.putKey({ id, principal: schedule.principal, hash: hashKey(key), createdAt: now, revoked: false });
          keys.set(schedule.name, key);
          emit(adminEvent("bulwark", "/schedules", "key_created", { id, principal: schedule.principal, schedule: schedule.name }));
        }
        await deps.onKeysChanged();
      } catch (error) {
        // The gateway serves on; each run then fails visibly (scan.failed: no key) until a restart succeeds.
        monitorErrors.inc({ part: "schedules" });
        logger.error({ error: error instanceof Error ? error.message : String(error) }, "keys for scheduled scans could not be created");
      }
      scheduler.start();
      logger.info({ schedules: scheduler.nextRuns() }, "scheduled scans started");
    },
    async close(timeoutMs = 5_000) {
      await scheduler.stop();
      unsubscribe();
      await incidents.flush();
      await alerts.close(timeoutMs);
    },
  };
}
