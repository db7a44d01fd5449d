import type { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { connectLimitsRedis, RateLimits, whenReady, type LimitSubject } from "../../src/limits/index.js";
import { resolvePolicy } from "../../src/policy/load.js";

const subject = (overrides: Partial<LimitSubject> = {}): LimitSubject => ({ key: "k1", principal: "alice", ip: "10.0.0.1", route: "/v1/chat/completions", ...overrides });
const NOON = Date.UTC(2026, 10, 21, 12, 0, 0);

describe("RateLimits in memory", () => {
  it("counts requests per principal, says how many remain, and refuses the one over with the time to wait", async () => {
    const limits = new RateLimits({ rate: { enabled: true, rules: [{ scope: "principal", requests: 3, windowSeconds: 60 }] } });
    const remaining: number[] = [];
    for (let i = 0; i < 3; i++) {
      const admission = await limits.admit(subject());
      expect(admission.allowed).toBe(true);
      remaining.push(admission.quota!.remaining);
    }
    expect(remaining).toEqual([2, 1, 0]);
    const over = await limits.admit(subject());
    expect(over).toMatchObject({ allowed: false, status: 429, code: "rate_limit_exceeded", rule: "principal-60s", quota: { limit: 3, remaining: 0, policy: "3;w=60" } });
    expect(over.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(over.retryAfterSeconds).toBeLessThanOrEqual(60);
    // Another principal has its own counter.
    expect((await limits.admit(subject({ principal: "bob" }))).allowed).toBe(true);
  });

  it("keys each scope on its own value and applies route-limited rules only to their routes", async () => {
    const limits = new RateLimits({
      rate: {
        enabled: true,
        rules: [
          { scope: "ip", requests: 2, windowSeconds: 60 },
          { id: "models-listing", scope: "key", requests: 1, windowSeconds: 60, routes: ["/v1/models"] },
        ],
      },
    });
    expect((await limits.admit(subject({ route: "/v1/models" }))).allowed).toBe(true);
    const second = await limits.admit(subject({ route: "/v1/models", ip: "10.0.0.2" }));
    expect(second).toMatchObject({ allowed: false, rule: "models-listing" });
    // The chat route is not limited by the models rule, only by the IP rule.
    expect((await limits.admit(subject({ ip: "10.0.0.3" }))).allowed).toBe(true);
    expect((await limits.admit(subject({ ip: "10.0.0.3" }))).allowed).toBe(true);
    expect(await limits.admit(subject({ ip: "10.0.0.3" }))).toMatchObject({ allowed: false, rule: "ip-60s" });
  });

  it("refuses once a token window is spent, the crossing request having been served", async () => {
    const limits = new RateLimits({ rate: { enabled: true, rules: [{ scope: "key", tokens: 1000, windowSeconds: 60 }] } });
    expect((await limits.admit(subject())).allowed).toBe(true);
    await limits.recordUsage(subject(), "gpt-4o", 700, 200);
    expect((await limits.admit(subject())).allowed).toBe(true);
    await limits.recordUsage(subject(), "gpt-4o", 100, 50);
    expect(await limits.admit(subject())).toMatchObject({ allowed: false, status: 429, code: "tokens_exceeded" });
  });

  it("charges cost from the price table against a calendar-day budget that resets at UTC midnight", async () => {
    const limits = new RateLimits({
      budget: { enabled: true, rules: [{ scope: "principal", period: "day", usd: 1 }], prices: { "gpt-4o*": { input: 2.5, output: 10 } } },
    });
    expect(limits.costMicroUsd("gpt-4o-mini", 1_000_000, 0)).toBe(2_500_000);
    // 200k prompt tokens at $2.50/M and 50k completion at $10/M: $1.00.
    expect((await limits.admit(subject(), "gpt-4o", NOON)).allowed).toBe(true);
    await limits.recordUsage(subject(), "gpt-4o", 200_000, 50_000, NOON);
    expect(await limits.spent(subject(), NOON)).toEqual([{ id: "principal-day", usd: 1, limitUsd: 1 }]);
    const refused = await limits.admit(subject(), "gpt-4o", NOON + 60_000);
    expect(refused).toMatchObject({ allowed: false, status: 429, code: "budget_exceeded", rule: "principal-day" });
    // Retry-After points at the next UTC midnight, 11 h 59 min away.
    expect(refused.retryAfterSeconds).toBe(12 * 3600 - 60);
    expect((await limits.admit(subject(), "gpt-4o", NOON + 12 * 3600_000)).allowed).toBe(true);
  });

  it("refuses a model without a price while a budget applies, rather than serve it free", async () => {
    const limits = new RateLimits({ budget: { enabled: true, rules: [{ scope: "global", period: "month", usd: 100 }], prices: { "gpt-4o": { input: 2.5, output: 10 } } } });
    expect(await limits.admit(subject(), "mystery-model")).toMatchObject({ allowed: false, status: 403, code: "model_not_priced" });
  });

  it("holds concurrency slots until released", async () => {
    const limits = new RateLimits({ rate: { enabled: true, concurrency: [{ scope: "principal", max: 2 }] } });
    const first = await limits.admit(subject());
    const second = await limits.admit(subject());
    expect([first.allowed, second.allowed]).toEqual([true, true]);
    expect(await limits.admit(subject())).toMatchObject({ allowed: false, code: "concurrency_exceeded" });
    first.release();
    first.release(); // idempotent
    const third = await limits.admit(subject());
    expect(third.allowed).toBe(true);
    expect(await limits.admit(subject())).toMatchObject({ allowed: false, code: "concurrency_exceeded" });
  });

  it("does nothing (and allocates nothing) when rate limits and budgets are off, as they are by default", async () => {
    const limits = new RateLimits(resolvePolicy({ version: 1 }).policy.limits);
    expect(limits.active).toBe(false);
    const a = await limits.admit(subject());
    const b = await limits.admit(subject());
    expect(a.allowed).toBe(true);
    expect(a).toBe(b);
  });

  it("rejects budgets without any price, naming where", () => {
    expect(() => resolvePolicy({ version: 1, limits: { budget: { enabled: true, rules: [{ scope: "principal", period: "day", usd: 5 }] } } })).toThrow(/limits\.budget\.prices.*at least one price/s);
  });

  it("rejects a rule with neither requests nor tokens, naming where", () => {
    expect(() => resolvePolicy({ version: 1, limits: { rate: { enabled: true, rules: [{ scope: "principal", windowSeconds: 60 }] } } })).toThrow(/limits\.rate\.rules\.0.*requests/s);
  });
});

describe("RateLimits when the Redis store is unreachable", () => {
  // A port nothing listens on: every command fails at once (no offline queue).
  const dead: Redis[] = [];
  const deadClient = (): Redis => {
    const client = connectLimitsRedis({ url: "redis://127.0.0.1:1", commandTimeoutMs: 50 });
    client.on("error", () => undefined);
    dead.push(client);
    return client;
  };
  afterAll(() => {
    for (const client of dead) client.disconnect();
  });
  const rules = [{ scope: "principal" as const, requests: 1, windowSeconds: 60 }];

  it("fails closed by default: 503 limits_unavailable, marked degraded", async () => {
    const limits = new RateLimits({ rate: { enabled: true, rules } }, { kind: "redis", client: deadClient(), keyPrefix: "t:" });
    const admission = await limits.admit(subject());
    expect(admission).toMatchObject({ allowed: false, status: 503, code: "limits_unavailable", degraded: true });
    expect(limits.takeFailure()).toBeInstanceOf(Error);
  });

  it("fails open when the policy says so: served, marked degraded", async () => {
    const limits = new RateLimits({ rate: { enabled: true, rules, failureMode: "open" } }, { kind: "redis", client: deadClient(), keyPrefix: "t:" });
    for (let i = 0; i < 3; i++) expect(await limits.admit(subject())).toMatchObject({ allowed: true, degraded: true });
  });

  it("falls back to per-replica memory counters with failureMode local", async () => {
    const limits = new RateLimits(
      { rate: { enabled: true, rules: [...rules, { scope: "ip" as const, requests: 50, windowSeconds: 60 }], failureMode: "local", concurrency: [{ scope: "principal", max: 5 }] } },
      { kind: "redis", client: deadClient(), keyPrefix: "t:" },
    );
    const first = await limits.admit(subject());
    expect(first.allowed).toBe(true);
    expect(await limits.admit(subject())).toMatchObject({ allowed: false, code: "rate_limit_exceeded" });
    first.release();
  });
});

const REDIS_URL = process.env.BULWARK_TEST_REDIS_URL;
if (!REDIS_URL) console.warn("BULWARK_TEST_REDIS_URL is not set: the shared-counter RateLimits tests are skipped.");

describe.skipIf(!REDIS_URL)("RateLimits over a shared Redis", () => {
  const clients: Redis[] = [];
  const keyPrefix = `bulwark-test-rate-${process.pid}-${Date.now()}:`;
  afterAll(async () => {
    const keys = await clients[0]!.keys(`${keyPrefix}*`);
    if (keys.length) await clients[0]!.del(...keys);
    for (const client of clients) client.disconnect();
  });
  const replica = async (): Promise<RateLimits> => {
    const client = connectLimitsRedis({ url: REDIS_URL!, commandTimeoutMs: 1_000 });
    clients.push(client);
    await whenReady(client, 2_000);
    return new RateLimits(
      { rate: { enabled: true, rules: [{ scope: "principal", requests: 4, windowSeconds: 60 }, { scope: "ip", requests: 100, windowSeconds: 60 }] }, budget: { enabled: true, rules: [{ scope: "principal", period: "day", usd: 1 }], prices: { m: { input: 1, output: 1 } } } },
      { kind: "redis", client, keyPrefix },
    );
  };

  it("shares request counts and spending between two instances", async () => {
    const [a, b] = [await replica(), await replica()];
    expect((await a.admit(subject(), "m")).allowed).toBe(true);
    expect((await b.admit(subject(), "m")).allowed).toBe(true);
    // A million tokens at $1 per million: the day's dollar is spent, recorded by one replica, seen by the other.
    await a.recordUsage(subject(), "m", 600_000, 400_000);
    // B read the budget a moment ago and uses that copy for up to a second (no Redis read per request).
    expect((await b.admit(subject(), "m")).allowed).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await b.admit(subject(), "m")).toMatchObject({ allowed: false, code: "budget_exceeded", degraded: false });
    // The fifth request in the window, counted across both: over the shared limit of four.
    expect(await a.admit(subject(), "m")).toMatchObject({ allowed: false, code: "rate_limit_exceeded", rule: "principal-60s", quota: { limit: 4, remaining: 0 } });
    expect(await b.spent(subject())).toEqual([{ id: "principal-day", usd: 1, limitUsd: 1 }]);
  });
});
