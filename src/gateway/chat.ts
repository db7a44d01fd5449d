/**
 * Chat completions: the request's shape, which texts in it the guard reads (and
 * in which role), how a conversation's decisions become one request decision,
 * and the same for a non-streamed response.
 *
 * Aggregation: every guarded text gets its own decision; the request's action is
 * the most severe of them (block > redact > flag > allow), and the decision that
 * set it (the first, on a tie) is the one named in x-bulwark-decision-id.
 */
import { z } from "zod";
import type { Guard } from "../guard/engine.js";
import type { Action, Decision, Role } from "../guard/types.js";
import { badRequest } from "./errors.js";

/** Labels an application may put on a message or content part to say it carries untrusted content. */
const TRUST_LABELS = ["document", "tool", "user"] as const;
const LABEL_FIELD = "bulwark_role";

const ContentPart = z.looseObject({
  type: z.string().max(64),
  text: z.string().optional(),
  [LABEL_FIELD]: z.enum(TRUST_LABELS).optional(),
});

const Message = z.looseObject({
  role: z.enum(["system", "developer", "user", "assistant", "tool", "function"]),
  content: z.union([z.string(), z.array(ContentPart), z.null()]).optional(),
  [LABEL_FIELD]: z.enum(TRUST_LABELS).optional(),
});

export const ChatRequestSchema = z.looseObject({
  model: z.string().min(1).max(256),
  messages: z.array(Message).min(1),
  stream: z.boolean().nullish(),
  max_tokens: z.number().int().positive().nullish(),
  max_completion_tokens: z.number().int().positive().nullish(),
  n: z.number().int().min(1).max(128).nullish(),
});

export type ChatRequest = z.infer<typeof ChatRequestSchema>;

export function parseChatRequest(body: unknown, maxMessages: number): ChatRequest {
  if (body === undefined) throw badRequest("invalid_json", "The request body is empty; expected a JSON object.");
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw badRequest("invalid_request", `The request body must be a JSON object, found ${Array.isArray(body) ? "an array" : body === null ? "null" : typeof body}.`);
  }
  const messages = (body as { messages?: unknown }).messages;
  if (Array.isArray(messages) && messages.length > maxMessages) throw badRequest("too_many_messages", `At most ${maxMessages} messages per request.`, "messages");
  const result = ChatRequestSchema.safeParse(body);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const param = formatPath(issue.path);
    const missing = issue.code === "invalid_type" && valueAt(body, issue.path) === undefined;
    throw badRequest(missing ? "missing_field" : "invalid_field", `${param || "body"} ${missing ? "is required" : `is invalid: ${issue.message}`}.`, param || null);
  }
  for (const [index, message] of result.data.messages.entries()) {
    if (Array.isArray(message.content)) {
      message.content.forEach((part, partIndex) => {
        if (part.type === "text" && typeof part.text !== "string") throw badRequest("invalid_field", `messages[${index}].content[${partIndex}].text must be a string.`, `messages[${index}].content[${partIndex}].text`);
      });
    }
  }
  return result.data;
}

/** A piece of text the guard reads, where it sits, and how to put the guard's version back. */
export interface GuardedText {
  readonly location: string;
  readonly role: Role;
  readonly text: string;
  replace(text: string): void;
}

/**
 * The texts of a request the input guard checks. System and developer messages
 * are the application's own instructions (trusted) unless labelled otherwise;
 * tool results are untrusted `tool` content; anything labelled
 * `bulwark_role: document` is checked as an untrusted document. Assistant turns
 * are checked too, because a client can forge them. The labels are removed
 * before the request goes upstream.
 */
export function requestTexts(request: ChatRequest): GuardedText[] {
  const texts: GuardedText[] = [];
  request.messages.forEach((message, index) => {
    const label = message[LABEL_FIELD];
    delete (message as Record<string, unknown>)[LABEL_FIELD];
    const base: Role | null = label ?? roleOf(message.role);
    if (typeof message.content === "string") {
      if (base) {
        texts.push({
          location: `messages[${index}].content`,
          role: base,
          text: message.content,
          replace: (text) => {
            message.content = text;
          },
        });
      }
    } else if (Array.isArray(message.content)) {
      message.content.forEach((part, partIndex) => {
        const partLabel = part[LABEL_FIELD];
        delete (part as Record<string, unknown>)[LABEL_FIELD];
        const role = partLabel ?? base;
        if (role && part.type === "text" && typeof part.text === "string") {
          texts.push({
            location: `messages[${index}].content[${partIndex}].text`,
            role,
            text: part.text,
            replace: (text) => {
              part.text = text;
            },
          });
        }
      });
    }
  });
  return texts;
}

