/**
 * Two gateway replicas sharing one Redis (BULWARK_TEST_REDIS_URL) enforce one
 * rate limit and one quarantine list; Redis going away mid-test (a TCP relay
 * in front of it is cut) leaves them serving per the policy's failure mode,
 * and they share again once it is back.
 */
import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PolicyInput } from "../../src/policy/schema.js";
import { sortableId } from "../../src/util/sortable-id.js";
import { ADMIN_KEY, TEST_POLICY, LIMITED_KEY, flushed, post, startGateway, startMockUpstream, testConfig, type MockUpstream, type TestGateway } from "../gateway/helpers.js";

const REDIS_URL = process.env.BULWARK_TEST_REDIS_URL;
if (!REDIS_URL) console.warn("BULWARK_TEST_REDIS_URL is not set: the two-replica limits tests (shared Redis) are skipped.");

const user = (content: string) => ({ model: "echo", messages: [{ role: "user", content }] });

/** A TCP relay to Redis that the test can cut and restore, on a fixed port. */
class Relay {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on("close", () => this.sockets.delete(socket));
        socket.on("error", () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }
}

async function until(check: () => Promise<boolean>, what: string, ms = 8_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe.skipIf(!REDIS_URL)("two replicas sharing one Redis", () => {
  let upstream: MockUpstream;
  let relay: Relay;
  let a: TestGateway;
  let b: TestGateway;
  let cleanup: Redis;
  const keyPrefix = `bulwark-test-${sortableId().toLowerCase()}:`;

  beforeAll(async () => {
    upstream = await startMockUpstream();
    const target = new URL(REDIS_URL!);
    relay = new Relay({ host: target.hostname, port: Number(target.port || 6379) });
    await relay.start();
    const policy: PolicyInput = {
      ...TEST_POLICY,
      limits: { rate: { enabled: true, failureMode: "closed", rules: [{ id: "shared", scope: "principal", requests: 5, windowSeconds: 60 }] } },
    };
    const config = testConfig(upstream.url, { redis: { url: `redis://127.0.0.1:${relay.port}`, keyPrefix, commandTimeoutMs: 200 } });
    a = await startGateway(config, { defaultPolicy: policy });
    b = await startGateway(config, { defaultPolicy: policy });
    cleanup = new Redis(REDIS_URL!);
  });
  afterAll(async () => {
    await Promise.allSettled([a?.close(), b?.close()]);
    if (cleanup) {
      const keys = await cleanup.keys(`${keyPrefix}*`);
      if (keys.length) await cleanup.del(...keys);
      cleanup.disconnect();
    }
    await relay?.cut();
    await upstream?.close();
  });

  it("enforce one rate limit together: five requests across both replicas, the sixth refused on either", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await post(`${(i % 2 ? b : a).url}/v1/chat/completions`, user(`request ${i}`))).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
    const onA = await post(`${a.url}/v1/chat/completions`, user("again"));
    expect(onA.status).toBe(429);
    expect(onA.headers.get("ratelimit-remaining")).toBe("0");
  });

  it("share one quarantine list: quarantined on one replica, refused on the other; released on the other, served on the first", async () => {
    const response = await fetch(`${a.url}/admin/quarantine`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ principal: "intern", reason: "shared quarantine test" }),
    });
    expect(response.status).toBe(201);
    expect(((await response.json()) as { shared: boolean }).shared).toBe(true);
    await until(async () => (await post(`${b.url}/v1/chat/completions`, { ...user("hi"), model: "gpt-4o-mini" }, LIMITED_KEY)).status === 403, "replica B to refuse the quarantined principal");
    const release = await fetch(`${b.url}/admin/quarantine/intern`, { method: "DELETE", headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(release.status).toBe(200);
    await until(async () => (await post(`${a.url}/v1/chat/completions`, { ...user("hi"), model: "gpt-4o-mini" }, LIMITED_KEY)).status === 200, "replica A to serve the released principal");
  });

  it("keep serving when Redis goes away (fail closed: 503, not ready, limit.degraded), and share again once it is back", async () => {
    await relay.cut();
    await until(async () => (await fetch(`${a.url}/readyz`)).status === 503, "replica A to report the lost Redis");
    const refused = await post(`${a.url}/v1/chat/completions`, { ...user("while down"), model: "gpt-4o-mini" }, LIMITED_KEY);
    expect(refused.status).toBe(503);
    expect(refused.json).toMatchObject({ error: { code: "limits_unavailable" } });
    expect((await fetch(`${b.url}/healthz`)).status).toBe(200);
    await relay.start(); // same port
    await until(async () => (await fetch(`${a.url}/readyz`)).status === 200 && (await fetch(`${b.url}/readyz`)).status === 200, "both replicas to reconnect", 10_000);
    const served = await post(`${b.url}/v1/chat/completions`, { ...user("after"), model: "gpt-4o-mini" }, LIMITED_KEY);
    expect(served.status).toBe(200);
    await flushed(a.gateway);
    const types = (await a.store.list({ kind: "signal", type: "limit." })).map((stored) => (stored.event as { type: string }).type);
    expect(types).toContain("limit.degraded");
    expect(types).toContain("limit.recovered");
  });
});
