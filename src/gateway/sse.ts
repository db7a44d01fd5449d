/**
 * Streamed completions (server-sent events): parse the upstream's events, pass
 * every text delta through an output stream guard per choice and field, hold
 * tool calls until they are complete and check them whole, and write
 * OpenAI-shaped chunks to the client. Nothing reaches the client unchecked:
 * text fields go through the guard; `logprobs` (which repeat the text token by
 * token) and structured delta fields the gateway cannot check are not forwarded.
 *
 * A block, an upstream error or a stream that breaks off ends the response with
 * an OpenAI-style error event (`data: {"error": {...}}`), which the openai SDKs
 * raise as an APIError; held-back text is never released on those paths.
 */
import type { Decision } from "../guard/types.js";
import type { OpenAIErrorBody } from "./errors.js";
import type { StreamToolReviewer } from "./agency.js";
import { StreamBlockedError, type OutputStreamGuard } from "./stream-guard.js";

/** Longest single event accepted from the upstream (a larger one is treated as a broken stream). */
const MAX_EVENT_CHARS = 8 * 1024 * 1024;

export interface SseEvent {
  readonly event?: string;
  readonly data: string;
}

/** Incremental SSE parser (the WHATWG event-stream format: data/event fields, blank line ends an event). */
export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private event: string | undefined;
  private size = 0;

  feed(text: string): SseEvent[] {
    this.buffer += text;
    const events: SseEvent[] = [];
    let start = 0;
    const lineBreak = /\r\n|\r|\n/g;
    for (;;) {
      lineBreak.lastIndex = start;
      const match = lineBreak.exec(this.buffer);
      if (!match) break;
      const lineEnd = match.index;
      // A \r at the very end might be the first half of \r\n: wait for more.
      if (match[0] === "\r" && lineEnd + 1 === this.buffer.length) break;
      const line = this.buffer.slice(start, lineEnd);
      start = lineEnd + match[0].length;
      if (line === "") {
        if (this.data.length > 0) events.push({ ...(this.event ? { event: this.event } : {}), data: this.data.join("\n") });
        this.data = [];
        this.event = undefined;
        this.size = 0;
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "data") {
        this.size += value.length;
        this.data.push(value);
      } else if (field === "event") this.event = value;
    }
    this.buffer = this.buffer.slice(start);
    if (this.buffer.length + this.size > MAX_EVENT_CHARS) throw new Error("upstream sent an event larger than the gateway accepts");
    return events;
  }
}

export type StreamOutcome = "completed" | "blocked" | "upstream_error" | "client_closed";

export interface RelayResult {
  readonly outcome: StreamOutcome;
  /** Decisions worth recording: every non-allow decision and the last decision of each channel and tool call. */
  readonly decisions: ReadonlyArray<{ decision: Decision; location: string }>;
  /** For blocked and upstream_error outcomes: the error event sent to the client. */
  readonly error?: OpenAIErrorBody;
  readonly blockedBy?: Decision;
}

export interface RelayOptions {
  readonly source: AsyncIterable<Uint8Array>;
  /** A fresh guard for one text channel. */
  readonly channelGuard: () => OutputStreamGuard;
  /** Checks one complete text (tool-call arguments). */
  readonly checkWhole: (text: string) => Promise<Decision>;
  /** Writes to the client; resolves when the client can take more. */
  readonly write: (data: string) => Promise<void>;
  readonly clientGone: () => boolean;
  readonly upstreamError: (error: unknown) => OpenAIErrorBody;
  readonly blockedError: (decision: Decision, location: string) => OpenAIErrorBody;
  /** Reviews a choice's assembled tool calls before they are sent (tool authorisation); none: sent as checked. */
  readonly reviewToolCalls?: StreamToolReviewer;
}

/** The tool-call reviewer refused the response (policy onDeny: block). */
class ToolCallsRefused extends Error {
  constructor(readonly body: OpenAIErrorBody) {
    super(body.error.message);
  }
}

interface ToolCallState {
  id?: string;
  type?: string;
  name: string;
  arguments: string;
}

interface ChoiceState {
  readonly index: number;
  roleSent: boolean;
  readonly channels: Map<string, OutputStreamGuard>;
  readonly toolCalls: Map<number, ToolCallState>;
  legacyFunctionCall?: { name: string; arguments: string };
  finishReason?: string;
}

type Json = Record<string, unknown>;

