/**
 * Remote targets over HTTP (undici): any OpenAI-compatible chat endpoint (the
 * Bulwark gateway is one), and a generic JSON endpoint described by a request
 * template and a response path. Transport problems become replies, never throws.
 */
import { Agent, request as undiciRequest, type Dispatcher } from "undici";
import type { ChatMessage, Target, TargetReply, ToolCall } from "./types.js";

export interface HttpTargetCommon {
  readonly headers?: Record<string, string>;
  readonly canaries?: readonly string[];
  readonly systemPrompt?: string;
  /** Connections kept open to the target (defaults to 16). */
  readonly connections?: number;
}

export interface OpenAiTargetOptions extends HttpTargetCommon {
  /** Base URL including /v1, e.g. http://127.0.0.1:8787/v1 */
  readonly baseUrl: string;
  readonly model: string;
  readonly apiKey?: string;
  /** Send tool definitions and run the agent loop (the endpoint must support tool calls). */
  readonly tools?: boolean;
}

export interface GenericHttpTargetOptions extends HttpTargetCommon {
  readonly url: string;
  readonly method?: "POST" | "PUT";
  /** JSON body with placeholders: "{{prompt}}" (the last user message) and "{{messages}}" (the conversation as a JSON array). */
  readonly template: string;
  /** Where the reply text is in the response JSON: dot path with numeric indexes, e.g. `data.answer` or `choices.0.message.content`. */
  readonly responsePath: string;
}

const MAX_BODY = 8 * 1024 * 1024;

export function createOpenAiTarget(options: OpenAiTargetOptions): Target {
  const dispatcher = new Agent({ connections: options.connections ?? 16, keepAliveTimeout: 10_000 });
  const url = options.baseUrl.replace(/\/+$/, "") + "/chat/completions";
  return {
    name: `openai:${redact(options.baseUrl)} model=${options.model}`,
    capabilities: { tools: options.tools ?? false, raw: true },
    canaries: options.canaries ?? [],
    ...(options.systemPrompt ? { systemPrompt: options.systemPrompt } : {}),
    async send(request, signal) {
      const messages = options.systemPrompt ? [{ role: "system" as const, content: options.systemPrompt }, ...request.messages] : request.messages;
      const body = request.raw
        ? Buffer.from(request.raw.bytes)
        : JSON.stringify({
            model: options.model,
            messages: messages.map(toOpenAiMessage),
            ...(request.tools && request.tools.length > 0 ? { tools: request.tools.map((tool) => ({ type: "function", function: tool })) } : {}),
          });
      const headers = { "content-type": request.raw?.contentType ?? "application/json", ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}), ...options.headers };
      return post(dispatcher, url, "POST", headers, body, signal, (json) => {
        const message = (json as { choices?: Array<{ message?: { content?: unknown; tool_calls?: unknown } }> }).choices?.[0]?.message;
        if (!message) return null;
        return { text: typeof message.content === "string" ? message.content : "", toolCalls: parseToolCalls(message.tool_calls) };
      });
    },
    close: () => dispatcher.close(),
  };
}

export function createHttpTarget(options: GenericHttpTargetOptions): Target {
  const dispatcher = new Agent({ connections: options.connections ?? 16, keepAliveTimeout: 10_000 });
  if (!options.template.includes("{{prompt}}") && !options.template.includes("{{messages}}")) throw new Error("the request template needs {{prompt}} or {{messages}}");
  return {
    name: `http:${redact(options.url)}`,
    capabilities: { tools: false, raw: true },
    canaries: options.canaries ?? [],
    ...(options.systemPrompt ? { systemPrompt: options.systemPrompt } : {}),
    async send(request, signal) {
      const last = [...request.messages].reverse().find((m) => m.role === "user")?.content ?? "";
      const conversation = options.systemPrompt ? [{ role: "system", content: options.systemPrompt }, ...request.messages.map((m) => ({ role: m.role, content: m.content }))] : request.messages.map((m) => ({ role: m.role, content: m.content }));
      const body = request.raw
        ? Buffer.from(request.raw.bytes)
        : options.template.replace(/"\{\{prompt\}\}"|\{\{prompt\}\}/g, (m) => (m.startsWith('"') ? JSON.stringify(last) : JSON.stringify(last).slice(1, -1))).replace(/"?\{\{messages\}\}"?/g, JSON.stringify(conversation));
      const headers = { "content-type": request.raw?.contentType ?? "application/json", ...options.headers };
      return post(dispatcher, options.url, options.method ?? "POST", headers, body, signal, (json) => {
        const value = readPath(json, options.responsePath);
        return value === undefined ? null : { text: typeof value === "string" ? value : JSON.stringify(value), toolCalls: [] };
      });
    },
    close: () => dispatcher.close(),
  };
}

