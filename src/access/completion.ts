/**
 * Tool calls in OpenAI chat completions: find the calls a response proposes
 * (`choices[].message.tool_calls` and the legacy `function_call`), and rewrite
 * a message once its calls are decided: denied calls removed (and, with
 * onDeny `replace`, explained in the message's content), calls held for
 * approval removed and listed as pending, the finish reason kept sensible
 * (`stop` once no call is left). The `bulwark` extension field lists what was
 * done, for applications that show it.
 */
import type { AccessOptions } from "../policy/access.js";
import type { Policy } from "../policy/schema.js";
import { analyzeConversation, type ConversationMessage, type ConversationProvenance } from "./provenance.js";
import { AccessControl, createAccessControl, type ToolCall, type ToolCallVerdict } from "./tools.js";

export interface ProposedCall {
  readonly choice: number;
  /** Position in `tool_calls` (0 for a legacy function_call). */
  readonly index: number;
  readonly legacy: boolean;
  readonly call: ToolCall & { readonly arguments: string };
}

/** A decided call: its verdict, and for a held one the approval that holds it. */
export interface CallResolution {
  readonly verdict: ToolCallVerdict;
  readonly approval?: { readonly id: string; readonly expiresAt: string };
}

export interface DeniedEntry {
  readonly choice: number;
  readonly index: number;
  readonly id: string | null;
  readonly name: string;
  readonly reason: string;
  readonly message: string;
}

export interface PendingEntry extends DeniedEntry {
  readonly approval_id: string;
  readonly expires_at: string;
}

export interface BulwarkToolReport {
  denied: DeniedEntry[];
  pending: PendingEntry[];
}

export type OnDeny = "remove" | "replace" | "block";

interface MessageLike {
  content?: unknown;
  tool_calls?: unknown;
  function_call?: unknown;
}

function callOf(raw: unknown, fallbackId?: string): (ToolCall & { arguments: string }) | null {
  if (!raw || typeof raw !== "object") return null;
  const call = raw as { id?: unknown; function?: { name?: unknown; arguments?: unknown }; name?: unknown; arguments?: unknown };
  const fn = call.function && typeof call.function === "object" ? call.function : call;
  const name = typeof fn.name === "string" ? fn.name : "";
  // Arguments that are not a string (some servers send an object) are judged as their JSON text.
  const args = typeof fn.arguments === "string" ? fn.arguments : fn.arguments === undefined ? "" : (JSON.stringify(fn.arguments) ?? "");
  const id = typeof call.id === "string" ? call.id : fallbackId;
  return id ? { id, name, arguments: args } : { name, arguments: args };
}

/** The calls one message proposes. A tool_calls entry that is not an object is reported as a call without a name (denied as unknown). */
export function messageCalls(message: MessageLike, choice = 0): ProposedCall[] {
  const out: ProposedCall[] = [];
  if (Array.isArray(message.tool_calls)) {
    message.tool_calls.forEach((raw: unknown, index) => {
      out.push({ choice, index, legacy: false, call: callOf(raw) ?? { name: "", arguments: "" } });
    });
  }
  if (message.function_call && typeof message.function_call === "object") {
    const call = callOf(message.function_call);
    if (call) out.push({ choice, index: 0, legacy: true, call });
  }
  return out;
}

/** The calls a whole (non-streamed) completion proposes, choice by choice. */
export function completionCalls(completion: unknown): ProposedCall[] {
  const choices = (completion as { choices?: unknown } | null)?.choices;
  if (!Array.isArray(choices)) return [];
  return choices.flatMap((choice: unknown, position) => {
    const message = (choice as { message?: unknown } | null)?.message;
    if (!message || typeof message !== "object") return [];
    const index = (choice as { index?: unknown }).index;
    return messageCalls(message as MessageLike, typeof index === "number" ? index : position);
  });
}

function note(resolution: CallResolution): string {
  const { verdict, approval } = resolution;
  return approval
    ? `[bulwark] The tool call ${verdict.name} is waiting for a person's approval (${approval.id}): ${verdict.message}`
    : `[bulwark] The tool call ${verdict.name || "(unnamed)"} was not made: ${verdict.message}`;
}

/**
 * Rewrites one message given the resolutions of its calls (same order as messageCalls), and returns the new
 * finish reason and what to report. Allowed calls stay as they were.
 */
