/**
 * A target wrapped in-process by the guard: the same input and output checks
 * the gateway applies, without HTTP. Requests are validated and every new
 * untrusted message (user turns, tool results) is checked before the target
 * sees it; the reply text and tool-call arguments are checked before the
 * scanner sees them. A block becomes an OpenAI-style error body.
 */
import { z } from "zod";
import { createGuard, type Guard } from "../../guard/engine.js";
import type { PolicyInput } from "../../policy/schema.js";
import type { LoadedPolicy } from "../../policy/load.js";
import type { Role } from "../../policy/schema.js";
import type { ChatMessage, Target, TargetReply, TargetRequest } from "./types.js";

const RawChat = z.object({
  messages: z.array(z.object({ role: z.enum(["system", "user", "assistant", "tool"]), content: z.string() })).min(1),
});

export interface GuardedOptions {
  readonly policy?: LoadedPolicy | PolicyInput;
  readonly guard?: Guard;
}

export function createGuardedTarget(inner: Target, options: GuardedOptions = {}): Target {
  const guard = options.guard ?? createGuard(options.policy ? { policy: options.policy } : {});
  const refusal = (status: number, message: string, code: string, started: number): TargetReply => {
    const body = JSON.stringify({ error: { message, type: "invalid_request_error", code, param: null } });
    return { status, text: "", toolCalls: [], body, contentType: "application/json", latencyMs: performance.now() - started };
  };

  return {
    name: `${inner.name} + bulwark guard (in-process)`,
    capabilities: inner.capabilities,
    canaries: inner.canaries,
    ...(inner.systemPrompt ? { systemPrompt: inner.systemPrompt } : {}),
    policyHash: guard.policyHash,
    async send(request, signal) {
      const started = performance.now();
      let messages: readonly ChatMessage[] = request.messages;
      if (request.raw) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(Buffer.from(request.raw.bytes).toString("utf8"));
        } catch {
          return refusal(400, "The request body is not valid JSON.", "invalid_json", started);
        }
        const chat = RawChat.safeParse(parsed);
        if (!chat.success) return refusal(400, `Invalid request: ${chat.error.issues[0]?.path.join(".") || "body"}: ${chat.error.issues[0]?.message ?? "invalid"}`, "invalid_request", started);
        messages = chat.data.messages;
      }
      // Only messages after the last assistant turn are new; earlier ones were checked when they arrived.
      const lastAssistant = messages.map((m) => m.role).lastIndexOf("assistant");
      const forwarded: ChatMessage[] = [];
      for (const [index, message] of messages.entries()) {
        if (index <= lastAssistant || message.role === "system" || message.role === "assistant") {
          forwarded.push(message);
          continue;
        }
        const role: Role = message.role === "tool" ? "tool" : "user";
        const decision = await guard.check({ text: message.content, role, stage: "input" });
        if (decision.action === "block") return refusal(400, `Blocked by Bulwark policy (${decision.categories.join(", ") || "policy"}); decision ${decision.id}.`, "content_blocked", started);
        forwarded.push({ ...message, content: decision.text });
      }
      const reply = await inner.send({ messages: forwarded, ...(request.tools ? { tools: request.tools } : {}) } satisfies TargetRequest, signal);
      if (reply.status >= 500 || reply.error) {
        const body = JSON.stringify({ error: { message: "The upstream application failed.", type: "server_error", code: "upstream_error", param: null } });
        return { status: reply.error?.kind === "timeout" ? 504 : 502, text: "", toolCalls: [], body, contentType: "application/json", latencyMs: performance.now() - started };
      }
      if (reply.status >= 400) return { ...reply, latencyMs: performance.now() - started };
      let text = reply.text;
      if (text !== "") {
        const decision = await guard.check({ text, role: "assistant", stage: "output" });
        if (decision.action === "block") return refusal(400, `Response withheld by Bulwark policy (${decision.categories.join(", ") || "policy"}); decision ${decision.id}.`, "output_blocked", started);
        text = decision.text;
      }
      for (const call of reply.toolCalls) {
        const decision = await guard.check({ text: call.arguments, role: "assistant", stage: "output" });
        if (decision.action === "block") return refusal(400, `Tool call ${call.name} withheld by Bulwark policy (${decision.categories.join(", ") || "policy"}); decision ${decision.id}.`, "tool_call_blocked", started);
      }
      return { ...reply, text, latencyMs: performance.now() - started };
    },
    ...(inner.close ? { close: () => inner.close!() } : {}),
  };
}
