/**
 * The admin API, under /admin, with its own credentials (config `admin.keys`):
 * read decisions and events, verify the audit chain, see the event writer,
 * reload the configuration, and create, list and revoke API keys. Every change
 * is itself an audit event. Without admin credentials these routes answer 404.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import type { EventStore, EventQuery } from "../store/types.js";
import type { EventWriter } from "../store/writer.js";
import { GatewayError, badRequest } from "./errors.js";
import { adminEvent } from "./events.js";
import { generateKey, hashKey } from "./identity.js";
import type { Runtime } from "./runtime.js";

export interface AdminDependencies {
  runtime(): Runtime;
  readonly store: EventStore;
  readonly writer: EventWriter;
  reload(reason: string): Promise<{ ok: true } | { ok: false; error: string }>;
  /** Rebuild identities after keys changed in the store. */
  onKeysChanged(): Promise<void>;
}

const EventsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).optional(),
  before: z.coerce.number().int().min(1).optional(),
  principal: z.string().max(128).optional(),
  action: z.enum(["allow", "flag", "redact", "block"]).optional(),
  kind: z.enum(["decision", "admin", "gap", "signal"]).optional(),
  type: z.string().regex(/^[a-z0-9_.-]{1,64}$/, "a signal type such as anomaly.rate, or a prefix ending in a dot").optional(),
});

const NewKey = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/).optional(),
  principal: z.string().min(1).max(128),
});

/**
 * The one check every /admin route (and the dashboard) makes: 404 while the admin API is off, 401
 * without a valid admin key. Returns the admin key's id and labels the request with it for the log.
 */
export function requireAdmin(request: FastifyRequest, runtime: Runtime): string {
  const credentials = runtime.admin;
  if (!credentials.enabled) throw new GatewayError(404, "not_found_error", "admin_disabled", "The admin API is off (no admin credentials configured).");
  const id = credentials.authenticate(request.headers.authorization);
  if (!id) throw new GatewayError(401, "authentication_error", "invalid_admin_key", "Admin credentials required (Authorization: Bearer ADMIN_KEY).");
  request.bulwark.principal = `admin:${id}`;
  return id;
}

export function registerAdminRoutes(app: FastifyInstance, deps: AdminDependencies): void {
  const admin = (request: FastifyRequest): string => {
    return requireAdmin(request, deps.runtime());
  };
  const record = (adminId: string, route: string, operation: string, detail: Record<string, string | number | boolean | null>): void => {
    deps.writer.enqueue(adminEvent(adminId, route, operation, detail));
  };

  const listEvents = async (request: FastifyRequest, kind?: "decision"): Promise<unknown> => {
    admin(request);
    const parsed = EventsQuery.safeParse(request.query);
    if (!parsed.success) throw badRequest("invalid_query", parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; "));
    const { limit, before, principal, action, type } = parsed.data;
    const query: EventQuery = {
      ...(limit ? { limit } : {}),
      ...(before ? { beforeSeq: before } : {}),
      ...(principal ? { principal } : {}),
      ...(action ? { action } : {}),
      ...(type ? { type } : {}),
      ...((kind ?? parsed.data.kind) ? { kind: kind ?? parsed.data.kind } : {}),
    };
    const events = await deps.store.list(query);
    const last = events[events.length - 1];
    return { data: events.map((stored) => ({ seq: stored.seq, hash: stored.hash, ...stored.event })), ...(last && last.seq > 1 ? { next_before: last.seq } : {}) };
  };

  app.get("/admin/decisions", (request) => listEvents(request, "decision"));
  app.get("/admin/events", (request) => listEvents(request));
  app.get<{ Params: { id: string } }>("/admin/decisions/:id", async (request) => {
    admin(request);
    const stored = await deps.store.get(request.params.id);
    if (!stored) throw new GatewayError(404, "not_found_error", "decision_not_found", `No event with id ${JSON.stringify(request.params.id.slice(0, 64))} (it may still be waiting to be written).`);
    return { seq: stored.seq, hash: stored.hash, prev_hash: stored.prevHash, ...stored.event };
  });
  app.get("/admin/audit/verify", async (request) => {
    admin(request);
    return deps.store.verify();
  });
  app.get("/admin/store", async (request) => {
    admin(request);
    return { description: deps.store.description, ...deps.writer.stats() };
  });
  app.post("/admin/reload", async (request, reply) => {
    const adminId = admin(request);
    const result = await deps.reload(`admin ${adminId}`);
    record(adminId, "/admin/reload", "reload", { ok: result.ok, ...(result.ok ? {} : { error: result.error.slice(0, 500) }) });
    if (!result.ok) reply.code(400);
    return result.ok ? { status: "reloaded", policyHash: deps.runtime().policy.hash } : new GatewayError(400, "invalid_request_error", "invalid_configuration", result.error).body();
  });
  app.get("/admin/keys", async (request) => {
    admin(request);
    const stored = await deps.store.listKeys();
    const revoked = new Set(stored.filter((key) => key.revoked).map((key) => key.id));
    const fromConfig = deps.runtime().loaded.config.keys.map((key) => ({ id: key.id, principal: key.principal, source: "config", revoked: revoked.has(key.id) }));
    const configIds = new Set(fromConfig.map((key) => key.id));
    const fromStore = stored.filter((key) => !configIds.has(key.id)).map((key) => ({ id: key.id, principal: key.principal, source: "store", created_at: key.createdAt, revoked: key.revoked }));
    return { data: [...fromConfig, ...fromStore] };
  });
  app.post("/admin/keys", async (request, reply) => {
    const adminId = admin(request);
    const parsed = NewKey.safeParse(request.body);
    if (!parsed.success) throw badRequest("invalid_field", parsed.error.issues.map((issue) => `${issue.path.join(".") || "body"}: ${issue.message}`).join("; "));
    const runtime = deps.runtime();
    if (!runtime.identities.hasPrincipal(parsed.data.principal)) throw badRequest("unknown_principal", `No principal ${JSON.stringify(parsed.data.principal)} in the configuration.`, "principal");
    const id = parsed.data.id ?? `key-${Date.now().toString(36)}`;
    const taken = runtime.loaded.config.keys.some((key) => key.id === id) || (await deps.store.listKeys()).some((key) => key.id === id);
    if (taken) throw badRequest("key_id_taken", `A key with id ${JSON.stringify(id)} exists.`, "id");
    const key = generateKey();
    await deps.store.putKey({ id, principal: parsed.data.principal, hash: hashKey(key), createdAt: new Date().toISOString(), revoked: false });
    await deps.onKeysChanged();
    record(adminId, "/admin/keys", "key_created", { id, principal: parsed.data.principal });
    reply.code(201);
    return { id, principal: parsed.data.principal, key, note: "Store this key now: the gateway keeps only its hash." };
  });
  app.delete<{ Params: { id: string } }>("/admin/keys/:id", async (request) => {
    const adminId = admin(request);
    const id = request.params.id;
    const runtime = deps.runtime();
    const configKey = runtime.loaded.config.keys.find((key) => key.id === id);
    const storedKey = (await deps.store.listKeys()).find((key) => key.id === id);
    if (!configKey && !storedKey) throw new GatewayError(404, "not_found_error", "key_not_found", `No key with id ${JSON.stringify(id.slice(0, 128))}.`);
    const source = configKey ?? storedKey!;
    await deps.store.putKey({ id, principal: source.principal, hash: source.hash, createdAt: storedKey?.createdAt ?? new Date().toISOString(), revoked: true });
    await deps.onKeysChanged();
    record(adminId, `/admin/keys/${id}`, "key_revoked", { id });
    return { id, revoked: true };
  });
}
