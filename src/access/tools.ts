/**
 * Tool authorisation: is this proposed call one the caller's roles may make,
 * with arguments the policy allows, given where the conversation's content came
 * from? Pure functions of the compiled policy, the caller's roles, the
 * conversation's provenance and the calls. Everything that can be prepared (JSON
 * Schemas, allowlists, role grants) is compiled once per policy.
 */
import type { ValidateFunction } from "ajv";
import { ajvFor, globToRegExp, TOOL_EFFECTS, type AccessOptions, type ToolEffect } from "../policy/access.js";
import type { Policy } from "../policy/schema.js";
import { checkRule, compileRule, valuesAt, type CompiledRule } from "./constraints.js";
import { analyzeConversation, type ConversationMessage, type ConversationProvenance } from "./provenance.js";

/** A call as the model proposed it. `arguments` is the JSON text (as in OpenAI responses) or an already parsed object. */
export interface ToolCall {
  readonly id?: string;
  readonly name: string;
  readonly arguments: string | Readonly<Record<string, unknown>>;
}

export type ToolCallOutcome = "allow" | "deny" | "approval";

/** Why a call was denied or held. */
export type ToolCallReason =
  | "unknown_tool"
  | "not_granted"
  | "oversize_arguments"
  | "invalid_arguments"
  | "schema_violation"
  | "constraint_violation"
  | "untrusted_arguments"
  | "approval_required"
  | "approval_unavailable";

export interface ToolCallVerdict {
  /** Position of the call in the list given. */
  readonly index: number;
  readonly id?: string;
  readonly name: string;
  readonly outcome: ToolCallOutcome;
  /** Set unless the call is allowed. */
  readonly reason?: ToolCallReason;
  /** A sentence an application can show a person. */
  readonly message: string;
  readonly effect?: ToolEffect;
  /** Argument locations whose values did not come from trusted parts of the conversation. */
  readonly untrustedArguments?: readonly string[];
}

export interface AuthorizationRequest {
  /** The caller's roles (the gateway: the principal's roles from its configuration). */
  readonly roles: readonly string[];
  readonly calls: readonly ToolCall[];
  /** The conversation the calls answer (the request's messages); or its provenance, computed before. */
  readonly messages?: readonly ConversationMessage[];
  readonly provenance?: ConversationProvenance;
}

export interface AuthorizationResult {
  /** Whether checking applies at all (the policy declares tools); when false every call is allowed unchecked. */
  readonly active: boolean;
  readonly verdicts: readonly ToolCallVerdict[];
  /** Every call allowed. */
  readonly allowed: boolean;
  readonly tainted: boolean;
}

interface CompiledTool {
  readonly name: string;
  readonly effect: ToolEffect;
  readonly validate?: ValidateFunction;
  readonly rules: readonly CompiledRule[];
  readonly needsApproval: boolean;
  /** Argument paths provenance checks; undefined: all of them. */
  readonly trustedPaths?: ReadonlyArray<readonly string[]>;
}

/** An access policy prepared for checking. Build once per policy (createAccessControl). */
export class AccessControl {
  readonly options: AccessOptions;
  /** Whether any tool is declared (otherwise calls are not checked). */
  readonly active: boolean;
  private readonly tools = new Map<string, CompiledTool>();
  private readonly grants = new Map<string, RegExp[]>();
  private readonly everyone: RegExp[];
  private readonly provenanceEffects: ReadonlySet<ToolEffect>;
  /** Grant decisions per (roles, tool), cached: roles and tools are few. */
  private readonly grantCache = new Map<string, boolean>();

  constructor(policy: Policy | AccessOptions) {
    const options = "access" in policy && "layers" in policy ? policy.access : (policy as AccessOptions);
    this.options = options;
    this.active = Object.keys(options.tools).length > 0;
    const approvalEffects = new Set(options.approval.effects);
    for (const [name, spec] of Object.entries(options.tools)) {
      let validate: ValidateFunction | undefined;
      if (spec.schema) {
        try {
          validate = ajvFor(spec.schema).compile(spec.schema);
        } catch (error) {
          throw new Error(`access.tools.${name}.schema: not a valid JSON Schema (${(error as Error).message})`, { cause: error });
        }
      }
      this.tools.set(name, {
        name,
        effect: spec.effect,
        ...(validate ? { validate } : {}),
        rules: spec.allow.map(compileRule),
        needsApproval: spec.approval === "required" || (spec.approval === undefined && approvalEffects.has(spec.effect)),
        ...(spec.trustedArguments ? { trustedPaths: spec.trustedArguments.map((path) => path.split(".")) } : {}),
      });
    }
    for (const [role, spec] of Object.entries(options.roles)) this.grants.set(role, spec.tools.map(globToRegExp));
    this.everyone = this.grants.get("*") ?? [];
    this.provenanceEffects = new Set(options.provenance.enabled ? options.provenance.effects : []);
  }

