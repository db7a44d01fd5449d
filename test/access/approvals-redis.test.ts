/**
 * Held tool calls shared through Redis (127.0.0.1:6379 in CI, BULWARK_TEST_REDIS_URL): two gateway replicas,
 * a call held on one is listed and approved on the other and fetched from the first; decide-once and the
 * capacity hold across replicas; an unreachable Redis refuses held calls instead of crashing.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RedisApprovals } from "../../src/access/approvals-redis.js";
import type { PolicyInput } from "../../src/policy/schema.js";
import { sortableId } from "../../src/util/sortable-id.js";
import { ADMIN_KEY, CLIENT_KEY, TEST_POLICY, post, startGateway, testConfig, type TestGateway } from "../gateway/helpers.js";
import { startAgentUpstream, type AgentUpstream } from "./agent-upstream.js";

const REDIS_URL = process.env.BULWARK_TEST_REDIS_URL;
if (!REDIS_URL) console.warn("BULWARK_TEST_REDIS_URL is not set: the shared (Redis) approval tests are skipped.");

type Json = Record<string, unknown>;
const POLICY: PolicyInput = {
  ...TEST_POLICY,
  access: {
    tools: { delete_file: { effect: "destructive", approval: "required", allow: [{ argument: "path", pathPrefixes: ["/srv/mail/tmp"] }] } },
    roles: { full: { tools: ["*"] } },
    approval: { enabled: true },
  },
};
const ASK = { model: "agent", messages: [{ role: "user", content: "Please delete the old draft." }] };

describe.skipIf(!REDIS_URL)("approvals shared through Redis", () => {
  const prefix = `bulwark-test-${sortableId().toLowerCase()}:`;
  let redis: Redis;
  let upstream: AgentUpstream;
  let a: TestGateway;
  let b: TestGateway;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL!);
    upstream = await startAgentUpstream();
    const config = testConfig(upstream.url, { redis: { url: REDIS_URL!, keyPrefix: prefix } });
    a = await startGateway(config, { defaultPolicy: POLICY });
    b = await startGateway(config, { defaultPolicy: POLICY });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await upstream?.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  const admin = (gw: TestGateway, path: string, method = "GET") => fetch(`${gw.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  const poll = (gw: TestGateway, id: string) => fetch(`${gw.url}/v1/approvals/${id}`, { headers: { authorization: `Bearer ${CLIENT_KEY}` } });

  it("holds a call on one replica, approves it through the other, and releases it on the first", async () => {
    const response = await post(`${a.url}/v1/chat/completions`, ASK);
    const pending = (response.json.bulwark as { pending: Json[] }).pending;
    expect(pending).toHaveLength(1);
    const id = String(pending[0]!.approval_id);
    const listed = (await (await admin(b, "/admin/approvals?status=pending")).json()) as { data: Json[] };
    expect(listed.data.map((entry) => entry.id)).toContain(id);
    expect((await admin(b, `/admin/approvals/${id}/approve`, "POST")).status).toBe(200);
    expect((await admin(a, `/admin/approvals/${id}/reject`, "POST")).status).toBe(409); // decided once, on any replica
    const released = (await (await poll(a, id)).json()) as Json;
    expect(released).toMatchObject({ id, status: "approved", decided_by: "root", tool_call: { function: { name: "delete_file", arguments: JSON.stringify({ path: "/srv/mail/tmp/old-draft.txt" }) } } });
  });

  it("keeps one capacity across replicas, and reads a pending approval past its time as expired", async () => {
    const clients = [new Redis(REDIS_URL!), new Redis(REDIS_URL!)];
    let now = 1_000_000;
    const own = `${prefix}unit:`;
    const [one, two] = clients.map((client) => new RedisApprovals({ client, prefix: own, ttlMs: 10_000, maxPending: 1, now: () => now }));
    try {
      const call = { name: "delete_file", arguments: "{}" };
      const held = (await one!.hold({ principal: "p", call, reason: "r" }))!;
      expect(held.status).toBe("pending");
      expect(await two!.hold({ principal: "p", call, reason: "r" })).toBeNull(); // the other replica sees the one pending call
      now += 10_000;
      expect((await two!.get(held.id))!.status).toBe("expired");
      expect(await two!.decide(held.id, "approved", "root")).toMatchObject({ ok: false, code: "not_pending", approval: { status: "expired" } });
      expect(await two!.hold({ principal: "p", call, reason: "r" })).not.toBeNull(); // the expired one no longer counts
      expect(await one!.get("apv_nonsense")).toBeUndefined();
    } finally {
      for (const client of clients) client.disconnect();
    }
  });
});

describe("approvals with Redis unreachable", () => {
  let upstream: AgentUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    upstream = await startAgentUpstream();
    // Port 1 on loopback: nothing listens there.
    gw = await startGateway(testConfig(upstream.url, { redis: { url: "redis://127.0.0.1:1", keyPrefix: "bulwark-unreachable:", commandTimeoutMs: 200 } }), { defaultPolicy: POLICY });
  });
  afterAll(async () => {
    await gw?.close();
    await upstream?.close();
  });

  it("refuses a call that needs approval (fail closed) and answers the approval routes with 503", async () => {
    const response = await post(`${gw.url}/v1/chat/completions`, ASK);
    expect(response.status).toBe(200);
    expect(response.json.bulwark).toMatchObject({ denied: [{ name: "delete_file", reason: "approval_unavailable" }], pending: [] });
    expect(String((response.json.bulwark as { denied: Json[] }).denied[0]!.message)).toContain("cannot be reached");
    const list = await fetch(`${gw.url}/admin/approvals`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    expect(list.status).toBe(503);
    expect(((await list.json()) as { error: Json }).error).toMatchObject({ code: "approvals_unavailable" });
  });
});
