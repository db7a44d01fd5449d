/**
 * The gateway's enforcement for agents (src/access applied to chat
 * completions): per request, the conversation's provenance is read from its
 * messages before the guard strips the trust labels; input the guard flagged is
 * added as untrusted; spotlighting (when on) marks untrusted content on its way
 * upstream; every tool call a response proposes, whole or streamed, is checked
 * against the caller's roles, the tool's constraints and the provenance before
 * the application sees it. Denied calls become `tool.denied` events, held ones
 * `tool.pending`; the approval routes release or reject held calls:
 *
 *   GET  /admin/approvals[?status=pending]        admin: list
 *   GET  /admin/approvals/:id                      admin: one
 *   POST /admin/approvals/:id/approve|reject       admin: decide (body: {"note": "..."} optional)
 *   GET  /v1/approvals/:id                         the application (its own key): status, and the call once approved
 *
 * Held calls live in this process's memory, or in Redis (shared by every
 * replica) when the configuration has `redis`.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { Redis } from "ioredis";
import { ApprovalStore, MemoryApprovals, type Approval, type ApprovalBackend } from "../access/approvals.js";
import { RedisApprovals } from "../access/approvals-redis.js";
import { messageCalls, rewriteMessage, type BulwarkToolReport, type CallResolution, type ProposedCall } from "../access/completion.js";
import { conversationTexts, provenanceOf, type ConversationMessage, type ConversationProvenance, type ConversationText } from "../access/provenance.js";
import { spotlight } from "../access/spotlight.js";
import { createAccessControl, type AccessControl, type ToolCallVerdict } from "../access/tools.js";
import type { AccessOptions } from "../policy/access.js";
import type { SignalEvent } from "../store/types.js";
import type { EventWriter } from "../store/writer.js";
import type { AggregateDecision, ChatRequest } from "./chat.js";
import { GatewayError, badRequest, type OpenAIErrorBody } from "./errors.js";
import { adminEvent, signalEvent } from "./events.js";
import type { Principal } from "./identity.js";
import type { Runtime } from "./runtime.js";
import { requireAdmin } from "./admin.js";

export interface AgencyContext {
  readonly requestId: string;
  readonly principal: Principal;
  readonly route: string;
  readonly model: string;
}

/** A message as the stream relay assembles it, and what to send instead. */
export interface StreamToolReview {
  /** The calls to emit (allowed ones, renumbered from 0). */
  readonly toolCalls: Array<Record<string, unknown>>;
  readonly functionCall?: Record<string, unknown>;
  /** Text to add to the message's content (notes about removed calls). */
  readonly note?: string;
  readonly finishReason: string;
  /** The `bulwark` extension field for the final chunk. */
  readonly report?: BulwarkToolReport;
  /** With onDeny `block`: end the stream with this error instead. */
  readonly error?: OpenAIErrorBody;
}

export type StreamToolReviewer = (choice: number, message: { tool_calls?: unknown[]; function_call?: unknown }, finishReason: string) => Promise<StreamToolReview>;

const SEVERITY: Record<string, SignalEvent["severity"]> = {
  untrusted_arguments: "high",
  not_granted: "medium",
  unknown_tool: "medium",
  constraint_violation: "medium",
  schema_violation: "low",
  invalid_arguments: "low",
  oversize_arguments: "medium",
  approval_unavailable: "medium",
};

/** Where the gateway's configuration says shared state lives (config `redis`). */
export interface AgencyRedis {
  readonly url: string;
  readonly keyPrefix: string;
  readonly commandTimeoutMs: number;
}

/**
 * One gateway's agent enforcement: approvals outlive reloads; the policy comes from the runtime of each request.
 * With Redis configured, held calls are shared by every replica (under `<keyPrefix>approvals:`); otherwise they
 * live in this process.
 */
export class GatewayAgency {
  readonly approvals: ApprovalBackend;