export function rewriteMessage(
  message: MessageLike,
  calls: readonly ProposedCall[],
  resolutions: readonly CallResolution[],
  finishReason: string | null | undefined,
  onDeny: OnDeny,
  report: BulwarkToolReport,
): string | null | undefined {
  const notes: string[] = [];
  const dropTools = new Set<number>();
  let dropLegacy = false;
  calls.forEach((proposed, position) => {
    const resolution = resolutions[position]!;
    const { verdict } = resolution;
    if (verdict.outcome === "allow") return;
    const entry: DeniedEntry = { choice: proposed.choice, index: proposed.index, id: proposed.call.id ?? null, name: verdict.name, reason: verdict.reason ?? "denied", message: verdict.message };
    if (verdict.outcome === "approval" && resolution.approval) report.pending.push({ ...entry, approval_id: resolution.approval.id, expires_at: resolution.approval.expiresAt });
    else report.denied.push(entry);
    if (onDeny !== "remove") notes.push(note(resolution));
    if (proposed.legacy) dropLegacy = true;
    else dropTools.add(proposed.index);
  });
  if (dropTools.size === 0 && !dropLegacy) return finishReason;
  if (Array.isArray(message.tool_calls)) {
    const kept = message.tool_calls.filter((_call: unknown, index) => !dropTools.has(index));
    if (kept.length > 0) message.tool_calls = kept;
    else delete message.tool_calls;
  }
  if (dropLegacy) delete message.function_call;
  if (notes.length > 0) {
    const before = typeof message.content === "string" && message.content.length > 0 ? `${message.content}\n\n` : "";
    message.content = before + notes.join("\n");
  } else if (message.content === undefined) {
    message.content = null;
  }
  const callsLeft = (Array.isArray(message.tool_calls) && message.tool_calls.length > 0) || message.function_call !== undefined;
  return callsLeft ? finishReason : finishReason === "tool_calls" || finishReason === "function_call" ? "stop" : finishReason;
}

export interface ReviewOptions {
  readonly roles: readonly string[];
  /** The conversation the completion answers (the request's messages), for provenance. */
  readonly messages?: readonly ConversationMessage[];
  readonly provenance?: ConversationProvenance;
  /** Overrides the policy's onDeny. */
  readonly onDeny?: OnDeny;
  /** Holds a call that needs approval and returns its approval (an ApprovalStore's `hold`); without it such calls are reported as denied. */
  readonly hold?: (call: ProposedCall, verdict: ToolCallVerdict) => { readonly id: string; readonly expiresAt: string } | null;
}

export interface ReviewResult {
  /** Every proposed call with its verdict, in order. */
  readonly decided: ReadonlyArray<{ readonly call: ProposedCall; readonly verdict: ToolCallVerdict }>;
  readonly report: BulwarkToolReport;
  /** With onDeny `block`, a call was denied: the completion must not be used (it is left unchanged). */
  readonly blocked: boolean;
}

/**
 * The gateway's treatment of a completion, for applications that call the model themselves: checks every
 * proposed call and rewrites the completion in place (denied calls removed or replaced, held ones pending, the
 * `bulwark` field added when anything was done). Emits no events: record `decided` as the application sees fit.
 */
export function reviewCompletion(policy: Policy | AccessOptions | AccessControl, completion: unknown, options: ReviewOptions): ReviewResult {
  const control = policy instanceof AccessControl ? policy : createAccessControl(policy);
  const onDeny = options.onDeny ?? control.options.onDeny;
  const report: BulwarkToolReport = { denied: [], pending: [] };
  const calls = completionCalls(completion);
  if (calls.length === 0) return { decided: [], report, blocked: false };
  const provenance = options.provenance ?? (options.messages ? analyzeConversation(options.messages) : undefined);
  const { verdicts } = control.authorize({ roles: options.roles, calls: calls.map((proposed) => proposed.call), ...(provenance ? { provenance } : {}) });
  const decided = calls.map((call, index) => ({ call, verdict: verdicts[index]! }));
  if (!control.active) return { decided, report, blocked: false };
  if (onDeny === "block" && verdicts.some((verdict) => verdict.outcome === "deny")) return { decided, report, blocked: true };
  const choices = (completion as { choices: unknown[] }).choices;
  choices.forEach((raw, position) => {
    const choice = raw as Record<string, unknown>;
    const index = typeof choice.index === "number" ? choice.index : position;
    const mine = decided.filter((entry) => entry.call.choice === index);
    if (mine.length === 0 || !choice.message || typeof choice.message !== "object") return;
    const resolutions: CallResolution[] = mine.map(({ call, verdict }) => {
      const approval = verdict.outcome === "approval" ? options.hold?.(call, verdict) : undefined;
      return approval ? { verdict, approval } : verdict.outcome === "approval" ? { verdict: { ...verdict, outcome: "deny" } } : { verdict };
    });
    const finish = rewriteMessage(choice.message as MessageLike, mine.map((entry) => entry.call), resolutions, choice.finish_reason as string | null | undefined, onDeny, report);
    if (finish !== undefined) choice.finish_reason = finish;
  });
  if (report.denied.length > 0 || report.pending.length > 0) (completion as Record<string, unknown>).bulwark = report;
  return { decided, report, blocked: false };
}
