/**
 * The monitor loop (src/monitor/monitor.ts) inside the gateway: every
 * `monitor.intervalSeconds` of the policy in force it computes drift and the
 * objectives from the store and records drift.* / slo.* signals through the
 * event writer (where incidents and alerts see them). Admin routes:
 *
 *   GET  /admin/monitor                          the last result (drift, objectives with budgets, containment)
 *   POST /admin/monitor/run                      compute now and return the result
 *   POST /admin/decisions/:id/false-positive     mark a blocked decision as blocked-but-benign
 *                                                ({ note? }): a feedback.false_positive signal, counted
 *                                                by the blockedBenignRate objective
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { z } from "zod";
import { Monitor, type MonitorClock } from "../monitor/monitor.js";
import { FALSE_POSITIVE_SIGNAL } from "../monitor/objectives.js";
import type { EventStore } from "../store/types.js";
import type { EventWriter } from "../store/writer.js";
import { GatewayError, badRequest } from "./errors.js";
import { signalEvent } from "./events.js";
import type { Runtime } from "./runtime.js";
import { requireAdmin } from "./admin.js";

export interface MonitorLoopDependencies {
  readonly app: FastifyInstance;
  readonly store: EventStore;
  readonly writer: EventWriter;
  readonly logger: Logger;
  runtime(): Runtime;
  readonly clock?: MonitorClock;
}

const FalsePositive = z.strictObject({ note: z.string().max(2000).optional() }).nullish();

export function attachMonitorLoop(deps: MonitorLoopDependencies): Monitor {
  const monitor = new Monitor({
    store: deps.store,
    emit: (event) => void deps.writer.enqueue(event),
    options: () => deps.runtime().policy.policy.monitor,
    ...(deps.clock ? { clock: deps.clock } : {}),
    onError: (error) => deps.logger.warn({ error: error instanceof Error ? error.message : String(error) }, "monitor: drift and objectives not computed this time"),
  });
  const admin = (request: FastifyRequest): string => {
    return requireAdmin(request, deps.runtime());
  };

  deps.app.get("/admin/monitor", async (request) => {
    admin(request);
    return monitor.latest() ?? { at: null, note: `not computed yet: the monitor runs every ${deps.runtime().policy.policy.monitor.intervalSeconds} s (POST /admin/monitor/run to compute now)` };
  });
  deps.app.post("/admin/monitor/run", async (request) => {
    admin(request);
    return monitor.tick();
  });
  deps.app.post<{ Params: { id: string } }>("/admin/decisions/:id/false-positive", async (request) => {
    const adminId = admin(request);
    const body = FalsePositive.safeParse(request.body);
    if (!body.success) throw badRequest("invalid_body", body.error.issues.map((issue) => `${issue.path.join(".") || "body"}: ${issue.message}`).join("; "));
    const stored = await deps.store.get(request.params.id);
    if (!stored || stored.event.kind !== "decision") throw new GatewayError(404, "not_found_error", "decision_not_found", `No decision with id ${request.params.id}.`);
    const decision = stored.event;
    if (decision.action !== "block") throw new GatewayError(409, "invalid_request_error", "not_blocked", `Decision ${decision.id} was not a block (it was ${decision.action}); only blocks can be marked blocked-but-benign.`);
    const already = await deps.store.searchEvents({ kind: "signal", type: FALSE_POSITIVE_SIGNAL, principal: decision.principal, since: decision.time, limit: 500 });
    if (already.events.some((e) => e.event.kind === "signal" && e.event.detail.decisionId === decision.id)) return { ok: true, alreadyMarked: true };
    deps.writer.enqueue(
      signalEvent({
        type: FALSE_POSITIVE_SIGNAL,
        severity: "low",
        principal: decision.principal,
        route: decision.route,
        requestId: decision.requestId,
        summary: `Block of decision ${decision.id} (${decision.categories.join(", ") || "no category"}) marked benign by admin ${adminId}`,
        detail: { decisionId: decision.id, categories: decision.categories.join(","), score: decision.score, admin: adminId, note: body.data?.note ?? null },
      }),
    );
    return { ok: true, alreadyMarked: false };
  });
  monitor.start();
  return monitor;
}
