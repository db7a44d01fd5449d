/**
 * Executing one attempt: the conversation with the target, with the mock-tool
 * agent loop, crescendo escalation (with backtracking on refusal), retries on
 * transient failures, the rate limit and a timeout per request.
 */
import { AgentEnvironment, TOOL_SPECS } from "./environment.js";
import { containsMarker, isRefusal } from "./judges/deterministic.js";
import type { TranscriptEntry } from "./results.js";
import type { Attempt } from "./strategies.js";
import type { ChatMessage, Target, TargetReply, TargetRequest } from "./targets/types.js";

export interface ExecuteOptions {
  readonly timeoutMs: number;
  readonly retries: number;
  /** Tool-call rounds before the scanner stops an agent (a loop is a finding for consumption cases). */
  readonly maxSteps: number;
  readonly limiter?: RateLimiter;
  readonly signal?: AbortSignal;
}

export interface AttemptRun {
  readonly replies: TargetReply[];
  readonly transcript: TranscriptEntry[];
  readonly environment?: AgentEnvironment;
  readonly steps: number;
  readonly stepsExhausted: boolean;
  readonly inputChars: number;
  readonly latencyMs: number;
}

/** A token bucket: at most `perSecond` requests a second to one target, shared by all workers in a process. */
export class RateLimiter {
  private next = 0;
  constructor(private readonly perSecond: number) {}
  async take(signal?: AbortSignal): Promise<void> {
    if (!(this.perSecond > 0)) return;
    const now = performance.now();
    const slot = Math.max(now, this.next);
    this.next = slot + 1000 / this.perSecond;
    const wait = slot - now;
    if (wait > 0) await sleep(wait, signal);
  }
}

const TRANSCRIPT_CHARS = 2000;

function clip(text: string): string {
  if (text.length <= TRANSCRIPT_CHARS) return text;
  const half = TRANSCRIPT_CHARS / 2;
  return `${text.slice(0, half)}\n[… ${(text.length - TRANSCRIPT_CHARS).toLocaleString("en-US")} characters left out …]\n${text.slice(-half)}`;
}

function transcriptOf(message: ChatMessage, status?: number): TranscriptEntry {
  return {
    role: message.role,
    content: clip(message.content),
    ...(message.name ? { name: message.name } : {}),
    ...(message.toolCalls && message.toolCalls.length > 0 ? { toolCalls: message.toolCalls.map((c) => ({ name: c.name, arguments: clip(c.arguments) })) } : {}),
    ...(status !== undefined ? { status } : {}),
  };
}

function replyMessage(reply: TargetReply): ChatMessage {
  const content = reply.text !== "" ? reply.text : reply.error ? `[${reply.error.kind}: ${reply.error.message}]` : reply.status >= 400 ? (reply.body ?? `[status ${reply.status}]`) : "";
  return { role: "assistant", content, ...(reply.toolCalls.length > 0 ? { toolCalls: reply.toolCalls } : {}) };
}

async function sendWithRetries(target: Target, request: TargetRequest, options: ExecuteOptions): Promise<TargetReply> {
  let reply: TargetReply | undefined;
  for (let attempt = 0; attempt <= options.retries; attempt++) {
    if (attempt > 0) await sleep(Math.min(2000, 100 * 2 ** (attempt - 1)), options.signal);
    await options.limiter?.take(options.signal);
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    reply = await withDeadline(target.send(request, signal), options.timeoutMs, signal);
    const transient = reply.error?.kind === "network" || reply.error?.kind === "timeout" || reply.status === 429 || reply.status === 502 || reply.status === 503;
    if (!transient || options.signal?.aborted) break;
  }
  return reply!;
}

/** A target that ignores its abort signal still cannot hold the scan: the reply becomes a timeout. */
function withDeadline(promise: Promise<TargetReply>, timeoutMs: number, signal: AbortSignal): Promise<TargetReply> {
  const started = performance.now();
  return new Promise((resolve) => {
    const onAbort = (): void => resolve({ status: 0, text: "", toolCalls: [], latencyMs: performance.now() - started, error: { kind: "timeout", message: `no answer within ${timeoutMs} ms` } });
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (reply) => {
        signal.removeEventListener("abort", onAbort);
        resolve(reply);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        resolve({ status: 500, text: "", toolCalls: [], latencyMs: performance.now() - started, error: { kind: "exception", message: String(error) } });
      },
    );
  });
}

export async function executeAttempt(target: Target, attempt: Attempt, options: ExecuteOptions): Promise<AttemptRun> {
  const started = performance.now();
  const replies: TargetReply[] = [];
  const transcript: TranscriptEntry[] = [];
  const useTools = target.capabilities.tools;
  const environment = useTools ? new AgentEnvironment(attempt.environment) : undefined;
  let steps = 0;
  let stepsExhausted = false;
  const inputChars = attempt.turns.reduce((sum, turn) => sum + turn.length, 0) + (attempt.raw?.bytes.length ?? 0);

  if (attempt.raw) {
    const reply = await sendWithRetries(target, { messages: [], raw: attempt.raw }, options);
    replies.push(reply);
    transcript.push({ role: "user", content: clip(`[raw ${attempt.raw.contentType} body, ${attempt.raw.bytes.length} bytes] ${Buffer.from(attempt.raw.bytes.subarray(0, 400)).toString("utf8")}`) });
    transcript.push(transcriptOf(replyMessage(reply), reply.status));
    return { replies, transcript, steps, stepsExhausted, inputChars, latencyMs: performance.now() - started };
  }

  const messages: ChatMessage[] = [];
  /** One user turn, then the agent loop until the target answers without tool calls. Returns the final reply of the turn. */
  const turn = async (text: string): Promise<TargetReply> => {
    messages.push({ role: "user", content: text });
    transcript.push(transcriptOf({ role: "user", content: text }));
    for (;;) {
      const reply = await sendWithRetries(target, { messages: [...messages], ...(useTools ? { tools: TOOL_SPECS } : {}) }, options);
      replies.push(reply);
      const message = replyMessage(reply);
      messages.push(message);
      transcript.push(transcriptOf(message, reply.status));
      if (reply.error || reply.status >= 400 || reply.toolCalls.length === 0 || !environment) return reply;
      if (steps >= options.maxSteps) {
        stepsExhausted = true;
        return reply;
      }
      steps++;
      for (const call of reply.toolCalls) {
        const result = environment.execute(call);
        const toolMessage: ChatMessage = { role: "tool", content: result, toolCallId: call.id, name: call.name };
        messages.push(toolMessage);
        transcript.push(transcriptOf(toolMessage));
      }
    }
  };

  if (attempt.strategy === "crescendo") {
    for (const [index, text] of attempt.turns.entries()) {
      const before = messages.length;
      let reply = await turn(text);
      const fallback = attempt.fallbacks?.[index];
      if (isRefusal(reply) && !reply.error && fallback) {
        // Backtrack: forget the refused exchange and try the softer turn once.
        messages.length = before;
        transcript.push({ role: "user", content: "[scanner: turn refused; backtracking to a softer phrasing]" });
        reply = await turn(fallback);
      }
      if (reply.error || reply.status >= 500) break;
      if (containsMarker(reply.text, attempt.marker) && !isRefusal(reply)) break;
    }
  } else {
    for (const text of attempt.turns) {
      const reply = await turn(text);
      if (reply.error || reply.status >= 500) break;
    }
  }
  return { replies, transcript, ...(environment ? { environment } : {}), steps, stepsExhausted, inputChars, latencyMs: performance.now() - started };
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