async function post(
  dispatcher: Dispatcher,
  url: string,
  method: "POST" | "PUT",
  headers: Record<string, string>,
  body: string | Buffer,
  signal: AbortSignal,
  extract: (json: unknown) => { text: string; toolCalls: ToolCall[] } | null,
): Promise<TargetReply> {
  const started = performance.now();
  try {
    const response = await undiciRequest(url, { method, headers, body, signal, dispatcher });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY) {
        response.body.destroy();
        break;
      }
      chunks.push(chunk as Buffer);
    }
    const text = Buffer.concat(chunks).toString("utf8");
    const contentType = String(response.headers["content-type"] ?? "");
    const latencyMs = performance.now() - started;
    let extracted: { text: string; toolCalls: ToolCall[] } | null = null;
    if (response.statusCode < 400) {
      try {
        extracted = extract(JSON.parse(text));
      } catch {
        extracted = null;
      }
    }
    return { status: response.statusCode, text: extracted?.text ?? "", toolCalls: extracted?.toolCalls ?? [], body: text, contentType, latencyMs };
  } catch (error) {
    const latencyMs = performance.now() - started;
    const err = error as Error & { code?: string };
    const timedOut = signal.aborted || err.name === "AbortError" || err.code === "UND_ERR_HEADERS_TIMEOUT" || err.code === "UND_ERR_BODY_TIMEOUT";
    return { status: 0, text: "", toolCalls: [], latencyMs, error: { kind: timedOut ? "timeout" : "network", message: err.code ? `${err.code}: ${err.message}` : err.message } };
  }
}

function toOpenAiMessage(message: ChatMessage): Record<string, unknown> {
  if (message.role === "tool") return { role: "tool", tool_call_id: message.toolCallId ?? "", content: message.content };
  if (message.role === "assistant" && message.toolCalls && message.toolCalls.length > 0) {
    return { role: "assistant", content: message.content || null, tool_calls: message.toolCalls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } })) };
  }
  return { role: message.role, content: message.content };
}

function parseToolCalls(value: unknown): ToolCall[] {
  if (!Array.isArray(value)) return [];
  const calls: ToolCall[] = [];
  for (const [index, item] of value.entries()) {
    const fn = (item as { function?: { name?: unknown; arguments?: unknown } }).function;
    if (!fn || typeof fn.name !== "string") continue;
    const id = (item as { id?: unknown }).id;
    calls.push({ id: typeof id === "string" ? id : `call_${index}`, name: fn.name, arguments: typeof fn.arguments === "string" ? fn.arguments : JSON.stringify(fn.arguments ?? {}) });
  }
  return calls;
}

/** Reads `a.b.0.c` (a leading `$.` is allowed) from parsed JSON. */
export function readPath(value: unknown, path: string): unknown {
  let current: unknown = value;
  for (const part of path.replace(/^\$\.?/, "").split(".").filter(Boolean)) {
    if (current === null || typeof current !== "object") return undefined;
    current = Array.isArray(current) ? current[Number(part)] : (current as Record<string, unknown>)[part];
  }
  return current;
}

/** Drops credentials and query strings from a URL before it goes into reports. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = "";
    parsed.password = "";
    parsed.search = "";
    return parsed.toString().replace(/\/$/, "");
  } catch {
    return "(invalid url)";
  }
}