function roleOf(role: ChatRequest["messages"][number]["role"]): Role | null {
  switch (role) {
    case "system":
    case "developer":
      return null;
    case "user":
      return "user";
    case "assistant":
      return "assistant";
    case "tool":
    case "function":
      return "tool";
  }
}

interface ResponseMessage {
  content?: unknown;
  tool_calls?: unknown;
  function_call?: unknown;
}

/** The texts of a non-streamed completion the output guard checks: message content and tool-call arguments. */
export function responseTexts(response: unknown): GuardedText[] {
  const texts: GuardedText[] = [];
  const choices = (response as { choices?: unknown } | null)?.choices;
  if (!Array.isArray(choices)) return texts;
  choices.forEach((choice: unknown, index) => {
    const message = (choice as { message?: ResponseMessage } | null)?.message;
    if (!message || typeof message !== "object") return;
    if (typeof message.content === "string") {
      texts.push({
        location: `choices[${index}].message.content`,
        role: "assistant",
        text: message.content,
        replace: (text) => {
          message.content = text;
        },
      });
    }
    if (Array.isArray(message.tool_calls)) {
      message.tool_calls.forEach((call: unknown, callIndex) => {
        const fn = (call as { function?: { arguments?: unknown } } | null)?.function;
        if (fn && typeof fn.arguments === "string") {
          texts.push({
            location: `choices[${index}].message.tool_calls[${callIndex}].function.arguments`,
            role: "assistant",
            text: fn.arguments,
            replace: (text) => {
              fn.arguments = text;
            },
          });
        }
      });
    }
    const legacy = message.function_call as { arguments?: unknown } | undefined;
    if (legacy && typeof legacy === "object" && typeof legacy.arguments === "string") {
      texts.push({
        location: `choices[${index}].message.function_call.arguments`,
        role: "assistant",
        text: legacy.arguments,
        replace: (text) => {
          legacy.arguments = text;
        },
      });
    }
  });
  return texts;
}

export interface CheckedText {
  readonly item: GuardedText;
  readonly decision: Decision;
}

export interface AggregateDecision {
  readonly action: Action;
  /** The decision that set the action (the first, on a tie); undefined when nothing was checked. */
  readonly decisive?: CheckedText;
  readonly checked: readonly CheckedText[];
}

const SEVERITY: Record<Action, number> = { allow: 0, flag: 1, redact: 2, block: 3 };

/** Checks every text concurrently and applies the guard's text (normalised, redacted) to each unless the result is a block. */
export async function guardTexts(guard: Guard, texts: readonly GuardedText[], stage: "input" | "output"): Promise<AggregateDecision> {
  const decisions = await Promise.all(texts.map((item) => guard.check({ text: item.text, role: item.role, stage })));
  const checked = texts.map((item, index) => ({ item, decision: decisions[index]! }));
  let decisive: CheckedText | undefined;
  for (const entry of checked) {
    if (!decisive || SEVERITY[entry.decision.action] > SEVERITY[decisive.decision.action]) decisive = entry;
  }
  const action = decisive?.decision.action ?? "allow";
  if (action !== "block") {
    for (const { item, decision } of checked) if (decision.text !== item.text) item.replace(decision.text);
  }
  return { action, ...(decisive ? { decisive } : {}), checked };
}

export function refusalMessage(stage: "input" | "output", decision: Decision): string {
  const what = decision.categories.length > 0 ? decision.categories.join(", ") : "policy";
  return stage === "input"
    ? `The request was blocked by the gateway's guardrails (${what}). Decision ${decision.id}.`
    : `The model's response was withheld by the gateway's guardrails (${what}). Decision ${decision.id}.`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === "number" ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), "");
}
