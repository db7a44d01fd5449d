/**
 * Limits, quarantine and anomaly reports through a real gateway (memory
 * counters) in front of the mock upstream; and a gateway whose Redis is a port
 * nothing listens on.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PolicyInput } from "../../src/policy/schema.js";
import type { SignalEvent } from "../../src/store/types.js";
import { ADMIN_KEY, CLIENT_KEY, LIMITED_KEY, TEST_POLICY, flushed, post, startGateway, startMockUpstream, testConfig, type MockUpstream, type TestGateway } from "../gateway/helpers.js";

const user = (content: string, model = "echo") => ({ model, messages: [{ role: "user", content }] });

async function signals(gw: TestGateway, type: string): Promise<SignalEvent[]> {
  await flushed(gw.gateway);
  return (await gw.store.list({ kind: "signal", type })).map((stored) => stored.event as SignalEvent);
}

async function admin(url: string, method: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body ? { "content-type": "application/json" } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

let upstream: MockUpstream;
beforeAll(async () => {
  upstream = await startMockUpstream();
});
afterAll(async () => {
  await upstream?.close();
});

describe("rate limits and quarantine in one gateway", () => {
  let gw: TestGateway;
  let chat: string;
  const policy: PolicyInput = {
    ...TEST_POLICY,
    limits: {
      rate: { enabled: true, rules: [{ id: "per-principal", scope: "principal", requests: 3, windowSeconds: 60 }] },
      anomaly: { extraction: { minNearDuplicates: 4 } },
      quarantine: { automatic: ["extraction"], durationSeconds: 600 },
    },
  };
  beforeAll(async () => {
    gw = await startGateway(testConfig(upstream.url), { defaultPolicy: policy });
    chat = `${gw.url}/v1/chat/completions`;
  });
  afterAll(async () => {
    await gw?.close();
  });

  it("serves three requests with RateLimit headers, then answers 429 in OpenAI's format with Retry-After, and records one limit.exceeded event", async () => {
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const response = await post(chat, user(`hello number ${i}`));
      expect(response.status).toBe(200);
      expect(response.headers.get("ratelimit-limit")).toBe("3");
      expect(response.headers.get("ratelimit-policy")).toBe("3;w=60");
      remaining.push(response.headers.get("ratelimit-remaining")!);
    }
    expect(remaining).toEqual(["2", "1", "0"]);
    for (let i = 0; i < 2; i++) {
      const refused = await post(chat, user("one more"));
      expect(refused.status).toBe(429);
      expect(refused.json).toMatchObject({ error: { type: "rate_limit_error", code: "rate_limit_exceeded", param: null } });
      expect((refused.json.error as { message: string }).message).toMatch(/3 requests per minute per principal \(rule per-principal\)/);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(refused.headers.get("ratelimit-remaining")).toBe("0");
    }
    // The other principal has its own counter.
    expect((await post(chat, user("hi", "gpt-4o-mini"), LIMITED_KEY)).status).toBe(200);
    const exceeded = await signals(gw, "limit.exceeded");
    expect(exceeded).toHaveLength(1); // throttled: one event per principal and rule per minute
    expect(exceeded[0]).toMatchObject({ principal: "app", severity: "low", detail: { code: "rate_limit_exceeded", rule: "per-principal" } });
  });

  it("quarantines by hand through the admin API (403 for the principal), lists it, and releases it, with events", async () => {
    const base = `${gw.url}/admin/quarantine`;
    expect((await fetch(base)).status).toBe(401);
    const added = await admin(base, "POST", { principal: "intern", reason: "investigating scraping", durationSeconds: 3600 });
    expect(added.status).toBe(201);
    expect(added.json).toMatchObject({ principal: "intern", by: "admin:root", reason: "investigating scraping", shared: false });
    const refused = await post(chat, user("hi", "gpt-4o-mini"), LIMITED_KEY);
    expect(refused.status).toBe(403);
    expect(refused.json).toMatchObject({ error: { type: "permission_error", code: "principal_quarantined" } });
    expect((refused.json.error as { message: string }).message).toMatch(/investigating scraping/);
    expect((await admin(base, "GET")).json.data).toEqual([expect.objectContaining({ principal: "intern", by: "admin:root" })]);
    expect((await admin(`${base}/intern`, "DELETE")).json).toMatchObject({ principal: "intern", released: true });
    expect((await post(chat, user("hi again", "gpt-4o-mini"), LIMITED_KEY)).status).toBe(200);
    expect((await admin(`${base}/intern`, "DELETE")).status).toBe(404);
    expect((await admin(base, "POST", { principal: "" })).status).toBe(400);
    expect((await signals(gw, "quarantine.added")).map((e) => e.principal)).toEqual(["intern"]);
    expect((await signals(gw, "quarantine.removed")).map((e) => e.principal)).toEqual(["intern"]);
  });
});

describe("token windows and budgets in the gateway", () => {
  let gw: TestGateway;
  let chat: string;
  beforeAll(async () => {
    const policy: PolicyInput = {
      ...TEST_POLICY,
      limits: {
        rate: { enabled: true, rules: [{ id: "tokens", scope: "key", tokens: 25, windowSeconds: 60 }] },
        budget: { enabled: true, rules: [{ id: "daily", scope: "principal", period: "day", usd: 0.0002 }], prices: { echo: { input: 10, output: 10 }, "gpt-4o*": { input: 10, output: 10 } } },
      },
    };
    gw = await startGateway(testConfig(upstream.url), { defaultPolicy: policy });
    chat = `${gw.url}/v1/chat/completions`;
  });
  afterAll(async () => {
    await gw?.close();
  });

  it("counts the upstream's usage: the token window refuses once spent, the budget once its dollars are", async () => {
    // The mock answers with usage 5 + 5 tokens: $0.0001 at $10 per million tokens.
    expect((await post(chat, user("first"))).status).toBe(200);
    expect((await post(chat, user("second"))).status).toBe(200);
    const overBudget = await post(chat, user("third"));
    expect(overBudget.status).toBe(429);
    expect(overBudget.json).toMatchObject({ error: { type: "rate_limit_error", code: "budget_exceeded" } });
    expect(Number(overBudget.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(Number(overBudget.headers.get("retry-after"))).toBeLessThanOrEqual(86_400);
    const budgetEvents = await signals(gw, "limit.exceeded");
    expect(budgetEvents).toEqual([expect.objectContaining({ principal: "app", severity: "medium", detail: expect.objectContaining({ code: "budget_exceeded", rule: "daily" }) })]);
  });

  it("counts a streamed response without usage when it ends (prompt counted, completion at max_tokens)", async () => {
    const streamed = await post(chat, { ...user("stream me", "gpt-4o-mini"), stream: true, max_tokens: 40 }, LIMITED_KEY);
    expect(streamed.status).toBe(200);
    expect(streamed.text).toContain("data: [DONE]");
    // 40 completion tokens charged against a window of 25: the next request of that key is refused.
    let next = await post(chat, user("again", "gpt-4o-mini"), LIMITED_KEY);
    for (let i = 0; i < 20 && next.status === 200; i++) next = await post(chat, user(`again ${i}`, "gpt-4o-mini"), LIMITED_KEY);
    expect(next.json).toMatchObject({ error: { code: "tokens_exceeded" } });
  });

  it("refuses a model without a price while a budget applies", async () => {
    const response = await post(chat, user("hi", "secret-model"), CLIENT_KEY);
    expect(response.status).toBe(403);
    expect(response.json).toMatchObject({ error: { type: "permission_error", code: "model_not_priced" } });
  });
});

describe("anomaly detection and automatic quarantine in the gateway", () => {
  let gw: TestGateway;
  let chat: string;
  beforeAll(async () => {
    const policy: PolicyInput = {
      ...TEST_POLICY,
      limits: { anomaly: { extraction: { minNearDuplicates: 4 } }, quarantine: { automatic: ["extraction"], durationSeconds: 600 } },
    };
    gw = await startGateway(testConfig(upstream.url), { defaultPolicy: policy });
    chat = `${gw.url}/v1/chat/completions`;
  });
  afterAll(async () => {
    await gw?.close();
  });

  it("reports template probing as anomaly.extraction and quarantines the principal automatically", async () => {
    const statuses: number[] = [];
    for (const city of ["Paris", "Lyon", "Nice", "Lille", "Brest", "Dijon", "Reims"]) {
      statuses.push((await post(chat, user(`What is the population of the city of ${city} in the year 2020?`, "gpt-4o-mini"), LIMITED_KEY)).status);
    }
    // Four near-identical earlier prompts are reached on the fifth; the quarantine is in force from the next request on.
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses.slice(-1)).toEqual([403]);
    const anomaly = await signals(gw, "anomaly.");
    expect(anomaly).toEqual([expect.objectContaining({ type: "anomaly.extraction", principal: "intern", severity: "high", route: "/v1/chat/completions" })]);
    expect(await signals(gw, "quarantine.added")).toEqual([expect.objectContaining({ principal: "intern", detail: expect.objectContaining({ by: "automatic", anomaly: "extraction" }) })]);
    // Other principals are untouched; exact repeats are not probing.
    for (let i = 0; i < 6; i++) expect((await post(chat, user("Summarise our meeting notes please."), CLIENT_KEY)).status).toBe(200);
    expect(await signals(gw, "anomaly.")).toHaveLength(1);
  });
});

describe("multi-turn escalation in the gateway", () => {
  let gw: TestGateway;
  beforeAll(async () => {
    // Custom rules give each step of the conversation a known guard score (0.2, 0.4, 0.6: under the block threshold).
    const customRules = [
      { id: "test.step-one", category: "jailbreak" as const, pattern: "\\bcrescendo one\\b", score: 0.2 },
      { id: "test.step-two", category: "jailbreak" as const, pattern: "\\bcrescendo two\\b", score: 0.4 },
      { id: "test.step-three", category: "jailbreak" as const, pattern: "\\bcrescendo three\\b", score: 0.6 },
    ];
    const policy: PolicyInput = { ...TEST_POLICY, layers: { ...TEST_POLICY.layers, heuristics: { ...TEST_POLICY.layers?.heuristics, customRules } } };
    gw = await startGateway(testConfig(upstream.url), { defaultPolicy: policy });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it("reports guard scores climbing across the user turns of one conversation as anomaly.escalation", async () => {
    const turns = ["What is chemistry?", "Now crescendo one please.", "Go further: crescendo two.", "And finally crescendo three."];
    const messages = turns.flatMap((content, index) => [{ role: "user", content }, ...(index < turns.length - 1 ? [{ role: "assistant", content: "Sure." }] : [])]);
    // Three turns: no run of four yet.
    expect((await post(`${gw.url}/v1/chat/completions`, { model: "echo", messages: messages.slice(0, 5) })).status).toBe(200);
    expect(await signals(gw, "anomaly.escalation")).toEqual([]);
    const response = await post(`${gw.url}/v1/chat/completions`, { model: "echo", messages });
    expect(response.status).toBe(200);
    expect(response.headers.get("x-bulwark-action")).toBe("flag");
    expect(await signals(gw, "anomaly.escalation")).toEqual([expect.objectContaining({ principal: "app", severity: "high", detail: expect.objectContaining({ kind: "escalation", observed: 0.6 }) })]);
  });
});

describe("a gateway whose Redis is unreachable", () => {
  const deadRedis = { url: "redis://127.0.0.1:1", commandTimeoutMs: 50 };
  const rate = { enabled: true, rules: [{ scope: "principal" as const, requests: 100, windowSeconds: 60 }] };

  it("keeps serving: fails closed (503 limits_unavailable) by default, reports not ready, and records limit.degraded", async () => {
    const gw = await startGateway(testConfig(upstream.url, { redis: deadRedis }), { defaultPolicy: { ...TEST_POLICY, limits: { rate } } });
    try {
      const refused = await post(`${gw.url}/v1/chat/completions`, user("hello"));
      expect(refused.status).toBe(503);
      expect(refused.json).toMatchObject({ error: { type: "service_unavailable", code: "limits_unavailable" } });
      const ready = await fetch(`${gw.url}/readyz`);
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { problems: string[] }).problems.join()).toMatch(/limit store \(Redis\) down.*refuse requests/);
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      expect(metrics).toMatch(/^bulwark_limit_store_up 0$/m);
      expect(await signals(gw, "limit.degraded")).toEqual([expect.objectContaining({ severity: "high", detail: expect.objectContaining({ failureMode: "closed" }) })]);
      expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    } finally {
      await gw.close();
    }
  });

  it("serves unlimited with failureMode open", async () => {
    const gw = await startGateway(testConfig(upstream.url, { redis: deadRedis }), { defaultPolicy: { ...TEST_POLICY, limits: { rate: { ...rate, failureMode: "open" } } } });
    try {
      for (let i = 0; i < 3; i++) expect((await post(`${gw.url}/v1/chat/completions`, user(`hello ${i}`))).status).toBe(200);
      expect(((await (await fetch(`${gw.url}/readyz`)).json()) as { problems: string[] }).problems.join()).toMatch(/are not enforced/);
    } finally {
      await gw.close();
    }
  });
});
