/** In-process targets: a library user's own function, and the demo application. */
import type { TargetCapabilities } from "../strategies.js";
import { createDemoApp, type DemoApp } from "./demo-app.js";
import type { Target, TargetReply, TargetRequest, ToolCall } from "./types.js";

export type TargetFunctionResult = string | { text?: string; toolCalls?: readonly ToolCall[] };
export type TargetFunction = (request: TargetRequest, signal: AbortSignal) => TargetFunctionResult | Promise<TargetFunctionResult>;

export interface FunctionTargetOptions {
  readonly name?: string;
  /** Values planted in the function's system prompt, secrets or tools. */
  readonly canaries?: readonly string[];
  readonly systemPrompt?: string;
  /** Whether the function accepts tool definitions and returns tool calls (agent cases). */
  readonly tools?: boolean;
  /** Handles raw request bodies (malformed-input cases) as the application's HTTP layer would. */
  readonly raw?: (bytes: Uint8Array, signal: AbortSignal) => TargetFunctionResult | Promise<TargetFunctionResult>;
}

/** Wraps a function; an exception becomes a 500 reply carrying the error, as an unhandled error would. */
export function createFunctionTarget(fn: TargetFunction, options: FunctionTargetOptions = {}): Target {
  const capabilities: TargetCapabilities = { tools: options.tools ?? false, raw: options.raw !== undefined };
  return {
    name: options.name ?? "function",
    capabilities,
    canaries: options.canaries ?? [],
    ...(options.systemPrompt ? { systemPrompt: options.systemPrompt } : {}),
    async send(request, signal) {
      const started = performance.now();
      try {
        const result = request.raw && options.raw ? await options.raw(request.raw.bytes, signal) : await fn(request, signal);
        const reply = typeof result === "string" ? { text: result, toolCalls: [] } : { text: result.text ?? "", toolCalls: result.toolCalls ?? [] };
        return { status: 200, text: reply.text, toolCalls: reply.toolCalls, latencyMs: performance.now() - started };
      } catch (error) {
        return exceptionReply(error, performance.now() - started);
      }
    },
  };
}

export function exceptionReply(error: unknown, latencyMs: number): TargetReply {
  const err = error instanceof Error ? error : new Error(String(error));
  const body = err.stack ?? `${err.name}: ${err.message}`;
  return { status: 500, text: "", toolCalls: [], body, latencyMs, error: { kind: "exception", message: `${err.name}: ${err.message.split("\n")[0]}` } };
}

/** The demo application as an in-process target (with tools and a naive HTTP layer). */
export function createDemoTarget(seed = 7): Target & { readonly app: DemoApp } {
  const app = createDemoApp(seed);
  const target = createFunctionTarget((request) => app.respond(request), {
    name: "demo (in-process simulated assistant)",
    canaries: app.canaries,
    systemPrompt: app.systemPrompt,
    tools: true,
    raw: (bytes) => app.respondRaw(bytes),
  });
  return { ...target, app };
}
