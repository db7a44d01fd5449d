/**
 * Spreading attempts over workers through a Redis-backed queue (BullMQ). The
 * coordinator (`bulwark scan --queue URL`) plans, journals and reports as
 * usual; only execution moves: each attempt becomes a job carrying the
 * filled-in attempt, a worker (`bulwark scan-worker --queue URL`) runs it
 * against its target and returns the judged case results. Jobs are added as
 * capacity frees up, so the queue never holds the whole plan.
 */
import { Queue, QueueEvents, Worker, type Job } from "bullmq";
import { Redis } from "ioredis";
import type { Catalogue } from "./catalogue.js";
import { executeAttempt } from "./execute.js";
import type { ScanCaseResult } from "./results.js";
import { recordsFor, type AttemptExecutor, type TranscriptMode } from "./runner.js";
import type { Attempt } from "./strategies.js";
import type { Target } from "./targets/types.js";

interface AttemptJob {
  readonly index: number;
  readonly id: string;
  readonly caseId: string;
  readonly mutators: readonly string[];
  readonly strategy: Attempt["strategy"];
  readonly marker: string;
  readonly turns: readonly string[];
  readonly fallbacks?: readonly (string | null)[];
  readonly raw?: { readonly base64: string; readonly contentType: string };
  readonly environment?: Attempt["environment"];
}

export function toJob(attempt: Attempt): AttemptJob {
  return {
    index: attempt.index,
    id: attempt.id,
    caseId: attempt.case.id,
    mutators: attempt.mutators,
    strategy: attempt.strategy,
    marker: attempt.marker,
    turns: attempt.turns,
    ...(attempt.fallbacks ? { fallbacks: attempt.fallbacks } : {}),
    ...(attempt.raw ? { raw: { base64: Buffer.from(attempt.raw.bytes).toString("base64"), contentType: attempt.raw.contentType } } : {}),
    ...(attempt.environment ? { environment: attempt.environment } : {}),
  };
}

export function fromJob(job: AttemptJob, catalogue: Catalogue): Attempt {
  const attackCase = catalogue.cases.find((c) => c.id === job.caseId);
  if (!attackCase) throw new Error(`case ${job.caseId} is not in this worker's catalogue (version ${catalogue.version}): run workers with the coordinator's catalogue`);
  return {
    index: job.index,
    id: job.id,
    case: attackCase,
    mutators: job.mutators,
    strategy: job.strategy,
    marker: job.marker,
    turns: job.turns,
    ...(job.fallbacks ? { fallbacks: job.fallbacks } : {}),
    ...(job.raw ? { raw: { bytes: new Uint8Array(Buffer.from(job.raw.base64, "base64")), contentType: job.raw.contentType } } : {}),
    ...(job.environment ? { environment: job.environment } : {}),
  };
}

function connect(redisUrl: string): Redis {
  // BullMQ needs blocking commands to wait indefinitely.
  return new Redis(redisUrl, { maxRetriesPerRequest: null, enableReadyCheck: true });
}

export async function createQueueExecutor(options: { redisUrl: string; queueName: string; timeoutMs?: number }): Promise<{ executor: AttemptExecutor; close: () => Promise<void> }> {
  const connection = connect(options.redisUrl);
  const eventsConnection = connect(options.redisUrl);
  const queue = new Queue<AttemptJob, ScanCaseResult[]>(options.queueName, { connection });
  const events = new QueueEvents(options.queueName, { connection: eventsConnection });
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  const executor: AttemptExecutor = async (attempt) => {
    const job = await queue.add("attempt", toJob(attempt), { jobId: `${attempt.index}-${attempt.id}`.replace(/:/g, "_"), removeOnComplete: { count: 1000 }, removeOnFail: { count: 1000 }, attempts: 2 });
    return (await job.waitUntilFinished(events, options.timeoutMs ?? 10 * 60_000)) as ScanCaseResult[];
  };
  return {
    executor,
    close: async () => {
      await events.close();
      await queue.close();
      connection.disconnect();
      eventsConnection.disconnect();
    },
  };
}

export interface ScanWorker {
  /** Jobs this worker has completed. */
  completed(): number;
  close(): Promise<void>;
}

export async function startScanWorker(options: {
  redisUrl: string;
  queueName: string;
  target: Target;
  catalogue: Catalogue;
  concurrency?: number;
  timeoutMs?: number;
  retries?: number;
  transcripts?: TranscriptMode;
}): Promise<ScanWorker> {
  const connection = connect(options.redisUrl);
  let completed = 0;
  const worker = new Worker<AttemptJob, ScanCaseResult[]>(
    options.queueName,
    async (job: Job<AttemptJob, ScanCaseResult[]>) => {
      const attempt = fromJob(job.data, options.catalogue);
      const run = await executeAttempt(options.target, attempt, { timeoutMs: options.timeoutMs ?? 30_000, retries: options.retries ?? 2, maxSteps: 8 });
      const records = await recordsFor(attempt, run, options.target, options.transcripts ?? "failed");
      completed++;
      return records;
    },
    { connection, concurrency: options.concurrency ?? 8 },
  );
  await worker.waitUntilReady();
  return {
    completed: () => completed,
    close: async () => {
      await worker.close();
      connection.disconnect();
    },
  };
}
