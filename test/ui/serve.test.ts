/**
 * `bulwark serve` on embedded defaults, as a child process: it makes an admin key for the session, prints
 * the dashboard's sign-in link, and feeds the dashboard with labelled demo traffic through the offline demo
 * upstream, which stops cleanly on SIGINT.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { expect, it } from "vitest";
import type { DecisionsResponse, StatusResponse } from "../../src/gateway/dashboard-types.js";

const CLI = new URL("../gateway/fixtures/cli.ts", import.meta.url).pathname;
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

it("prints a sign-in link for the dashboard and shows live demo traffic in it", async () => {
  const child = spawn(process.execPath, ["--import", TSX, CLI, "serve", "--store", "memory", "--port", "0", "--log-level", "warn"], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (data: Buffer) => (stderr += data.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  try {
    await expect.poll(() => stderr, { timeout: 30_000, interval: 100 }).toContain("Demo traffic:");
    const link = /dashboard: (http:\/\/127\.0\.0\.1:\d+)\/ui\/#key=([A-Za-z0-9_-]+)/.exec(stderr);
    expect(link, stderr).not.toBeNull();
    const [, base, key] = link!;
    const get = async <T>(path: string, authorization = `Bearer ${key}`): Promise<{ status: number; body: T }> => {
      const response = await fetch(`${base}${path}`, { headers: { authorization } });
      return { status: response.status, body: (await response.json()) as T };
    };
    expect((await get<StatusResponse>("/admin/dashboard/status")).body.upstream).toContain("127.0.0.1");
    expect((await get("/admin/dashboard/status", "Bearer bwk_guess")).status).toBe(401);
    expect((await fetch(`${base}/ui/`)).status).toBe(200);
    // Demo traffic arrives without anyone sending a request.
    await expect
      .poll(async () => (await get<DecisionsResponse>("/admin/dashboard/decisions?limit=5")).body.data.map((row) => row.requestId), { timeout: 15_000, interval: 250 })
      .toContainEqual(expect.stringMatching(/^demo-traffic-\d+$/));
    // The tour's anonymous requests still work alongside it.
    const ask = await fetch(`${base}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "bulwark-demo", messages: [{ role: "user", content: "How do refunds work?" }] }) });
    expect(ask.status).toBe(200);
  } finally {
    child.kill("SIGINT");
  }
  expect(await exited).toBe(0);
  expect(stderr).toMatch(/stopped: .* 0 dropped/);
}, 60_000);