  constructor(
    private readonly writer: EventWriter,
    redis?: AgencyRedis,
  ) {
    this.approvals = redis
      ? new RedisApprovals({
          client: new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: Math.max(redis.commandTimeoutMs, 500), connectTimeout: 2_000, retryStrategy: (times) => Math.min(100 * times, 2_000) }).on("error", () => undefined),
          prefix: `${redis.keyPrefix}approvals:`,
          ttlMs: 3_600_000,
          maxPending: 10_000,
        })
      : new MemoryApprovals(
          new ApprovalStore({
            ttlMs: 3_600_000,
            maxPending: 10_000,
            onExpire: (approval) => this.signal("tool.expired", "low", approval.principal, `${approval.principal}: held call ${approval.call.name} expired unapproved`, approvalDetail(approval)),
          }),
        );
  }

  /** The per-request enforcement, or null when the policy neither checks tool calls nor spotlights. Call before the guard strips labels. */
  begin(runtime: Runtime, chat: ChatRequest, context: AgencyContext): RequestAgency | null {
    const access = runtime.policy.policy.access;
    const control = createAccessControl(runtime.policy.policy);
    if (!control.active && !access.spotlight.enabled) return null;
    this.approvals.configure(access.approval.ttlSeconds * 1000, access.approval.maxPending);
    return new RequestAgency(this, control, access, conversationTexts(chat.messages as readonly ConversationMessage[]), context);
  }

  /** Compiles the policy's access section ahead of the first request (ajv schemas, allowlists). */
  prepare(runtime: Runtime): void {
    createAccessControl(runtime.policy.policy);
  }

  signal(type: string, severity: SignalEvent["severity"], principal: string, summary: string, detail: SignalEvent["detail"], context?: { route?: string; requestId?: string }): void {
    this.writer.enqueue(
      signalEvent({
        type,
        severity,
        principal,
        ...(context?.route ? { route: context.route } : {}),
        ...(context?.requestId ? { requestId: context.requestId } : {}),
        summary,
        detail,
      }),
    );
  }
}

/** Most tool events one response records; a response proposing more is summarised in one last event. */
const MAX_EVENTS_PER_RESPONSE = 100;

export class RequestAgency {
  private provenance: ConversationProvenance | undefined;
  private events = 0;

  constructor(
    private readonly agency: GatewayAgency,
    private readonly control: AccessControl,
    private readonly access: AccessOptions,
    private readonly texts: readonly ConversationText[],
    private readonly context: AgencyContext,
  ) {}

  /**
   * After the input guard: offers the model only the tools the caller may call, counts flagged input as
   * untrusted, and spotlights untrusted content on its way upstream.
   */
  afterInput(input: AggregateDecision, chat: ChatRequest): void {
    if (this.control.active) this.offerGrantedTools(chat as Record<string, unknown>);
    const flagged = this.access.provenance.flaggedInput ? input.checked.filter(({ decision }) => decision.action === "flag").map(({ item }) => item.location) : [];
    this.provenance = provenanceOf(this.texts, { flagged });
    if (this.access.spotlight.enabled && this.provenance.tainted) {
      const result = spotlight(chat.messages as ConversationMessage[], { mode: this.access.spotlight.mode, marker: this.access.spotlight.marker, untrusted: this.provenance.untrusted });
      (chat as { messages: unknown[] }).messages = result.messages;
    }
  }

  /**
   * Least privilege on the way in: the request's `tools` (and legacy `functions`) lose the entries the caller
   * may not call, so the model is not offered them. A `tool_choice` that forces a removed tool is refused.
   */
  private offerGrantedTools(chat: Record<string, unknown>): void {
    const roles = this.context.principal.roles;
    const allowed = (name: unknown): boolean => typeof name === "string" && this.control.effectOf(name) !== undefined && this.control.granted(roles, name);
    const removed: string[] = [];
    if (Array.isArray(chat.tools)) {
      chat.tools = chat.tools.filter((tool: unknown) => {
        const name = (tool as { function?: { name?: unknown } } | null)?.function?.name;
        if ((tool as { type?: unknown } | null)?.type !== "function" || allowed(name)) return true;
        removed.push(String(name));
        return false;
      });
      if ((chat.tools as unknown[]).length === 0) delete chat.tools;
    }
    if (Array.isArray(chat.functions)) {
      chat.functions = chat.functions.filter((fn: unknown) => {
        const name = (fn as { name?: unknown } | null)?.name;
        if (allowed(name)) return true;
        removed.push(String(name));
        return false;
      });
      if ((chat.functions as unknown[]).length === 0) delete chat.functions;
    }
    if (removed.length === 0) return;
    const forced = chat.tool_choice && typeof chat.tool_choice === "object" ? (chat.tool_choice as { function?: { name?: unknown } }).function?.name : undefined;
    const forcedLegacy = chat.function_call && typeof chat.function_call === "object" ? (chat.function_call as { name?: unknown }).name : undefined;
    for (const name of [forced, forcedLegacy]) {
      if (typeof name === "string" && removed.includes(name)) {
        throw new GatewayError(403, "permission_error", "tool_not_granted", `Your key may not call the tool ${JSON.stringify(name.slice(0, 64))}, so the request cannot force it.`, forced === name ? "tool_choice" : "function_call");
      }
    }
    // Without any tools left, a tool_choice other than none/auto would be rejected upstream.
    if (!chat.tools && chat.tool_choice !== undefined && chat.tool_choice !== "none") delete chat.tool_choice;
    if (!chat.functions && chat.function_call !== undefined && chat.function_call !== "none") delete chat.function_call;
  }

