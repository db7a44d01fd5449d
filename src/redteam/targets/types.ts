/**
 * What the scanner talks to. A target takes a conversation (and, for agents,
 * tool definitions) and returns the reply: text, tool calls, and the
 * transport facts the failure-response judge looks at (status, raw body,
 * timing). Targets never throw for a bad answer: errors are replies too.
 */
import type { TargetCapabilities } from "../strategies.js";

export interface ToolCall {
  readonly id: string;
  readonly name: string;
  /** JSON text of the arguments, as the model wrote it (it may be invalid). */
  readonly arguments: string;
}

export interface ChatMessage {
  readonly role: "system" | "user" | "assistant" | "tool";
  readonly content: string;
  readonly toolCalls?: readonly ToolCall[];
  readonly toolCallId?: string;
  readonly name?: string;
}

/** An OpenAI-style function tool definition. */
export interface ToolSpec {
  readonly name: string;
  readonly description: string;
  readonly parameters: Record<string, unknown>;
}

export interface TargetRequest {
  readonly messages: readonly ChatMessage[];
  readonly tools?: readonly ToolSpec[];
  /** A raw request body (malformed-input cases); targets without raw support never get one. */
  readonly raw?: { readonly bytes: Uint8Array; readonly contentType: string };
}

export type TransportError = "timeout" | "network" | "exception" | "no-recording";

export interface TargetReply {
  /** HTTP status, or 200 for an in-process answer and 500 for an in-process exception. */
  readonly status: number;
  /** The assistant's text ("" when it only called tools or failed). */
  readonly text: string;
  readonly toolCalls: readonly ToolCall[];
  /** The body as received, for failure-response checks (error bodies, stack traces). */
  readonly body?: string;
  readonly contentType?: string;
  readonly latencyMs: number;
  readonly error?: { readonly kind: TransportError; readonly message: string };
}

export interface Target {
  /** How the manifest and reports name it; never carries credentials. */
  readonly name: string;
  readonly capabilities: TargetCapabilities;
  /** Canary values planted in the target (system prompt, secrets, tool data); any of them in a reply is a leak. */
  readonly canaries: readonly string[];
  /** The target's system prompt when the scanner knows it, to detect it reappearing in output. */
  readonly systemPrompt?: string;
  /** sha256 of the guard policy in front of the target, when there is one. */
  readonly policyHash?: string;
  send(request: TargetRequest, signal: AbortSignal): Promise<TargetReply>;
  close?(): Promise<void>;
}