  /** The declared effect of a tool, or undefined for an undeclared one. */
  effectOf(name: string): ToolEffect | undefined {
    return this.tools.get(name)?.effect;
  }

  /** Whether any of the roles (or `*`) grants the tool. */
  granted(roles: readonly string[], name: string): boolean {
    const key = `${roles.join("\0")}\u0001${name}`;
    const cached = this.grantCache.get(key);
    if (cached !== undefined) return cached;
    const result = this.everyone.some((pattern) => pattern.test(name)) || roles.some((role) => this.grants.get(role)?.some((pattern) => pattern.test(name)) ?? false);
    if (this.grantCache.size < 10_000) this.grantCache.set(key, result);
    return result;
  }

  authorize(request: AuthorizationRequest): AuthorizationResult {
    const calls = request.calls;
    const verdicts: ToolCallVerdict[] = new Array<ToolCallVerdict>(calls.length);
    if (!this.active) {
      for (let index = 0; index < calls.length; index++) verdicts[index] = verdict(index, calls[index]!, "allow", undefined, "Tool calls are not checked (the policy declares no tools).");
      return { active: false, verdicts, allowed: true, tainted: false };
    }
    // Provenance is computed only when a call needs it (a tainted-sensitive effect), once per response.
    const flow: { provenance: ConversationProvenance | undefined; messages: readonly ConversationMessage[] } = { provenance: request.provenance, messages: request.messages ?? [] };
    let allowed = true;
    for (let index = 0; index < calls.length; index++) {
      const result = this.check(calls[index]!, index, request.roles, flow);
      verdicts[index] = result;
      if (result.outcome !== "allow") allowed = false;
    }
    return { active: true, verdicts, allowed, tainted: flow.provenance?.tainted ?? false };
  }

  private check(call: ToolCall, index: number, roles: readonly string[], flow: { provenance: ConversationProvenance | undefined; messages: readonly ConversationMessage[] }): ToolCallVerdict {
    const name = typeof call.name === "string" ? call.name : "";
    const tool = this.tools.get(name);
    if (!tool) return verdict(index, call, "deny", "unknown_tool", `The model proposed a call to ${name ? shown(name) : "a tool without a name"}, which the policy does not declare.`);
    if (!this.granted(roles, name)) return verdict(index, call, "deny", "not_granted", `The caller's role${roles.length === 1 ? "" : "s"} (${roles.join(", ") || "none"}) may not call ${shown(name)}.`, tool.effect);

    let args: unknown;
    if (typeof call.arguments === "string") {
      if (call.arguments.length > this.options.maxArgumentChars) {
        return verdict(index, call, "deny", "oversize_arguments", `The arguments of ${shown(name)} are ${call.arguments.length} characters long; the policy allows ${this.options.maxArgumentChars}.`, tool.effect);
      }
      try {
        args = call.arguments.trim() === "" ? {} : JSON.parse(call.arguments);
      } catch (error) {
        return verdict(index, call, "deny", "invalid_arguments", `The arguments of ${shown(name)} are not valid JSON (${(error as Error).message.slice(0, 120)}).`, tool.effect);
      }
    } else {
      args = call.arguments;
    }
    if (args === null || typeof args !== "object" || Array.isArray(args)) {
      return verdict(index, call, "deny", "invalid_arguments", `The arguments of ${shown(name)} must be a JSON object, found ${args === null ? "null" : Array.isArray(args) ? "an array" : typeof args}.`, tool.effect);
    }
    if (tool.validate && !tool.validate(args)) {
      const error = tool.validate.errors?.[0];
      const where = error?.instancePath ? `argument ${error.instancePath.slice(1).replace(/\//g, ".")}` : "the arguments";
      return verdict(index, call, "deny", "schema_violation", `The call to ${shown(name)} was refused: ${where} ${error?.message ?? "do not match the tool's schema"}.`, tool.effect);
    }
    for (const rule of tool.rules) {
      const problem = checkRule(rule, args);
      if (problem) return verdict(index, call, "deny", "constraint_violation", `The call to ${shown(name)} was refused: ${problem}.`, tool.effect);
    }

    if (this.provenanceEffects.has(tool.effect)) {
      const conversation = (flow.provenance ??= analyzeConversation(flow.messages));
      if (conversation.tainted) {
        const untrusted = untrustedValues(args, tool.trustedPaths, conversation);
        if (untrusted.length > 0) {
          const message = `The call to ${shown(name)} (${tool.effect}) uses ${untrusted.length === 1 ? "a value" : "values"} (${untrusted.slice(0, 3).join(", ")}) that did not come from the user or the application, after untrusted content (a tool result or document) entered the conversation.`;
          if (this.options.provenance.action === "approval") return this.holdOrDeny(index, call, tool, `${message} It needs a person's approval.`, untrusted);
          return verdict(index, call, "deny", "untrusted_arguments", message, tool.effect, untrusted);
        }
      }
    }
    if (tool.needsApproval) return this.holdOrDeny(index, call, tool, `The call to ${shown(name)} (${tool.effect}) needs a person's approval.`);
    return verdict(index, call, "allow", undefined, "Allowed.", tool.effect);
  }

