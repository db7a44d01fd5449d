import { createHmac } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { AlertDispatcher, AlertsConfig, type AlertOutcome, type AlertsInput } from "../../src/monitor/alerts.js";
import type { SignalEvent } from "../../src/store/types.js";
import { sortableId } from "../../src/util/sortable-id.js";

interface Receiver {
  readonly url: string;
  readonly bodies: Array<Record<string, unknown>>;
  readonly requests: Array<{ headers: IncomingMessage["headers"]; raw: string }>;
  /** Status codes to answer with, in order; 200 once they run out. */
  readonly script: number[];
  hits: number;
  close(): Promise<void>;
}

const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((receiver) => receiver.close()));
});

async function startReceiver(script: number[] = []): Promise<Receiver> {
  const receiver: Receiver = { url: "", bodies: [], requests: [], script, hits: 0, close: async () => undefined };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      receiver.hits++;
      receiver.requests.push({ headers: req.headers, raw: Buffer.concat(chunks).toString("utf8") });
      const status = receiver.script.shift() ?? 200;
      if (status === 200) receiver.bodies.push(JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>);
      res.writeHead(status, status === 429 ? { "retry-after": "0" } : {});
      res.end(status === 200 ? "ok" : "nope");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  Object.assign(receiver, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
  receivers.push(receiver);
  return receiver;
}

const signal = (over: Partial<SignalEvent> = {}): SignalEvent => ({
  kind: "signal",
  id: sortableId(),
  time: new Date().toISOString(),
  type: "incident.opened",
  severity: "high",
  principal: "app",
  summary: "Incident opened: Prompt-injection burst (principal app), 5 events",
  detail: { incident: sortableId(), rule: "injection-burst", title: "Prompt-injection burst", status: "open", events: 5, runbook: "https://runbooks.example/injection", by: "bulwark" },
  ...over,
});

function dispatcher(input: AlertsInput): { alerts: AlertDispatcher; outcomes: Array<[string, AlertOutcome]>; retries: number[] } {
  const outcomes: Array<[string, AlertOutcome]> = [];
  const retries: number[] = [];
  const alerts = new AlertDispatcher(AlertsConfig.parse(input), { hooks: { outcome: (name, outcome) => outcomes.push([name, outcome]), retry: (_name, attempt) => retries.push(attempt) } });
  return { alerts, outcomes, retries };
}

describe("alert bodies", () => {
  it("sends the generic JSON body and the Slack-compatible body (text and blocks) with the runbook link", async () => {
    const json = await startReceiver();
    const slack = await startReceiver();
    const { alerts, outcomes } = dispatcher({
      webhooks: [
        { name: "ops", url: json.url },
        { name: "chat", url: slack.url, format: "slack" },
      ],
      linkBase: "https://bulwark.example.com",
    });
    const event = signal();
    alerts.observe(event);
    expect(await alerts.flush(5_000)).toBe(true);
    expect(json.bodies).toHaveLength(1);
    expect(json.bodies[0]).toMatchObject({
      source: "bulwark",
      version: 1,
      type: "incident.opened",
      severity: "high",
      title: "Incident opened: Prompt-injection burst",
      summary: event.summary,
      eventId: event.id,
      principal: "app",
      count: 1,
      repeat: false,
      incident: { id: event.detail.incident, rule: "injection-burst", status: "open", runbook: "https://runbooks.example/injection", link: `https://bulwark.example.com/admin/incidents/${String(event.detail.incident)}` },
    });
    const body = slack.bodies[0] as { text: string; blocks: Array<{ type: string; text?: { text: string }; fields?: Array<{ text: string }>; elements?: Array<{ text: string }> }> };
    expect(body.text).toBe(`[HIGH] Incident opened: Prompt-injection burst: ${event.summary}`);
    expect(body.blocks.map((block) => block.type)).toEqual(["header", "section", "section", "context"]);
    expect(body.blocks[0]!.text!.text).toBe("Incident opened: Prompt-injection burst");
    expect(body.blocks[2]!.fields!.map((field) => field.text)).toContain("*Severity*\nhigh");
    expect(body.blocks[3]!.elements![0]!.text).toContain("<https://runbooks.example/injection|Runbook>");
    expect(outcomes.map(([name, outcome]) => `${name}:${outcome}`).sort()).toEqual(["chat:delivered", "ops:delivered"]);
    await alerts.close();
  });

  it("sends only the signal types and severities a webhook asks for", async () => {
    const receiver = await startReceiver();
    const { alerts } = dispatcher({ webhooks: [{ name: "ops", url: receiver.url, types: ["anomaly.", "scan.regression"], minSeverity: "medium" }] });
    alerts.observe(signal()); // incident.*: not asked for
    alerts.observe(signal({ type: "anomaly.rate", severity: "low", detail: {} })); // too mild
    alerts.observe(signal({ type: "anomaly.rate", severity: "medium", summary: "rate anomaly", detail: {} }));
    alerts.observe(signal({ type: "scan.regression", severity: "high", summary: "regressed", detail: {} }));
    alerts.observe(signal({ type: "scan.completed", severity: "high", detail: {} }));
    await alerts.flush(5_000);
    expect(receiver.bodies.map((body) => body.type).sort()).toEqual(["anomaly.rate", "scan.regression"]);
    await alerts.close();
  });
});

describe("secrets from the environment", () => {
  it("reads the URL and headers from environment variables and signs the body", async () => {
    const receiver = await startReceiver();
    const outcomes: Array<[string, AlertOutcome, string | undefined]> = [];
    const config = AlertsConfig.parse({
      webhooks: [
        { name: "signed", urlEnv: "HOOK_URL", headersEnv: { Authorization: "HOOK_TOKEN" }, signingSecretEnv: "HOOK_SECRET" },
        { name: "unset", urlEnv: "HOOK_URL_UNSET" },
      ],
    });
    const alerts = new AlertDispatcher(config, { env: { HOOK_URL: receiver.url, HOOK_TOKEN: "Bearer t0ken", HOOK_SECRET: "s3cret" }, hooks: { outcome: (name, outcome, detail) => outcomes.push([name, outcome, detail.error]) } });
    alerts.observe(signal());
    await alerts.flush(5_000);
    const [request] = receiver.requests;
    expect(request!.headers.authorization).toBe("Bearer t0ken");
    expect(request!.headers["x-bulwark-signature"]).toBe(`sha256=${createHmac("sha256", "s3cret").update(request!.raw).digest("hex")}`);
    expect(outcomes).toEqual(expect.arrayContaining([["signed", "delivered", undefined], ["unset", "failed", "the environment variable HOOK_URL_UNSET (urlEnv) is unset"]]));
    await alerts.close();
  });

  it("needs exactly one of url and urlEnv", () => {
    expect(AlertsConfig.safeParse({ webhooks: [{ name: "x" }] }).error?.issues[0]).toMatchObject({ path: ["webhooks", 0, "url"], message: "exactly one of url and urlEnv" });
    expect(AlertsConfig.safeParse({ webhooks: [{ name: "x", url: "http://a.example/", urlEnv: "X" }] }).success).toBe(false);
  });
});

describe("delivery", () => {
  it("retries a receiver that fails first (500, 429) and delivers once, with bounded exponential backoff", async () => {
    const receiver = await startReceiver([500, 429]);
    const { alerts, outcomes, retries } = dispatcher({ webhooks: [{ name: "ops", url: receiver.url, retries: 3, backoffMs: 20, maxBackoffMs: 100 }] });
    alerts.observe(signal());
    expect(await alerts.flush(5_000)).toBe(true);
    expect(receiver.hits).toBe(3);
    expect(receiver.bodies).toHaveLength(1);
    expect(retries).toEqual([1, 2]);
    expect(outcomes).toEqual([["ops", "delivered"]]);
    await alerts.close();
  });

  it("gives up after its retries, and at once on a 4xx that retrying cannot fix; never throws", async () => {
    const failing = await startReceiver([503, 503, 503, 503]);
    const refusing = await startReceiver([400]);
    const { alerts, outcomes, retries } = dispatcher({
      webhooks: [
        { name: "down", url: failing.url, retries: 2, backoffMs: 10, maxBackoffMs: 20 },
        { name: "refusing", url: refusing.url, retries: 2, backoffMs: 10 },
        { name: "nowhere", url: "http://127.0.0.1:9/hook", retries: 1, backoffMs: 10, timeoutMs: 500 },
      ],
    });
    expect(() => alerts.observe(signal())).not.toThrow();
    expect(await alerts.flush(5_000)).toBe(true);
    expect(failing.hits).toBe(3);
    expect(refusing.hits).toBe(1);
    expect(outcomes.filter(([, outcome]) => outcome === "failed").map(([name]) => name).sort()).toEqual(["down", "nowhere", "refusing"]);
    expect(retries.length).toBe(3); // two for "down", one for "nowhere"
    await alerts.close();
  });

  it("deduplicates: the same key within the window is sent once, then once more with the count when the window closes", async () => {
    const receiver = await startReceiver();
    const { alerts, outcomes } = dispatcher({ webhooks: [{ name: "ops", url: receiver.url, types: ["anomaly."] }], dedupeWindowSeconds: 1 });
    for (let i = 0; i < 5; i++) alerts.observe(signal({ type: "anomaly.rate", severity: "medium", summary: `burst ${i}`, detail: {} }));
    alerts.observe(signal({ type: "anomaly.rate", severity: "medium", principal: "other", summary: "someone else", detail: {} }));
    await alerts.flush(5_000);
    expect(receiver.bodies.map((body) => [body.principal, body.count, body.repeat])).toEqual([
      ["app", 1, false],
      ["other", 1, false],
    ]);
    expect(outcomes.filter(([, outcome]) => outcome === "deduplicated")).toHaveLength(4);
    await new Promise((resolve) => setTimeout(resolve, 1_300));
    await alerts.flush(5_000);
    expect(receiver.bodies).toHaveLength(3);
    expect(receiver.bodies[2]).toMatchObject({ principal: "app", count: 5, repeat: true, summary: "burst 4" });
    await alerts.close();
  });

  it("has a rate limit of its own: alerts beyond it are dropped, counted, and reported with the next one sent", async () => {
    const receiver = await startReceiver();
    let clock = 1_000_000;
    const outcomes: AlertOutcome[] = [];
    const alerts = new AlertDispatcher(AlertsConfig.parse({ webhooks: [{ name: "ops", url: receiver.url }], dedupeWindowSeconds: 0, rateLimit: { perMinute: 60, burst: 2 } }), { now: () => clock, hooks: { outcome: (_name, outcome) => outcomes.push(outcome) } });
    for (let i = 0; i < 5; i++) alerts.observe(signal());
    clock += 1_000; // one token back
    alerts.observe(signal());
    await alerts.flush(5_000);
    expect(receiver.bodies.map((body) => body.droppedByRateLimit)).toEqual([0, 0, 3]);
    expect(outcomes.filter((outcome) => outcome === "rate_limited")).toHaveLength(3);
    await alerts.close();
  });
});