  private conversation(): ConversationProvenance {
    return (this.provenance ??= provenanceOf(this.texts));
  }

  /**
   * Checks a non-streamed completion's tool calls and rewrites it: denied calls removed or replaced, held ones
   * pending, the `bulwark` field added. Throws a guardrail error when the policy blocks responses with denied calls.
   */
  async reviewCompletion(body: unknown): Promise<void> {
    if (!this.control.active) return;
    const choices = (body as { choices?: unknown } | null)?.choices;
    if (!Array.isArray(choices)) return;
    const report: BulwarkToolReport = { denied: [], pending: [] };
    const work: Array<{ message: Record<string, unknown>; choice: Record<string, unknown>; calls: ProposedCall[]; verdicts: readonly ToolCallVerdict[] }> = [];
    choices.forEach((raw: unknown, position) => {
      if (!raw || typeof raw !== "object") return;
      const choice = raw as Record<string, unknown>;
      const message = choice.message;
      if (!message || typeof message !== "object") return;
      const index = typeof choice.index === "number" ? choice.index : position;
      const calls = messageCalls(message as Record<string, unknown>, index);
      if (calls.length === 0) return;
      const result = this.control.authorize({ roles: this.context.principal.roles, calls: calls.map((proposed) => proposed.call), provenance: this.conversation() });
      work.push({ message: message as Record<string, unknown>, choice, calls, verdicts: result.verdicts });
    });
    if (work.length === 0) return;
    this.blockIfDenied(work.flatMap(({ calls, verdicts }) => verdicts.map((verdict, i) => ({ verdict, proposed: calls[i]! }))), false);
    for (const { message, choice, calls, verdicts } of work) {
      const resolutions = await this.resolve(calls, verdicts);
      const finish = rewriteMessage(message, calls, resolutions, choice.finish_reason as string | null | undefined, this.access.onDeny, report);
      if (finish !== undefined) choice.finish_reason = finish;
    }
    if (report.denied.length > 0 || report.pending.length > 0) (body as Record<string, unknown>).bulwark = report;
  }

  /** The reviewer the stream relay calls with each choice's assembled tool calls, before any of them is sent. */
  streamReviewer(): StreamToolReviewer | undefined {
    if (!this.control.active) return undefined;
    return async (choice, assembled, finishReason) => {
      const message: Record<string, unknown> = { ...(assembled.tool_calls ? { tool_calls: assembled.tool_calls } : {}), ...(assembled.function_call ? { function_call: assembled.function_call } : {}) };
      const calls = messageCalls(message, choice);
      const verdicts = this.control.authorize({ roles: this.context.principal.roles, calls: calls.map((proposed) => proposed.call), provenance: this.conversation() }).verdicts;
      const error = this.blockIfDenied(verdicts.map((verdict, i) => ({ verdict, proposed: calls[i]! })), true);
      if (error) return { toolCalls: [], finishReason, error };
      const report: BulwarkToolReport = { denied: [], pending: [] };
      const finish = rewriteMessage(message, calls, await this.resolve(calls, verdicts), finishReason, this.access.onDeny, report);
      const kept = Array.isArray(message.tool_calls) ? (message.tool_calls as Array<Record<string, unknown>>).map((call, index) => ({ ...call, index })) : [];
      const changed = report.denied.length > 0 || report.pending.length > 0;
      return {
        toolCalls: kept,
        ...(message.function_call ? { functionCall: message.function_call as Record<string, unknown> } : {}),
        ...(changed && typeof message.content === "string" && message.content ? { note: message.content } : {}),
        finishReason: finish ?? finishReason,
        ...(changed ? { report } : {}),
      };
    };
  }

  /** With onDeny `block`, the first denied call refuses the whole response (after its event is recorded). */
  private blockIfDenied(decided: ReadonlyArray<{ verdict: ToolCallVerdict; proposed: ProposedCall }>, inStream: boolean): OpenAIErrorBody | undefined {
    if (this.access.onDeny !== "block") return undefined;
    const denied = decided.filter(({ verdict }) => verdict.outcome === "deny");
    if (denied.length === 0) return undefined;
    for (const { verdict, proposed } of denied) this.denied(verdict, proposed);
    const first = denied[0]!;
    const location = `choices[${first.proposed.choice}].${inStream ? "delta" : "message"}.${first.proposed.legacy ? "function_call" : `tool_calls[${first.proposed.index}]`}`;
    const error = new GatewayError(400, "guardrail_violation", "tool_call_denied", `The model's response was withheld: ${first.verdict.message}`, location);
    if (inStream) return error.body();
    throw error;
  }

