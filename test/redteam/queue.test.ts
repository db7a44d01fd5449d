import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { loadCatalogue } from "../../src/redteam/catalogue.js";
import { createQueueExecutor, startScanWorker } from "../../src/redteam/queue.js";
import { runScan } from "../../src/redteam/runner.js";
import { createDemoTarget } from "../../src/redteam/targets/function.js";

const REDIS = process.env.BULWARK_TEST_REDIS_URL;
if (!REDIS) console.warn("NOTICE: BULWARK_TEST_REDIS_URL is not set; the two-worker queue test is skipped (.ci/run sets it to redis://127.0.0.1:6379)");

describe.runIf(REDIS)("scan through a Redis queue", () => {
  it("two workers on loopback share the attempts and the results equal a local run", async () => {
    // Fail fast, with the reason, when the promised Redis is not there (BullMQ would otherwise retry until the test times out).
    const probe = new Redis(REDIS!, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null });
    const pong = await probe.connect().then(() => probe.ping(), (error: Error) => `unreachable: ${error.message}`);
    probe.disconnect();
    expect(pong, `BULWARK_TEST_REDIS_URL=${REDIS} is set but Redis is not answering`).toBe("PONG");
    const catalogue = await loadCatalogue();
    const plan = { seed: 31, mutatorsPerCase: 1, strategies: ["single"] as const, categories: ["prompt_injection", "excessive_agency", "indirect_injection"] as const };
    const queueName = `bulwark-test-${process.pid}-${Date.now()}`;
    const workers = await Promise.all([1, 2].map(() => startScanWorker({ redisUrl: REDIS!, queueName, target: createDemoTarget(7), catalogue, concurrency: 2 })));
    const queue = await createQueueExecutor({ redisUrl: REDIS!, queueName });
    try {
      const tmp = mkdtempSync(join(tmpdir(), "bulwark-queue-"));
      const distributed = await runScan({ target: createDemoTarget(7), catalogue, plan: { ...plan, categories: [...plan.categories], strategies: [...plan.strategies] }, outDir: join(tmp, "q"), concurrency: 8, executor: queue.executor });
      const local = await runScan({ target: createDemoTarget(7), catalogue, plan: { ...plan, categories: [...plan.categories], strategies: [...plan.strategies] }, outDir: join(tmp, "l"), concurrency: 4 });
      expect(distributed.summary).toEqual(local.summary);
      expect(distributed.categories).toEqual(local.categories);
      const [one, two] = workers.map((w) => w.completed());
      expect(one! + two!).toBe(local.ran);
      expect(one).toBeGreaterThan(0);
      expect(two).toBeGreaterThan(0);
    } finally {
      await queue.close();
      await Promise.all(workers.map((w) => w.close()));
    }
  });
});
