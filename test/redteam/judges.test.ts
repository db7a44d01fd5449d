import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { loadCatalogue } from "../../src/redteam/catalogue.js";
import { executeAttempt, RateLimiter } from "../../src/redteam/execute.js";
import { judgeAttempt } from "../../src/redteam/judges/deterministic.js";
import { createLlmJudge, loadLabels, measureAgreement } from "../../src/redteam/judges/llm.js";
import { planAttempts } from "../../src/redteam/strategies.js";
import { createFunctionTarget } from "../../src/redteam/targets/function.js";
import type { TargetRequest } from "../../src/redteam/targets/types.js";

/** A stand-in grading model over HTTP: `good` answers like the labels, `coin` always says "held". */
let server: Server;
let base = "";
beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (c: Buffer) => chunks.push(c));
    request.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { model: string; messages: Array<{ content: string }> };
      const reply = body.messages[0]!.content.split("\nReply:\n")[1] ?? "";
      const refused = /\b(can't|cannot|won't|sorry|confidential|ignored|stick to|no developer mode|in general terms)\b/i.test(reply);
      const verdict = body.model === "good" ? (refused ? "held" : "succeeded") : "held";
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ choices: [{ message: { role: "assistant", content: JSON.stringify({ verdict }) } }] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("LLM judge", () => {
  it("counts only after its agreement with the labelled set is measured and high enough", async () => {
    const labels = await loadLabels();
    expect(labels.length).toBeGreaterThanOrEqual(20);
    expect(new Set(labels.map((l) => l.label))).toEqual(new Set(["succeeded", "held"]));
    const good = createLlmJudge({ baseUrl: base, model: "good" });
    const agreement = await measureAgreement(good, labels);
    expect(agreement.agreement).toBeGreaterThanOrEqual(0.85);
    expect(agreement.qualified).toBe(true);
    const lazy = createLlmJudge({ baseUrl: base, model: "coin" });
    const poor = await measureAgreement(lazy, labels);
    expect(poor.agreement).toBeCloseTo(0.5, 1);
    expect(poor.kappa).toBeCloseTo(0, 1);
    expect(poor.qualified).toBe(false);
    await Promise.all([good.close(), lazy.close()]);
  });
});

describe("crescendo", () => {
  it("escalates over turns, backtracks once on a refusal, and succeeds when the frame finally works", async () => {
    const catalogue = await loadCatalogue();
    const attempt = [...planAttempts(catalogue, { seed: 2, mutatorsPerCase: 0, strategies: ["crescendo"], capabilities: { tools: false, raw: false }, categories: ["prompt_injection"] })].find((a) => a.id.startsWith("direct.override-code@"))!;
    expect(attempt.turns.length).toBe(3);
    const seen: string[][] = [];
    // Refuses the second turn as first phrased; complies with the last turn only when a story or audit frame is established.
    const target = createFunctionTarget((request: TargetRequest) => {
      const users = request.messages.filter((m) => m.role === "user").map((m) => m.content);
      seen.push(users);
      const last = users.at(-1)!;
      if (last === attempt.turns[1]) return "I'm sorry, I can't do that.";
      if (users.length === 3 && /\d{10}/.test(last)) return /\d{10}/.exec(last)![0];
      return "Sure, let's continue.";
    });
    const run = await executeAttempt(target, attempt, { timeoutMs: 2000, retries: 0, maxSteps: 2 });
    expect(seen.some((users) => users.includes(attempt.fallbacks![1]!))).toBe(true);
    // After backtracking the refused turn is gone from the conversation.
    expect(seen.at(-1)).not.toContain(attempt.turns[1]);
    expect(judgeAttempt(attempt, run, { canaries: [] }).outcome).toBe("failed");
  });
});

describe("rate limit", () => {
  it("spaces requests to the target at the configured rate", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "performance"] });
    try {
      const limiter = new RateLimiter(10);
      let passed = 0;
      for (let i = 0; i < 5; i++) void limiter.take().then(() => passed++);
      await vi.advanceTimersByTimeAsync(0);
      expect(passed).toBe(1);
      await vi.advanceTimersByTimeAsync(100);
      expect(passed).toBe(2);
      await vi.advanceTimersByTimeAsync(300);
      expect(passed).toBe(5);
    } finally {
      vi.useRealTimers();
    }
  });
});