export async function relayStream(options: RelayOptions): Promise<RelayResult> {
  const choices = new Map<number, ChoiceState>();
  const recorded: Array<{ decision: Decision; location: string }> = [];
  let envelope: Json = {};
  let usage: unknown;
  let sawDone = false;
  const parser = new SseParser();
  const decoder = new TextDecoder("utf-8");

  const emit = (chunk: Json): Promise<void> => options.write(`data: ${JSON.stringify(chunk)}\n\n`);
  const emitDelta = (index: number, delta: Json, finishReason: string | null = null): Promise<void> =>
    emit({ ...envelope, choices: [{ index, delta, finish_reason: finishReason }] });
  const choice = (index: number): ChoiceState => {
    let state = choices.get(index);
    if (!state) {
      state = { index, roleSent: false, channels: new Map(), toolCalls: new Map() };
      choices.set(index, state);
    }
    return state;
  };
  const channel = (state: ChoiceState, field: string): OutputStreamGuard => {
    let guard = state.channels.get(field);
    if (!guard) {
      guard = options.channelGuard();
      state.channels.set(field, guard);
    }
    return guard;
  };
  const collect = (): void => {
    for (const state of choices.values()) {
      for (const [field, guard] of state.channels) {
        const location = `choices[${state.index}].delta.${field}`;
        for (const decision of guard.notable) recorded.push({ decision, location });
        if (guard.lastDecision && !guard.notable.includes(guard.lastDecision)) recorded.push({ decision: guard.lastDecision, location });
      }
    }
  };
  const fail = async (error: OpenAIErrorBody, outcome: StreamOutcome, blockedBy?: Decision): Promise<RelayResult> => {
    collect();
    if (!options.clientGone()) await options.write(`data: ${JSON.stringify(error)}\n\n`).catch(() => undefined);
    return { outcome, decisions: recorded, error, ...(blockedBy ? { blockedBy } : {}) };
  };

  const handleChunk = async (chunk: Json): Promise<void> => {
    const { choices: chunkChoices, usage: chunkUsage, ...rest } = chunk;
    envelope = rest;
    if (chunkUsage !== undefined && chunkUsage !== null) usage = chunkUsage;
    if (!Array.isArray(chunkChoices)) return;
    for (const raw of chunkChoices as unknown[]) {
      if (!raw || typeof raw !== "object") continue;
      const entry = raw as Json;
      const state = choice(typeof entry.index === "number" && Number.isInteger(entry.index) && entry.index >= 0 && entry.index < 128 ? entry.index : 0);
      const delta = entry.delta && typeof entry.delta === "object" ? (entry.delta as Json) : {};
      const out: Json = {};
      for (const [key, value] of Object.entries(delta)) {
        if (key === "role") {
          if (!state.roleSent && typeof value === "string") {
            out.role = value;
            state.roleSent = true;
          }
        } else if (key === "tool_calls" && Array.isArray(value)) {
          for (const call of value as unknown[]) accumulateToolCall(state, call);
        } else if (key === "function_call" && value && typeof value === "object") {
          const fn = value as { name?: unknown; arguments?: unknown };
          state.legacyFunctionCall ??= { name: "", arguments: "" };
          if (typeof fn.name === "string") state.legacyFunctionCall.name += fn.name;
          if (typeof fn.arguments === "string") state.legacyFunctionCall.arguments += fn.arguments;
        } else if (typeof value === "string") {
          try {
            const released = await channel(state, key).push(value);
            if (released) out[key] = released;
          } catch (error) {
            if (error instanceof StreamBlockedError) throw Object.assign(error, { location: `choices[${state.index}].delta.${key}` });
            throw error;
          }
        }
      }
      if (typeof entry.finish_reason === "string") state.finishReason = entry.finish_reason;
      if (Object.keys(out).length > 0) await emitDelta(state.index, out);
    }
  };

  const finish = async (): Promise<void> => {
    for (const state of choices.values()) {
      for (const [field, guard] of state.channels) {
        try {
          const rest = await guard.end();
          if (rest) await emitDelta(state.index, { [field]: rest });
        } catch (error) {
          if (error instanceof StreamBlockedError) throw Object.assign(error, { location: `choices[${state.index}].delta.${field}` });
          throw error;
        }
      }
      const calls: Json[] = [];
      for (const [toolIndex, call] of [...state.toolCalls.entries()].sort((a, b) => a[0] - b[0])) {
        const location = `choices[${state.index}].delta.tool_calls[${toolIndex}].function.arguments`;
        const args = await checkedText(call.arguments, location);
        calls.push({ index: toolIndex, ...(call.id ? { id: call.id } : {}), type: call.type ?? "function", function: { name: call.name, arguments: args } });
      }
      let legacy: Json | undefined;
      if (state.legacyFunctionCall) {
        const args = await checkedText(state.legacyFunctionCall.arguments, `choices[${state.index}].delta.function_call.arguments`);
        legacy = { name: state.legacyFunctionCall.name, arguments: args };
      }
      // Tool authorisation (gateway/agency.ts) sees every assembled call before any of it is sent.
      const review = options.reviewToolCalls && (calls.length > 0 || legacy) ? await options.reviewToolCalls(state.index, { tool_calls: calls, ...(legacy ? { function_call: legacy } : {}) }, state.finishReason ?? "stop") : undefined;
      if (review?.error) throw new ToolCallsRefused(review.error);
      if (review?.note) await emitDelta(state.index, { content: review.note });
      const sendCalls = review ? review.toolCalls : calls;
      const sendLegacy = review ? review.functionCall : legacy;
      if (sendCalls.length > 0) await emitDelta(state.index, { tool_calls: sendCalls });
      if (sendLegacy) await emitDelta(state.index, { function_call: sendLegacy });
      if (review?.report) await emit({ ...envelope, choices: [{ index: state.index, delta: {}, finish_reason: review.finishReason }], bulwark: review.report });
      else await emitDelta(state.index, {}, review?.finishReason ?? state.finishReason ?? "stop");
    }
    if (usage !== undefined) await emit({ ...envelope, choices: [], usage });
    await options.write("data: [DONE]\n\n");
  };

  const checkedText = async (text: string, location: string): Promise<string> => {
    const decision = await options.checkWhole(text);
    recorded.push({ decision, location });
    if (decision.action === "block") throw Object.assign(new StreamBlockedError(decision, "tool call blocked"), { location });
    return decision.text;
  };

  try {
    outer: for await (const bytes of options.source) {
      if (options.clientGone()) break;
      for (const event of parser.feed(decoder.decode(bytes, { stream: true }))) {
        if (event.data === "[DONE]") {
          sawDone = true;
          break outer;
        }
        let chunk: unknown;
        try {
          chunk = JSON.parse(event.data);
        } catch {
          return await fail(options.upstreamError(new Error("upstream sent an event that is not JSON")), "upstream_error");
        }
        if (!chunk || typeof chunk !== "object" || Array.isArray(chunk)) continue;
        if ("error" in chunk && (chunk as Json).error) return await fail(options.upstreamError(chunk), "upstream_error");
        await handleChunk(chunk as Json);
      }
    }
    if (options.clientGone()) {
      collect();
      return { outcome: "client_closed", decisions: recorded };
    }
    const finished = [...choices.values()].length > 0 && [...choices.values()].every((state) => state.finishReason !== undefined);
    if (!sawDone && !finished) return await fail(options.upstreamError(new Error("the upstream stream ended before the response was complete")), "upstream_error");
    await finish();
    collect();
    return { outcome: "completed", decisions: recorded };
  } catch (error) {
    if (error instanceof ToolCallsRefused) return await fail(error.body, "blocked");
    if (error instanceof StreamBlockedError) {
      const location = (error as StreamBlockedError & { location?: string }).location ?? "choices[0].delta.content";
      return await fail(options.blockedError(error.decision, location), "blocked", error.decision);
    }
    if (options.clientGone()) {
      collect();
      return { outcome: "client_closed", decisions: recorded };
    }
    return await fail(options.upstreamError(error), "upstream_error");
  }
}

function accumulateToolCall(state: ChoiceState, raw: unknown): void {
  if (!raw || typeof raw !== "object") return;
  const call = raw as { index?: unknown; id?: unknown; type?: unknown; function?: { name?: unknown; arguments?: unknown } };
  const index = typeof call.index === "number" && Number.isInteger(call.index) && call.index >= 0 && call.index < 1024 ? call.index : state.toolCalls.size;
  let entry = state.toolCalls.get(index);
  if (!entry) {
    entry = { name: "", arguments: "" };
    state.toolCalls.set(index, entry);
  }
  if (typeof call.id === "string") entry.id = call.id;
  if (typeof call.type === "string") entry.type = call.type;
  if (typeof call.function?.name === "string") entry.name += call.function.name;
  if (typeof call.function?.arguments === "string") entry.arguments += call.function.arguments;
  if (entry.arguments.length > MAX_EVENT_CHARS) throw new Error("upstream sent tool-call arguments larger than the gateway accepts");
}
