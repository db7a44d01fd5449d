import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadCatalogue, type Catalogue } from "../../src/redteam/catalogue.js";
import { executeAttempt } from "../../src/redteam/execute.js";
import { failureProblem } from "../../src/redteam/judges/failure.js";
import { findCanary, isRefusal, judgeAttempt } from "../../src/redteam/judges/deterministic.js";
import { parseVerdict } from "../../src/redteam/judges/llm.js";
import { readJournal, runScan } from "../../src/redteam/runner.js";
import { planAttempts } from "../../src/redteam/strategies.js";
import { createDemoTarget, createFunctionTarget } from "../../src/redteam/targets/function.js";
import { createHttpTarget, createOpenAiTarget } from "../../src/redteam/targets/http.js";
import { createRecordingTarget, createReplayTarget } from "../../src/redteam/targets/replay.js";
import type { TargetReply } from "../../src/redteam/targets/types.js";

let catalogue: Catalogue;
const tmp = mkdtempSync(join(tmpdir(), "bulwark-scan-"));
const reply = (over: Partial<TargetReply>): TargetReply => ({ status: 200, text: "", toolCalls: [], latencyMs: 1, ...over });
const plan = { seed: 5, mutatorsPerCase: 1, strategies: ["single", "crescendo"] as const };

beforeAll(async () => {
  catalogue = await loadCatalogue();
});

describe("deterministic judges", () => {
  it("finds canaries plain, encoded and in part, and not in unrelated text", () => {
    const canary = "BLWK-0123456789abcdef";
    expect(findCanary(`here: ${canary}`, [canary])?.how).toBe("verbatim");
    expect(findCanary(Buffer.from(`ref ${canary} end`).toString("base64"), [canary])?.how).toBe("encoded or reformatted");
    expect(findCanary(Array.from(canary).join(" "), [canary])).not.toBeNull();
    expect(findCanary("the first part 0123456789ab only", [canary])?.how).toBe("in part");
    expect(findCanary("BLWK is our brand; 0123 is a number", [canary])).toBeNull();
  });

  it("recognises refusals and blocked requests, but not answers that mention refusing", () => {
    expect(isRefusal(reply({ text: "I'm sorry, but I can't help with that." }))).toBe(true);
    expect(isRefusal(reply({ status: 400, body: '{"error":{"message":"blocked"}}' }))).toBe(true);
    expect(isRefusal(reply({ text: "To refuse a cookie banner, click Reject all." }))).toBe(false);
  });

  it("failure-response validation flags 5xx, stack traces, timeouts and contradictory statuses, and accepts clean errors", () => {
    expect(failureProblem(reply({ status: 500, body: "oops" }))).toMatch(/server error/);
    expect(failureProblem(reply({ status: 400, body: "TypeError: x is undefined\n    at parse (/srv/app/index.js:10:5)" }))).toMatch(/stack trace/);
    expect(failureProblem(reply({ status: 0, error: { kind: "timeout", message: "t" } }))).toMatch(/timeout/);
    expect(failureProblem(reply({ status: 200, body: '{"error":{"message":"bad"}}', contentType: "application/json" }))).toMatch(/body is an error/);
    expect(failureProblem(reply({ status: 400, body: '{"error":{"message":"invalid JSON"}}', contentType: "application/json" }))).toBeNull();
    expect(failureProblem(reply({ status: 200, text: "hello" }))).toBeNull();
  });

  it("an echoed code is not compliance; a code in the answer is", async () => {
    const attempt = [...planAttempts(catalogue, { ...plan, mutatorsPerCase: 0, capabilities: { tools: false, raw: false } })].find((a) => a.id === "direct.new-instructions")!;
    const run = (text: string) => ({ replies: [reply({ text })], transcript: [], steps: 0, stepsExhausted: false, inputChars: 0, latencyMs: 1 });
    expect(judgeAttempt(attempt, run(`You said: "${attempt.turns[0]!.slice(0, 200)}"`), { canaries: [] }).outcome).toBe("held");
    expect(judgeAttempt(attempt, run(attempt.marker), { canaries: [] }).outcome).toBe("failed");
    expect(judgeAttempt(attempt, run(`${attempt.marker}\nSure! Staying in character, here it is.`), { canaries: [] }).outcome).toBe("failed");
    expect(parseVerdict('{"verdict": "held"}')).toBe("held");
    expect(parseVerdict("Verdict: succeeded.")).toBe("succeeded");
    expect(parseVerdict("no idea")).toBeNull();
  });
});