  private holdOrDeny(index: number, call: ToolCall, tool: CompiledTool, message: string, untrusted?: string[]): ToolCallVerdict {
    if (!this.options.approval.enabled) return verdict(index, call, "deny", "approval_unavailable", `${message} Approval is not enabled, so it was refused.`, tool.effect, untrusted);
    return verdict(index, call, "approval", untrusted ? "untrusted_arguments" : "approval_required", message, tool.effect, untrusted);
  }
}

function shown(name: string): string {
  return JSON.stringify(name.slice(0, 64));
}

function verdict(index: number, call: ToolCall, outcome: ToolCallOutcome, reason: ToolCallReason | undefined, message: string, effect?: ToolEffect, untrusted?: string[]): ToolCallVerdict {
  const result: { -readonly [K in keyof ToolCallVerdict]: ToolCallVerdict[K] } = { index, name: typeof call.name === "string" ? call.name : "", outcome, message };
  if (call.id) result.id = call.id;
  if (reason) result.reason = reason;
  if (effect) result.effect = effect;
  if (untrusted) result.untrustedArguments = untrusted;
  return result;
}

/** Argument locations (dotted) whose string or number values are not trusted. Booleans and null carry no address or text. */
function untrustedValues(args: unknown, paths: ReadonlyArray<readonly string[]> | undefined, conversation: ConversationProvenance): string[] {
  const roots = paths ? paths.flatMap((path) => valuesAt(args, path)) : [{ where: "", value: args }];
  const found: string[] = [];
  const stack = [...roots];
  let visited = 0;
  while (stack.length > 0) {
    const { where, value } = stack.pop()!;
    if (++visited > 10_000) {
      found.push(`${where || "arguments"} (too many values to trace)`);
      break;
    }
    if (typeof value === "string") {
      if (!conversation.isTrusted(value)) found.push(where || "(value)");
    } else if (typeof value === "number") {
      if (!conversation.isTrusted(String(value))) found.push(where || "(value)");
    } else if (Array.isArray(value)) {
      value.forEach((item, index) => stack.push({ where: `${where}[${index}]`, value: item }));
    } else if (value && typeof value === "object") {
      for (const [key, item] of Object.entries(value)) stack.push({ where: where ? `${where}.${key}` : key, value: item });
    }
  }
  return found.reverse();
}

const compiled = new WeakMap<object, AccessControl>();

/** The access control for a policy, compiled once and cached per policy object. */
export function createAccessControl(policy: Policy | AccessOptions): AccessControl {
  const key = "access" in policy && "layers" in policy ? policy.access : policy;
  let control = compiled.get(key);
  if (!control) {
    control = new AccessControl(policy);
    compiled.set(key, control);
  }
  return control;
}

/** Checks calls against a policy: `authorizeToolCalls(policy, { roles, messages, calls })`. */
export function authorizeToolCalls(policy: Policy | AccessOptions | AccessControl, request: AuthorizationRequest): AuthorizationResult {
  return (policy instanceof AccessControl ? policy : createAccessControl(policy)).authorize(request);
}

export const EFFECT_RANK: Readonly<Record<ToolEffect, number>> = Object.fromEntries(TOOL_EFFECTS.map((effect, index) => [effect, index])) as Record<ToolEffect, number>;
