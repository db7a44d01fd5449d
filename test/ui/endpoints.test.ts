/**
 * The dashboard's server side without a browser: how /ui is served (content types, caching, CSP,
 * compression, no path outside the build), the /admin/dashboard endpoints (credentials, validation, what
 * they answer over a known set of events), and the demo traffic generator.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CoverageResponse, DecisionsResponse, OverviewResponse, PoliciesResponse, SignalsResponse, StatusResponse } from "../../src/gateway/dashboard-types.js";
import { bucketFor, CONTENT_SECURITY_POLICY, defaultUiDir, resolveWindow } from "../../src/gateway/dashboard.js";
import { DEMO_TRAFFIC_PREFIX, sampleAt, startDemoTraffic } from "../../src/gateway/demo-traffic.js";
import { MemoryEventStore } from "../../src/store/memory.js";
import type { DecisionEvent, SignalEvent } from "../../src/store/types.js";
import { loadThreatModelFile } from "../../src/threats/load-model.js";
import { ADMIN_KEY, startGateway, startMockUpstream, testConfig, type MockUpstream, type TestGateway } from "../gateway/helpers.js";
import { buildUi, fixedHour, FIXED_UNTIL } from "./fixtures.js";

let upstream: MockUpstream;
let gw: TestGateway;
const store = new MemoryEventStore();
const admin = { authorization: `Bearer ${ADMIN_KEY}` };
const getJson = async <T>(path: string, headers: Record<string, string> = admin): Promise<{ status: number; body: T }> => {
  const response = await fetch(`${gw.url}${path}`, { headers });
  return { status: response.status, body: (await response.json()) as T };
};

beforeAll(async () => {
  await store.append(fixedHour());
  [upstream] = await Promise.all([startMockUpstream(), buildUi()]);
  gw = await startGateway(testConfig(upstream.url), { store });
}, 60_000);
afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

describe("serving the page at /ui", () => {
  it("serves index.html revalidated on every load, under a strict CSP, and its hashed assets cached for a year", async () => {
    const page = await fetch(`${gw.url}/ui`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("cache-control")).toBe("no-cache");
    expect(page.headers.get("content-security-policy")).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.toContain("unsafe-inline");
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    expect(page.headers.get("referrer-policy")).toBe("no-referrer");
    const html = await page.text();
    expect(html).not.toMatch(/<script>|<style>| style=/); // nothing inline: the CSP would refuse it
    const scripts = [...html.matchAll(/src="\/ui\/(assets\/[^"]+\.js)"/g)].map((match) => match[1]!);
    const styles = [...html.matchAll(/href="\/ui\/(assets\/[^"]+\.css)"/g)].map((match) => match[1]!);
    expect(scripts).toHaveLength(1);
    expect(styles).toHaveLength(1);
    expect((await fetch(`${gw.url}/ui/`)).status).toBe(200);

    const script = await fetch(`${gw.url}/ui/${scripts[0]}`, { headers: { "accept-encoding": "identity" } });
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(script.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    const body = Buffer.from(await script.arrayBuffer());
    const css = await fetch(`${gw.url}/ui/${styles[0]}`);
    expect(css.headers.get("content-type")).toBe("text/css; charset=utf-8");

    // Conditional requests and compression.
    const etag = script.headers.get("etag")!;
    expect((await fetch(`${gw.url}/ui/${scripts[0]}`, { headers: { "if-none-match": etag } })).status).toBe(304);
    const raw = await import("node:http");
    const gzipped = await new Promise<{ encoding: string | undefined; data: Buffer }>((resolve, reject) => {
      raw.get(`${gw.url}/ui/${scripts[0]}`, { headers: { "accept-encoding": "gzip" } }, (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => resolve({ encoding: response.headers["content-encoding"], data: Buffer.concat(chunks) }));
      }).on("error", reject);
    });
    expect(gzipped.encoding).toBe("gzip");
    expect(gzipped.data.length).toBeLessThan(body.length / 2);
    expect(gunzipSync(gzipped.data).equals(body)).toBe(true);
  });

  it("serves only files of the build: nothing else, and no path out of it", async () => {
    const built = readdirSync(join(defaultUiDir(), "assets"));
    expect(built.length).toBeGreaterThan(0);
    for (const path of ["/ui/nope.js", "/ui/../package.json", "/ui/%2e%2e/package.json", "/ui/assets/%2e%2e/%2e%2e/%2e%2e/package.json", "/ui/..%2f..%2fpackage.json", "/ui/index.ts", "/ui/vite.config.ts"]) {
      const response = await fetch(`${gw.url}${path}`);
      expect(response.status, path).toBe(404);
      expect(await response.text(), path).not.toContain('"name": "bulwark"');
    }
  });

  it("answers 404 when the admin API is off, like the admin routes", async () => {
    const closed = await startGateway({ ...testConfig(upstream.url), admin: undefined });
    try {
      const response = await fetch(`${closed.url}/ui/`);
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ error: { code: "dashboard_disabled" } });
      expect((await fetch(`${closed.url}/admin/dashboard/status`, { headers: admin })).status).toBe(404);
    } finally {
      await closed.close();
    }
  });
});

describe("the /admin/dashboard endpoints", () => {
  const window = `since=${encodeURIComponent("2026-01-01T11:00:00Z")}&until=${encodeURIComponent(FIXED_UNTIL)}`;
  const decisions = fixedHour().filter((event): event is DecisionEvent => event.kind === "decision");

  it("are not for caches", async () => {
    const response = await fetch(`${gw.url}/admin/dashboard/status`, { headers: admin });
    expect(response.headers.get("cache-control")).toBe("no-store");
  });

  it("need the admin key", async () => {
    for (const path of ["status", "overview", "decisions", "signals", "policies", "coverage"]) {
      expect((await getJson(`/admin/dashboard/${path}`, {})).status, path).toBe(401);
      expect((await getJson(`/admin/dashboard/${path}`, { authorization: "Bearer bwk_wrong" })).status, path).toBe(401);
    }
  });

  it("answer the overview from the store's aggregates: totals, buckets, top principals, categories, containment, signals", async () => {
    const { status, body } = await getJson<OverviewResponse>(`/admin/dashboard/overview?${window}`);
    expect(status).toBe(200);
    const blocks = decisions.filter((event) => event.action === "block").length;
    expect(body.totals.total).toBe(decisions.length);
    expect(body.totals.block).toBe(blocks);
    expect(body.totals.blockRate).toBeCloseTo(blocks / decisions.length, 10);
    expect(body.totals.degraded).toBe(decisions.filter((event) => event.degraded).length);
    expect(body.bucketSeconds).toBe(60);
    expect(body.series).toHaveLength(60);
    expect(body.series.reduce((sum, bucket) => sum + bucket.total, 0)).toBe(decisions.length);
    expect(body.topPrincipals[0]).toMatchObject({ principal: "batch-job", decisions: decisions.filter((event) => event.principal === "batch-job").length });
    expect(body.categories.map((row) => row.category)).toContain("prompt_injection");
    expect(body.containment.byLayer[0]).toMatchObject({ layer: "heuristics", status: "timeout" });
    expect(body.signals).toEqual(
      expect.arrayContaining([
        { type: "anomaly.blocks", severity: "high", count: 1 },
        { type: "scan.completed", severity: "low", count: 2 },
        { type: "scan.regression", severity: "high", count: 1 },
      ]),
    );
    expect(body.signals).toHaveLength(3);
    expect(body.totals.latencyP95Us).toBeGreaterThan(2_500);
  });

  it("list decisions with every filter, newest first, with paging", async () => {
    const { body } = await getJson<DecisionsResponse>(`/admin/dashboard/decisions?${window}&principal=batch-job&category=prompt_injection&action=block&limit=500`);
    const expected = decisions.filter((event) => event.principal === "batch-job" && event.categories.includes("prompt_injection") && event.action === "block");
    expect(body.data.map((row) => row.id)).toEqual(expected.map((event) => event.id).reverse());
    const first = await getJson<DecisionsResponse>(`/admin/dashboard/decisions?${window}&limit=10`);
    expect(first.body.data).toHaveLength(10);
    const second = await getJson<DecisionsResponse>(`/admin/dashboard/decisions?${window}&limit=10&before=${first.body.next_before}`);
    expect(second.body.data[0]!.seq).toBeLessThan(first.body.data[9]!.seq);
  });

  it("list signals of several types at once", async () => {
    const { body } = await getJson<SignalsResponse>("/admin/dashboard/signals?type=anomaly.,quarantine.");
    expect(body.data.map((row) => row.type)).toEqual(["anomaly.blocks"]);
    expect((await getJson<SignalsResponse>("/admin/dashboard/signals?type=scan.completed")).body.data.map((row) => row.summary)).toEqual([
      expect.stringContaining("3 of 40"),
      expect.stringContaining("7 of 40"),
    ]);
    expect((await getJson<SignalsResponse>("/admin/dashboard/signals?type=drift.")).body.data).toEqual([]);
  });

  it("reject bad queries with 400, naming the field", async () => {
    const cases: Array<[string, string]> = [
      ["overview?since=yesterday", "since"],
      [`overview?since=${FIXED_UNTIL}&until=2026-01-01T11:00:00Z`, "since"],
      ["overview?since=2025-01-01T00:00:00Z&until=2026-01-01T00:00:00Z", "92 days"],
      ["decisions?action=maybe", "action"],
      ["decisions?limit=100000", "limit"],
      ["decisions?category=DROP%20TABLE", "category"],
      ["signals?type=a,b,c,d,e,f,g,h,i", "type"],
      ["overview?colour=red", "colour"],
    ];
    for (const [path, field] of cases) {
      const { status, body } = await getJson<{ error: { message: string } }>(`/admin/dashboard/${path}`);
      expect(status, path).toBe(400);
      expect(body.error.message, path).toContain(field);
    }
  });

  it("say what is running and which controls the page can offer", async () => {
    const { body } = await getJson<StatusResponse>("/admin/dashboard/status");
    expect(body.policy.hash).toBe(gw.gateway.runtime().policy.hash);
    expect(body.store).toMatchObject({ description: "memory", up: true });
    expect(body.features.quarantine).toBe(gw.gateway.app.hasRoute({ method: "GET", url: "/admin/quarantine" }));
    expect(body.features.incidents).toBe(gw.gateway.app.hasRoute({ method: "GET", url: "/admin/incidents" }));
    const policies = await getJson<PoliciesResponse>("/admin/dashboard/policies");
    expect(policies.body.current.hash).toBe(body.policy.hash);
    expect(Date.parse(policies.body.until) - Date.parse(policies.body.since)).toBe(30 * 86_400_000);
  });

  it("list the policies that made decisions in a window, from the store", async () => {
    const { body } = await getJson<PoliciesResponse>("/admin/dashboard/policies?since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z");
    expect(body.versions).toEqual([
      { policyName: "default", policyHash: decisions[0]!.policyHash, decisions: decisions.length, firstSeen: decisions[0]!.time, lastSeen: decisions[decisions.length - 1]!.time },
    ]);
  });

  it("measure the running policy against the threat library's policy controls", async () => {
    const { body } = await getJson<CoverageResponse>("/admin/dashboard/coverage");
    expect(body.policyHash).toBe(gw.gateway.runtime().policy.hash);
    expect(body.summary.controls).toBe(body.controls.length);
    expect(body.summary.enforced).toBe(body.controls.filter((control) => control.status === "enforced").length);
    expect(body.summary.enforced).toBeGreaterThan(0);
    expect(body.summary.threatsCovered).toBeLessThanOrEqual(body.summary.threats);
    expect(body.controls.find((control) => control.status === "missing")?.reason).toBeTruthy();
  });
});

describe("threat-model coverage with a system model", () => {
  it("assesses the model's threats against the running policy, with the latest scheduled scan's results as evidence", async () => {
    const model = await loadThreatModelFile(fileURLToPath(new URL("../../docs/examples/support-bot.model.yaml", import.meta.url)));
    const results = fileURLToPath(new URL("../../docs/examples/support-bot.results.json", import.meta.url));
    const modelStore = new MemoryEventStore();
    const scanEvent: SignalEvent = { kind: "signal", id: "sig_scan_1", time: new Date().toISOString(), type: "scan.completed", severity: "info", principal: "scanner", summary: "Scheduled scan nightly", detail: { schedule: "nightly", results, total: 10, failed: 0 } };
    const withModel = await startGateway(testConfig(upstream.url), { store: modelStore, threatModel: model });
    try {
      const before = (await (await fetch(`${withModel.url}/admin/dashboard/coverage`, { headers: admin })).json()) as CoverageResponse;
      expect(before.model).toMatchObject({ name: model.model.name, evidence: null });
      expect(before.model!.threats).toBeGreaterThan(0);
      expect(before.model!.tested.tested_held + before.model!.tested.tested_failed).toBe(0);
      expect(before.model!.tested.untested).toBeGreaterThan(0);
      expect(before.model!.top[0]!.rank).toBe(1);
      await modelStore.append([scanEvent]);
      const after = (await (await fetch(`${withModel.url}/admin/dashboard/coverage`, { headers: admin })).json()) as CoverageResponse;
      expect(after.model!.evidence).toBe(results);
      expect(after.model!.tested.tested_held + after.model!.tested.tested_failed).toBeGreaterThan(0);
      expect(Object.values(after.model!.residual).reduce((sum, count) => sum + count, 0)).toBeLessThanOrEqual(after.model!.threats);
    } finally {
      await withModel.close();
    }
    // Without a model, the library's controls only.
    expect(((await getJson<CoverageResponse>("/admin/dashboard/coverage")).body).model).toBeNull();
  });
});

describe("window and bucket arithmetic", () => {
  it("defaults to the last hour and keeps a window within 120 buckets of whole minutes", () => {
    const now = Date.parse(FIXED_UNTIL);
    expect(resolveWindow({}, now)).toEqual({ since: "2026-01-01T11:00:00.000Z", until: FIXED_UNTIL });
    expect(bucketFor(15 * 60_000)).toBe(60);
    expect(bucketFor(3_600_000)).toBe(60);
    expect(bucketFor(6 * 3_600_000)).toBe(300);
    expect(bucketFor(86_400_000)).toBe(900);
    expect(bucketFor(7 * 86_400_000)).toBe(10_800);
    expect(bucketFor(92 * 86_400_000)).toBe(86_400);
  });
});

describe("demo traffic", () => {
  it("sends labelled ordinary requests and attacks, with bursts, through the gateway", async () => {
    expect(sampleAt(4).kind).toBe("attack");
    expect([0, 1, 2, 3, 5].map((n) => sampleAt(n).kind)).toEqual(["benign", "benign", "benign", "benign", "benign"]);
    const open = await startGateway({ ...testConfig(upstream.url), keys: [] });
    try {
      // The demo model name is not one the mock upstream knows, so it echoes: the input decisions are what counts.
      const traffic = startDemoTraffic({ url: open.url, intervalMs: 20, burstEvery: 6, burstSize: 3 });
      await expect.poll(() => traffic.answered(), { timeout: 10_000 }).toBeGreaterThanOrEqual(12);
      await traffic.stop();
      const sent = traffic.sent();
      await open.gateway.writer.flush(5_000);
      const events = (await open.store.list({ kind: "decision", limit: 1000 })).map((stored) => stored.event as DecisionEvent);
      const inputs = events.filter((event) => event.stage === "input");
      // stop() cuts off requests in flight: each one the gateway answered made a decision, and none came from elsewhere.
      expect(inputs.length).toBeGreaterThanOrEqual(traffic.answered());
      expect(inputs.length).toBeLessThanOrEqual(sent);
      expect(traffic.answered()).toBeGreaterThanOrEqual(10);
      expect(inputs.every((event) => event.requestId.startsWith(DEMO_TRAFFIC_PREFIX) && event.principal === "anonymous")).toBe(true);
      expect(inputs.filter((event) => event.action === "block").length).toBeGreaterThanOrEqual(3);
      expect(inputs.filter((event) => event.action === "allow").length).toBeGreaterThanOrEqual(4);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(traffic.sent()).toBe(sent); // stopped means stopped
    } finally {
      await open.close();
    }
  });
});
