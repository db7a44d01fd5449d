/**
 * The real command in a child process: `bulwark serve` on the embedded store,
 * reloaded by SIGHUP, stopped by SIGTERM while requests are in flight; then
 * `bulwark audit verify` on what it wrote.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashKey } from "../../src/gateway/identity.js";
import { pgliteDataDir } from "../store/fixtures.js";
import { CLIENT_KEY, TEST_POLICY, UPSTREAM_SECRET, post, startMockUpstream, testConfig, type MockUpstream } from "./helpers.js";

const CLI = new URL("./fixtures/cli.ts", import.meta.url).pathname;
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

interface Run {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
}

function run(args: string[]): Run {
  const child = spawn(process.execPath, ["--import", TSX, CLI, ...args], { env: { ...process.env, TEST_UPSTREAM_KEY: UPSTREAM_SECRET }, stdio: ["ignore", "pipe", "pipe"] });
  const result: Run = { child, stdout: "", stderr: "", exited: new Promise((resolve) => child.once("exit", (code) => resolve(code))) };
  child.stdout!.on("data", (data: Buffer) => (result.stdout += data.toString()));
  child.stderr!.on("data", (data: Buffer) => (result.stderr += data.toString()));
  return result;
}

async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let upstream: MockUpstream;
let storeDir: string;
let configFile: string;
let gateway: Run | undefined;

beforeAll(async () => {
  upstream = await startMockUpstream();
  storeDir = await pgliteDataDir();
  configFile = join(dirname(storeDir), "gateway.yaml");
  writeFileSync(join(dirname(storeDir), "policy.yaml"), stringify(TEST_POLICY));
}, 180_000);
afterAll(async () => {
  if (gateway && gateway.child.exitCode === null) gateway.child.kill("SIGKILL");
  await upstream?.close();
  rmSync(dirname(storeDir), { recursive: true, force: true });
});

const config = (extraKeys: Array<{ id: string; principal: string; hash: string }> = []) => {
  const base = testConfig(upstream.url, { store: { url: `pglite:${storeDir}`, flushIntervalMs: 50 }, log: { level: "info" }, policy: "policy.yaml" });
  return stringify({ ...base, upstream: { ...base.upstream, headersTimeoutMs: 10_000 }, keys: [...base.keys!, ...extraKeys] });
};

describe("bulwark serve as a process", () => {
  it("reloads on SIGHUP, and on SIGTERM stops accepting, drains in-flight requests, flushes every event and exits 0", async () => {
    writeFileSync(configFile, config());
    gateway = run(["serve", "--config", configFile, "--port", "0", "--no-watch"]);
    const url = await waitFor(() => /listening on (http:\/\/[^\s]+)/.exec(gateway!.stderr)?.[1], 120_000, `the gateway to listen (stderr: ${gateway.stderr})`);
    const chat = `${url}/v1/chat/completions`;
    const ask = (content: string, model = "echo") => ({ model, messages: [{ role: "user", content }] });

    const hupKey = "bwk_added_on_sighup_0123456789abcdef";
    expect((await post(chat, ask("What time zone is Lisbon in?"), hupKey)).status).toBe(401);
    writeFileSync(configFile, config([{ id: "hup", principal: "app", hash: hashKey(hupKey) }]));
    gateway.child.kill("SIGHUP");
    await waitFor(async () => ((await post(chat, ask("What time zone is Lisbon in?"), hupKey)).status === 200 ? true : undefined), 20_000, "the reload");

    // Five slow requests in flight (the upstream takes 1.5 s to answer), then SIGTERM.
    const before = upstream.requests.length;
    const inFlight = Array.from({ length: 5 }, (_, i) => post(chat, ask(`Slow question number ${i + 1} about rivers?`, "slow-echo")));
    await waitFor(() => (upstream.requests.length >= before + 5 ? true : undefined), 20_000, "the requests to reach the upstream");
    gateway.child.kill("SIGTERM");
    // Readiness turns 503 as soon as the drain begins.
    await waitFor(async () => ((await fetch(`${url}/readyz`)).status === 503 ? true : undefined), 10_000, "the shutdown to begin");
    // Arriving during the drain: refused cleanly, not reset.
    const late = await post(chat, ask("Am I too late?"));
    expect(late.status).toBe(503);
    expect(late.json).toMatchObject({ error: { code: "shutting_down" } });
    const answers = await Promise.all(inFlight);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200]);
    expect(answers.map((answer) => (answer.json.choices as Array<{ message: { content: string } }>)[0]!.message.content)).toEqual(
      Array.from({ length: 5 }, (_, i) => `You said: Slow question number ${i + 1} about rivers?`),
    );
    const code = await gateway.exited;
    expect(code, gateway.stderr).toBe(0);
    expect(gateway.stderr).toMatch(/stopped: 5 requests in flight, drained fully, \d+ events written, 0 unwritten, 0 dropped/);
    // After exit nothing listens any more.
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();

    // Structured logs: one JSON line per request, and no credential anywhere in them.
    const lines = gateway.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.filter((line) => line.msg === "request" && line.route === "/v1/chat/completions").length).toBeGreaterThanOrEqual(8);
    expect(lines.some((line) => line.msg === "configuration reloaded" && line.reason === "SIGHUP")).toBe(true);
    expect(gateway.stdout).not.toContain(CLIENT_KEY);
    expect(gateway.stdout).not.toContain(hupKey);
    expect(gateway.stdout).not.toContain(UPSTREAM_SECRET);

    // Every decision of those requests reached the store, on a chain that verifies.
    const verify = run(["audit", "verify", "--store", `pglite:${storeDir}`]);
    expect(await verify.exited, verify.stderr).toBe(0);
    const result = JSON.parse(verify.stdout) as { ok: boolean; events: number };
    expect(result.ok).toBe(true);
    expect(result.events).toBeGreaterThanOrEqual(2 * 5 + 2); // input and output decision per slow request, plus the earlier ones
  }, 180_000);
});
