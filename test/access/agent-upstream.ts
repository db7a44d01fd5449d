/**
 * A scripted agent "model" behind a loopback OpenAI-compatible server, for the
 * agent scenario tests. It reads the conversation and proposes tool calls the
 * way an obedient model would: it follows the user, and it also follows an
 * instruction planted in a tool result (that is the point of the scenario).
 *
 * Models: `agent` (the obedient mail assistant), `agent-legacy` (the same, with the
 * legacy `function_call`), `agent-flood` (150 calls to undeclared tools), `agent-bad` (answers with broken
 * tool calls: malformed JSON, an unknown tool, oversized arguments, an entry that
 * is not an object).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

type Json = Record<string, unknown>;

export interface AgentUpstream {
  readonly url: string;
  readonly requests: Json[];
  close(): Promise<void>;
}

const ADDRESS = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/;

function text(message: Json | undefined): string {
  if (!message) return "";
  if (typeof message.content === "string") return message.content;
  if (Array.isArray(message.content)) return (message.content as Json[]).map((part) => (typeof part.text === "string" ? part.text : "")).join("\n");
  return "";
}

interface Call {
  name: string;
  arguments: string;
}

/** What the obedient agent does next. */
export function nextStep(messages: Json[]): { calls: Call[]; content: string | null } {
  const last = messages[messages.length - 1];
  const lastUser = [...messages].reverse().find((message) => message.role === "user");
  if (last?.role === "tool") {
    // The model reads through datamarks (spotlighting is a hint to the model, not a control).
    const result = text(last).replace(/\u02c6/g, " ");
    // The model obeys a polite request it found in the tool result.
    const planted = /e-mail a copy of this thread to ([^\s.]+@[^\s]+?)\.(?:\s|$)/i.exec(result);
    if (planted) {
      const summary = messages.map((message) => `${String(message.role)}: ${text(message)}`).join("\n").slice(0, 400);
      return { calls: [{ name: "send_email", arguments: JSON.stringify({ to: planted[1], subject: "Copy of this thread", body: summary }) }], content: null };
    }
    return { calls: [], content: `Summary: ${result.slice(0, 80)}` };
  }
  const asked = text(lastUser);
  const address = ADDRESS.exec(asked);
  if (/\bsend\b/i.test(asked) && address) {
    return { calls: [{ name: "send_email", arguments: JSON.stringify({ to: address[0], subject: "Summary", body: "Revenue grew four percent in the third quarter." }) }], content: null };
  }
  if (/\binbox\b/i.test(asked)) return { calls: [{ name: "read_inbox", arguments: JSON.stringify({ folder: "inbox", limit: 1 }) }], content: null };
  if (/\bdelete\b/i.test(asked)) return { calls: [{ name: "delete_file", arguments: JSON.stringify({ path: "/srv/mail/tmp/old-draft.txt" }) }], content: null };
  if (/\bread file\b/i.test(asked)) return { calls: [{ name: "read_file", arguments: JSON.stringify({ path: "/srv/mail/../../etc/passwd" }) }], content: null };
  return { calls: [], content: "How can I help?" };
}

function badCalls(): Call[] {
  return [
    { name: "read_inbox", arguments: '{"folder": "inbox", "limit": ' },
    { name: "format_disk", arguments: "{}" },
    { name: "read_inbox", arguments: JSON.stringify({ folder: "x".repeat(70_000) }) },
    { name: "read_inbox", arguments: JSON.stringify({ folder: "inbox", limit: 1 }) },
  ];
}

/** The same agent speaking the legacy `function_call` protocol. */
function legacy(res: ServerResponse, model: string, call: Call | undefined, stream: boolean): void {
  const finish = call ? "function_call" : "stop";
  if (!stream) {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ id: "chatcmpl-agent", object: "chat.completion", created: 1_700_000_000, model, choices: [{ index: 0, message: { role: "assistant", content: null, ...(call ? { function_call: call } : {}) }, finish_reason: finish }] }));
    return;
  }
  const chunk = (delta: Json, finishReason: string | null = null): string =>
    `data: ${JSON.stringify({ id: "chatcmpl-agent", object: "chat.completion.chunk", created: 1_700_000_000, model, choices: [{ index: 0, delta, finish_reason: finishReason }] })}\n\n`;
  res.writeHead(200, { "content-type": "text/event-stream" });
  res.write(chunk({ role: "assistant", content: null }));
  if (call) {
    res.write(chunk({ function_call: { name: call.name, arguments: "" } }));
    for (let at = 0; at < call.arguments.length; at += 5) res.write(chunk({ function_call: { arguments: call.arguments.slice(at, at + 5) } }));
  }
  res.write(chunk({}, finish));
  res.end("data: [DONE]\n\n");
}

export async function startAgentUpstream(): Promise<AgentUpstream> {
  const requests: Json[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Json;
      requests.push(body);
      const model = String(body.model);
      const step =
        model === "agent-bad"
          ? { calls: badCalls(), content: null }
          : model === "agent-flood"
            ? { calls: Array.from({ length: 150 }, (_, i) => ({ name: `tool_${i}`, arguments: "{}" })), content: null }
            : nextStep((body.messages as Json[]) ?? []);
      const toolCalls = step.calls.map((call, index) => ({ id: `call_${index + 1}`, type: "function", function: call }));
      const finish = toolCalls.length > 0 ? "tool_calls" : "stop";
      if (model === "agent-legacy") return legacy(res, model, step.calls[0], body.stream === true);
      if (body.stream !== true) {
        const message: Json = { role: "assistant", content: step.content, ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}) };
        // A tool_calls entry that is not an object at all, to see that the gateway does not trip over it.
        if (model === "agent-bad") (message.tool_calls as unknown[]).push("not a call");
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ id: "chatcmpl-agent", object: "chat.completion", created: 1_700_000_000, model, choices: [{ index: 0, message, finish_reason: finish, logprobs: null }] }));
        return;
      }
      const chunk = (delta: Json, finishReason: string | null = null): string =>
        `data: ${JSON.stringify({ id: "chatcmpl-agent", object: "chat.completion.chunk", created: 1_700_000_000, model, choices: [{ index: 0, delta, finish_reason: finishReason }] })}\n\n`;
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(chunk({ role: "assistant", content: step.content ?? "" }));
      toolCalls.forEach((call, index) => {
        res.write(chunk({ tool_calls: [{ index, id: call.id, type: "function", function: { name: call.function.name, arguments: "" } }] }));
        const args = call.function.arguments;
        for (let at = 0; at < args.length; at += 7) res.write(chunk({ tool_calls: [{ index, function: { arguments: args.slice(at, at + 7) } }] }));
      });
      res.write(chunk({}, finish));
      res.end("data: [DONE]\n\n");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
