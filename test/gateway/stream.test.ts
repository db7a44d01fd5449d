/**
 * Streamed completions: nothing unsafe reaches the client, whatever the chunking,
 * and a broken or silent upstream ends the stream with an error event.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Layer } from "../../src/guard/types.js";
import type { GatewayOptions } from "../../src/gateway/server.js";
import { SseParser } from "../../src/gateway/sse.js";
import type { DecisionEvent } from "../../src/store/types.js";
import { CLIENT_KEY, LEAKED_KEY, flushed, startGateway, startMockUpstream, testConfig, type MockUpstream, type TestGateway } from "./helpers.js";

/** A plain output rule for these tests: the phrase "launch codes" is forbidden in output. */
const launchCodes: Layer = {
  name: "test-launch-codes",
  version: "1",
  stage: "output",
  phase: "detect",
  budgetMs: 1_000,
  check(input) {
    const at = input.text.toLowerCase().indexOf("launch codes");
    return { findings: at < 0 ? [] : [{ detector: "test-launch-codes", category: "unsafe_output", score: 0.97, span: { start: at, end: at + 12 } }] };
  },
};

let upstream: MockUpstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startMockUpstream();
});
afterAll(async () => {
  await upstream?.close();
});

interface Streamed {
  status: number;
  headers: Headers;
  /** Every data payload, in order, as sent. */
  events: string[];
  /** The raw bytes as text, to search for anything that leaked. */
  raw: string;
  text: string;
  error?: { type: string; code: string; decision_id?: string; message: string };
}

async function stream(model: string, content = "hello", signal?: AbortSignal): Promise<Streamed> {
  const response = await fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${CLIENT_KEY}` },
    body: JSON.stringify({ model, stream: true, messages: [{ role: "user", content }] }),
    ...(signal ? { signal } : {}),
  });
  const raw = await response.text();
  const events = new SseParser().feed(raw).map((event) => event.data);
  let text = "";
  let error: Streamed["error"];
  for (const data of events) {
    if (data === "[DONE]") continue;
    const chunk = JSON.parse(data) as { error?: Streamed["error"]; choices?: Array<{ delta?: { content?: string } }> };
    if (chunk.error) error = chunk.error;
    for (const choice of chunk.choices ?? []) text += choice.delta?.content ?? "";
  }
  return { status: response.status, headers: response.headers, events, raw, text, ...(error ? { error } : {}) };
}

// The contract any stream guard must honour; the gateway's default is the library's streaming checker.
const implementations: Array<[string, GatewayOptions["streamGuardFactory"]]> = [["the library's streaming checker (default)", undefined]];

for (const [name, streamGuardFactory] of implementations) describe(`streamed completions through ${name}`, () => {
  beforeAll(async () => {
    gw = await startGateway(testConfig(upstream.url), { guardOptions: { layers: [launchCodes] }, ...(streamGuardFactory ? { streamGuardFactory } : {}) });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it("deliver the upstream's text in order, well-formed, ending with [DONE]", async () => {
    const result = await stream("echo", "stream me a short answer please");
    expect(result.status).toBe(200);
    expect(result.headers.get("content-type")).toContain("text/event-stream");
    expect(result.headers.get("x-bulwark-decision-id")).toBeTruthy();
    expect(result.text).toBe("You said: stream me a short answer please");
    expect(result.events.at(-1)).toBe("[DONE]");
    expect(result.error).toBeUndefined();
  });

  it("never send any part of a secret the model streams in 3-character pieces, and release the text around it", async () => {
    const result = await stream("leak");
    expect(result.status).toBe(200);
    for (let i = 0; i + 6 <= LEAKED_KEY.length; i++) expect(result.raw).not.toContain(LEAKED_KEY.slice(i, i + 6));
    expect(result.text).toMatch(/^Sure\. The refunds service uses the access key \[REDACTED:[a-z-]+\] with the default region\. Anything else\?$/);
  });

  it("release long text before the stream ends, holding back only the window", async () => {
    const result = await stream("long");
    const contentEvents = result.events.filter((data) => data.includes('"content"'));
    expect(contentEvents.length).toBeGreaterThan(3); // released progressively, not all at the end
    expect(result.raw).not.toContain(LEAKED_KEY);
    expect(result.text).toContain("All systems nominal.");
    expect(result.text).toMatch(/The secret is \[REDACTED:[a-z-]+\] and that is all\.$/);
  });

  it("end with a guardrail_violation error event when the output must be blocked, without the offending text", async () => {
    const result = await stream("exfil");
    expect(result.status).toBe(200); // headers went out before the output was known
    expect(result.error).toMatchObject({ type: "guardrail_violation", code: "output_blocked" });
    expect(result.raw.toLowerCase()).not.toContain("launch codes");
    expect(result.events).not.toContain("[DONE]");
    await flushed(gw.gateway);
    const event = await gw.store.get(result.error!.decision_id!);
    expect(event?.event).toMatchObject({ kind: "decision", action: "block", stage: "output" });
  });

  it("hold tool calls until complete and send their checked arguments whole", async () => {
    const result = await stream("tool", "weather in Paris?");
    const calls = result.events
      .filter((data) => data !== "[DONE]")
      .map((data) => (JSON.parse(data) as { choices: Array<{ delta: { tool_calls?: Array<{ function: { name: string; arguments: string } }> } }> }).choices[0]?.delta.tool_calls)
      .filter((toolCalls) => toolCalls !== undefined);
    expect(calls).toHaveLength(1);
    expect(calls[0]![0]!.function).toEqual({ name: "get_weather", arguments: '{"city":"Paris","unit":"celsius"}' });
    expect(result.raw).toContain('"finish_reason":"tool_calls"');
  });

  it("end with an error event, releasing nothing held back, when the upstream breaks off or goes silent", async () => {
    const dropped = await stream("drop");
    expect(dropped.error).toMatchObject({ type: "upstream_error", code: "upstream_stream_interrupted" });
    expect(dropped.raw).not.toContain("first part");
    const silent = await stream("stream-hang");
    expect(silent.error).toMatchObject({ code: "upstream_timeout" });
    expect(silent.raw).not.toContain("Starting the answer");
  });

  it("survive a client that disconnects mid-stream, and still record the decisions", async () => {
    const controller = new AbortController();
    const pending = stream("stream-hang", "I will hang up", controller.signal).catch((error: unknown) => error);
    await new Promise((resolve) => setTimeout(resolve, 150));
    controller.abort();
    await pending;
    const after = await stream("echo", "still there?");
    expect(after.text).toBe("You said: still there?");
    await flushed(gw.gateway);
    const events = await gw.store.list({ kind: "decision", limit: 200 });
    expect(events.some((e) => (e.event as DecisionEvent).excerpt.includes("I will hang up"))).toBe(true);
    expect((await gw.store.verify()).ok).toBe(true);
  });
});