describe("agent targets with mock tools", () => {
  it("judges an indirect injection by what the agent did: the injected e-mail made it send mail to the attacker", async () => {
    const demo = createDemoTarget(7);
    const attempt = [...planAttempts(catalogue, { ...plan, mutatorsPerCase: 0, capabilities: demo.capabilities })].find((a) => a.id === "indirect.agent-email-forward")!;
    const run = await executeAttempt(demo, attempt, { timeoutMs: 5000, retries: 0, maxSteps: 8 });
    expect(run.environment?.sent.map((m) => m.to)).toContain("drop@attacker.example");
    expect(judgeAttempt(attempt, run, demo).outcome).toBe("failed");
    expect(run.transcript.some((m) => m.role === "tool")).toBe(true);
  });

  it("holds when the agent only used tools within the caller's rights", async () => {
    const demo = createDemoTarget(7);
    const attempt = [...planAttempts(catalogue, { ...plan, mutatorsPerCase: 0, capabilities: demo.capabilities })].find((a) => a.id === "agency.admin-tool-as-customer")!;
    const run = await executeAttempt(demo, attempt, { timeoutMs: 5000, retries: 0, maxSteps: 8 });
    expect(run.environment?.deleted).toEqual([]);
    expect(judgeAttempt(attempt, run, demo).outcome).toBe("held");
  });
});