  /** Holds calls that need approval (a full store denies them instead) and records an event for every call not allowed. */
  private async resolve(calls: readonly ProposedCall[], verdicts: readonly ToolCallVerdict[]): Promise<CallResolution[]> {
    const resolutions: CallResolution[] = [];
    for (const [i, verdict] of verdicts.entries()) resolutions.push(await this.resolveOne(calls[i]!, verdict));
    return resolutions;
  }

  private async resolveOne(proposed: ProposedCall, verdict: ToolCallVerdict): Promise<CallResolution> {
    {
      if (verdict.outcome === "allow") return { verdict };
      if (verdict.outcome === "approval") {
        let approval: Approval | null;
        let unreachable = false;
        try {
          approval = await this.agency.approvals.hold({
          principal: this.context.principal.id,
          requestId: this.context.requestId,
          model: this.context.model,
          call: proposed.call,
          ...(verdict.effect ? { effect: verdict.effect } : {}),
          reason: verdict.message,
        });
        } catch {
          // The shared approval store is unreachable: the call cannot be held, so it is refused (fail closed).
          approval = null;
          unreachable = true;
        }
        if (approval) {
          if (this.mayRecord()) this.agency.signal("tool.pending", "info", this.context.principal.id, `${this.context.principal.id}: ${verdict.name} held for approval (${approval.id})`, { ...verdictDetail(verdict, proposed), approvalId: approval.id, expiresAt: approval.expiresAt }, this.context);
          return { verdict, approval: { id: approval.id, expiresAt: approval.expiresAt } };
        }
        const why = unreachable ? "The approval store cannot be reached, so it was refused." : "Too many calls are waiting for approval, so it was refused.";
        const full: ToolCallVerdict = { ...verdict, outcome: "deny", reason: "approval_unavailable", message: `${verdict.message} ${why}` };
        this.denied(full, proposed);
        return { verdict: full };
      }
      this.denied(verdict, proposed);
      return { verdict };
    }
  }

  /** Counts an event against the per-response cap; false once the cap is reached (the first call past it records a summary). */
  private mayRecord(): boolean {
    this.events++;
    if (this.events <= MAX_EVENTS_PER_RESPONSE) return true;
    if (this.events === MAX_EVENTS_PER_RESPONSE + 1) {
      this.agency.signal("tool.denied", "medium", this.context.principal.id, `${this.context.principal.id}: more than ${MAX_EVENTS_PER_RESPONSE} tool calls decided in one response; the rest are not recorded one by one`, { capped: true, limit: MAX_EVENTS_PER_RESPONSE }, this.context);
    }
    return false;
  }

  private denied(verdict: ToolCallVerdict, proposed: ProposedCall): void {
    if (!this.mayRecord()) return;
    this.agency.signal(
      "tool.denied",
      SEVERITY[verdict.reason ?? ""] ?? "medium",
      this.context.principal.id,
      `${this.context.principal.id}: call to ${verdict.name.slice(0, 64) || "(unnamed)"} denied (${verdict.reason ?? "denied"})`,
      { ...verdictDetail(verdict, proposed), tainted: this.conversation().tainted, untrustedSources: this.conversation().untrusted.slice(0, 5).join(" ") || null },
      this.context,
    );
  }
}

function verdictDetail(verdict: ToolCallVerdict, proposed: ProposedCall): Record<string, string | number | boolean | null> {
  // Argument values are not recorded (they may hold personal data); their locations are.
  return {
    tool: verdict.name.slice(0, 64),
    reason: verdict.reason ?? null,
    effect: verdict.effect ?? null,
    choice: proposed.choice,
    index: proposed.index,
    callId: proposed.call.id?.slice(0, 64) ?? null,
    untrustedArguments: verdict.untrustedArguments?.slice(0, 10).join(" ") ?? null,
    message: verdict.message.slice(0, 300),
  };
}

function approvalDetail(approval: Approval): Record<string, string | number | boolean | null> {
  return { approvalId: approval.id, tool: approval.call.name.slice(0, 64), status: approval.status, requestId: approval.requestId ?? null, decidedBy: approval.decidedBy ?? null };
}

function approvalView(approval: Approval, withCall: boolean): Record<string, unknown> {
  return {
    id: approval.id,
    object: "bulwark.approval",
    status: approval.status,
    principal: approval.principal,
    request_id: approval.requestId ?? null,
    model: approval.model ?? null,
    tool: approval.call.name,
    effect: approval.effect ?? null,
    reason: approval.reason,
    created_at: approval.createdAt,
    expires_at: approval.expiresAt,
    decided_at: approval.decidedAt ?? null,
    decided_by: approval.decidedBy ?? null,
    note: approval.note ?? null,
    ...(withCall ? { tool_call: { id: approval.call.id ?? null, type: "function", function: { name: approval.call.name, arguments: approval.call.arguments } } } : {}),
  };
}

const ListQuery = z.strictObject({
  status: z.enum(["pending", "approved", "rejected", "expired"]).optional(),
  principal: z.string().max(128).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});
const DecisionBody = z.strictObject({ note: z.string().max(1000).optional() }).optional();

/** The approval routes (admin and application). Admin routes authenticate as the rest of /admin does. */
export function registerApprovalRoutes(app: FastifyInstance, agency: GatewayAgency, runtime: () => Runtime, writer: EventWriter): void {
  const admin = (request: FastifyRequest): string => {
    return requireAdmin(request, runtime());
  };
  /** A call to the approval store; an unreachable shared store is a 503, not a crash. */
  const stored = async <T>(operation: () => Promise<T>): Promise<T> => {
    try {
      return await operation();
    } catch {
      throw new GatewayError(503, "service_unavailable", "approvals_unavailable", "The approval store cannot be reached; try again shortly.");
    }
  };
  app.addHook("onClose", async () => {
    await agency.approvals.close();
  });
  const notFound = (id: string): GatewayError => new GatewayError(404, "not_found_error", "approval_not_found", `No approval ${JSON.stringify(id.slice(0, 64))} on this gateway${agency.approvals.kind === "memory" ? " (approvals live in the memory of the replica that held them, and are dropped after a restart; configure redis to share them)" : ""}.`);

  app.get("/admin/approvals", async (request) => {
    admin(request);
    const parsed = ListQuery.safeParse(request.query);
    if (!parsed.success) throw badRequest("invalid_query", parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; "));
    const { status, principal, limit } = parsed.data;
    return { data: (await stored(() => agency.approvals.list({ ...(status ? { status } : {}), ...(principal ? { principal } : {}), ...(limit ? { limit } : {}) }))).map((approval) => approvalView(approval, true)) };
  });
  app.get<{ Params: { id: string } }>("/admin/approvals/:id", async (request) => {
    admin(request);
    const approval = await stored(() => agency.approvals.get(request.params.id));
    if (!approval) throw notFound(request.params.id);
    return approvalView(approval, true);
  });
  for (const verdict of ["approve", "reject"] as const) {
    app.post<{ Params: { id: string } }>(`/admin/approvals/:id/${verdict}`, async (request, reply) => {
      const adminId = admin(request);
      const body = DecisionBody.safeParse(request.body);
      if (!body.success) throw badRequest("invalid_field", body.error.issues.map((issue) => `${issue.path.join(".") || "body"}: ${issue.message}`).join("; "));
      const result = await stored(() => agency.approvals.decide(request.params.id, verdict === "approve" ? "approved" : "rejected", adminId, body.data?.note));
      if (!result.ok) {
        if (result.code === "not_found") throw notFound(request.params.id);
        reply.code(409);
        return new GatewayError(409, "invalid_request_error", "approval_decided", `Approval ${result.approval!.id} is already ${result.approval!.status}.`).body();
      }
      const approval = result.approval;
      writer.enqueue(adminEvent(adminId, `/admin/approvals/${approval.id}/${verdict}`, `tool_call_${approval.status}`, { approvalId: approval.id, tool: approval.call.name, principal: approval.principal }));
      agency.signal(`tool.${approval.status}`, "info", approval.principal, `${approval.principal}: held call ${approval.call.name} ${approval.status} by ${adminId}`, approvalDetail(approval));
      return approvalView(approval, true);
    });
  }
  app.get<{ Params: { id: string } }>("/v1/approvals/:id", async (request) => {
    const principal = runtime().identities.authenticate(request.headers.authorization);
    if (!principal) throw new GatewayError(401, "authentication_error", "invalid_api_key", request.headers.authorization ? "Incorrect API key provided." : "No API key provided. Send it as Authorization: Bearer KEY.");
    request.bulwark.principal = principal.id;
    const approval = await stored(() => agency.approvals.get(request.params.id));
    // Another principal's approval is reported as absent, not as forbidden: ids are not to be probed.
    if (!approval || approval.principal !== principal.id) throw notFound(request.params.id);
    return approvalView(approval, approval.status === "approved");
  });
}