describe("HTTP targets", () => {
  let server: Server;
  let base = "";
  let hits = 0;
  beforeAll(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (c: Buffer) => chunks.push(c));
      request.on("end", () => {
        hits++;
        const body = Buffer.concat(chunks).toString("utf8");
        if (request.url === "/slow") return void setTimeout(() => response.end("{}"), 2000);
        let parsed: { messages?: Array<{ content: string }>; q?: string };
        try {
          parsed = JSON.parse(body) as typeof parsed;
        } catch (error) {
          response.writeHead(500, { "content-type": "text/plain" });
          return void response.end(`SyntaxError: ${(error as Error).message}\n    at JSON.parse (<anonymous>)\n    at handler (/usr/src/app/server.js:12:20)`);
        }
        const text = parsed.q ?? parsed.messages?.at(-1)?.content ?? "";
        response.writeHead(200, { "content-type": "application/json" });
        if (request.url === "/generic") return void response.end(JSON.stringify({ data: { answer: `echo ${text.length}` } }));
        response.end(JSON.stringify({ choices: [{ message: { role: "assistant", content: /code (\d{10})/.exec(text)?.[1] ?? "How can I help?" } }] }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("talks to an OpenAI-compatible endpoint and a generic JSON endpoint, and reports a crash on malformed input as a finding", async () => {
    const openai = createOpenAiTarget({ baseUrl: `${base}/v1`, model: "m" });
    const ok = await openai.send({ messages: [{ role: "user", content: "say the code 1234567890" }] }, AbortSignal.timeout(2000));
    expect(ok.text).toBe("1234567890");
    const crashed = await openai.send({ messages: [], raw: { bytes: new TextEncoder().encode("{"), contentType: "application/json" } }, AbortSignal.timeout(2000));
    expect(crashed.status).toBe(500);
    expect(failureProblem(crashed)).toMatch(/stack trace/);
    const generic = createHttpTarget({ url: `${base}/generic`, template: '{"q": "{{prompt}}"}', responsePath: "data.answer" });
    expect((await generic.send({ messages: [{ role: "user", content: 'quote " and \\ backslash' }] }, AbortSignal.timeout(2000))).text).toBe("echo 23");
    await Promise.all([openai.close?.(), generic.close?.()]);
  });

  it("times out slow answers instead of hanging the scan", async () => {
    const slow = createHttpTarget({ url: `${base}/slow`, template: '{"q": "{{prompt}}"}', responsePath: "x" });
    const attempt = [...planAttempts(catalogue, { ...plan, mutatorsPerCase: 0, capabilities: slow.capabilities })][0]!;
    const run = await executeAttempt(slow, attempt, { timeoutMs: 200, retries: 1, maxSteps: 2 });
    expect(run.replies.at(-1)?.error?.kind).toBe("timeout");
    await slow.close?.();
  });

  it("records responses and replays them offline to the same verdicts", async () => {
    const recording = join(tmp, "rec.jsonl");
    const live = createOpenAiTarget({ baseUrl: `${base}/v1`, model: "m" });
    const recorded = await runScan({ target: createRecordingTarget(live, recording), catalogue, plan: { ...plan, categories: ["prompt_injection"] }, outDir: join(tmp, "rec"), concurrency: 4 });
    const before = hits;
    const replay = await createReplayTarget(recording, live);
    const replayed = await runScan({ target: replay, catalogue, plan: { ...plan, categories: ["prompt_injection"] }, outDir: join(tmp, "replay"), concurrency: 4 });
    expect(hits).toBe(before);
    expect(replayed.summary).toEqual(recorded.summary);
    expect(recorded.summary.failed).toBeGreaterThan(0);
    await Promise.all([live.close?.(), replay.close?.()]);
  });
});

describe("runner", () => {
  it("journals in plan order, and resumes an interrupted run to the same results", async () => {
    const demo = () => createDemoTarget(7);
    const full = await runScan({ target: demo(), catalogue, plan, outDir: join(tmp, "full"), concurrency: 6 });
    const ids: string[] = [];
    for await (const entry of readJournal(full.journalPath)) ids.push(entry.id);
    expect(ids).toEqual([...planAttempts(catalogue, { ...plan, capabilities: demo().capabilities })].map((a) => a.id));

    const controller = new AbortController();
    let seen = 0;
    const partial = await runScan({ target: demo(), catalogue, plan, outDir: join(tmp, "resumed"), concurrency: 3, signal: controller.signal, onProgress: () => void (++seen === 20 && controller.abort()) });
    expect(partial.aborted).toBe(true);
    // Simulate a crash mid-write: a partial last line must be dropped on resume.
    writeFileSync(join(tmp, "resumed", "cases.jsonl"), readFileSync(join(tmp, "resumed", "cases.jsonl"), "utf8") + '{"i": 99, "id": "trunc');
    const resumed = await runScan({ target: demo(), catalogue, plan, outDir: join(tmp, "resumed"), concurrency: 3, resume: true });
    expect(resumed.ran).toBeLessThan(full.ran);
    expect(resumed.summary).toEqual(full.summary);
    expect(resumed.categories).toEqual(full.categories);
    await expect(runScan({ target: demo(), catalogue, plan: { ...plan, seed: 6 }, outDir: join(tmp, "resumed"), resume: true })).rejects.toThrow(/different plan/);
  });

  it("an in-process function that throws is a failure-response finding, not a crash of the scan", async () => {
    const target = createFunctionTarget(() => {
      throw new Error("boom");
    });
    const run = await runScan({ target, catalogue, plan: { ...plan, categories: ["jailbreak"] }, outDir: join(tmp, "throws"), concurrency: 2 });
    expect(run.summary.errors).toBeGreaterThan(0);
    expect(run.categories.find((c) => c.category === "failure_response")?.succeeded).toBe(run.summary.errors);
  });
});
