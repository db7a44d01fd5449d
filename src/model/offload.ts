/**
 * Scoring long inputs on another thread. On long text the classifier is the costliest layer (tens of
 * nanoseconds a character); handing inputs of `offloadChars` or more to a worker thread lets it run while
 * the main thread runs the other detect layers, and keeps the host's event loop free meanwhile. Short
 * inputs are scored in place: a round trip to the thread costs more than scoring them.
 *
 * The thread is started by warmUp() or by the first long input (which is scored in place while the thread
 * loads), once per process and model (sharedScoringThread). A thread that fails to start or dies is not used again: the layer then scores in place, and its
 * decisions are the same either way.
 */
import type { Worker } from "node:worker_threads";
import { startSiblingWorker } from "../util/worker.js";
import type { Detection } from "./detect.js";
import type { Domain } from "./model.js";

export interface ScoringThreadData {
  /** A model directory; the shipped model when absent. */
  readonly modelDir?: string;
}

export interface ScoringJob {
  readonly id: number;
  readonly folded: string;
  readonly original: string;
  readonly domain: Domain;
}

export type ScoringReply = { readonly ready: true } | { readonly id: number; readonly detection: Detection } | { readonly id: number; readonly error: string };

interface PendingJob {
  resolve(detection: Detection): void;
  reject(error: Error): void;
}

export class ScoringThread {
  private worker: Worker | null = null;
  private started: Promise<void> | null = null;
  private isReady = false;
  private failure: Error | null = null;
  private readonly pending = new Map<number, PendingJob>();
  private nextId = 1;

  constructor(private readonly data: ScoringThreadData) {}

  /** True once the thread has loaded its model and until it fails. */
  get ready(): boolean {
    return this.isReady && this.failure === null;
  }

  /** Starts the thread (once); resolves when its model is loaded and warm, rejects if it cannot start. */
  start(): Promise<void> {
    this.started ??= new Promise<void>((resolve, reject) => {
      const worker = startSiblingWorker(import.meta.url, "scoring-thread", this.data);
      this.worker = worker;
      worker.on("message", (reply: ScoringReply) => {
        if ("ready" in reply) {
          this.isReady = true;
          // An idle thread never keeps the process alive; one that is loading or has work does (see detect).
          worker.unref();
          resolve();
          return;
        }
        const job = this.pending.get(reply.id);
        if (!job) return;
        this.pending.delete(reply.id);
        if (this.pending.size === 0) worker.unref();
        if ("error" in reply) job.reject(new Error(reply.error));
        else job.resolve(reply.detection);
      });
      const fail = (error: Error): void => {
        this.failure ??= error;
        reject(this.failure);
        for (const job of this.pending.values()) job.reject(this.failure);
        this.pending.clear();
        this.worker = null;
        void worker.terminate();
      };
      worker.on("error", fail);
      worker.on("exit", (code) => fail(new Error(`classifier scoring thread exited (code ${code})`)));
    });
    return this.started;
  }

  /** Scores on the thread; rejects when the thread is not ready or fails meanwhile. */
  detect(folded: string, original: string, domain: Domain): Promise<Detection> {
    const worker = this.worker;
    if (!this.ready || worker === null) return Promise.reject(this.failure ?? new Error("classifier scoring thread is not ready"));
    return new Promise<Detection>((resolve, reject) => {
      const id = this.nextId++;
      if (this.pending.size === 0) worker.ref();
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, folded, original, domain } satisfies ScoringJob);
    });
  }

  /** Stops the thread (tests, shutdown); a later start() does not restart it. */
  async stop(): Promise<void> {
    this.failure ??= new Error("classifier scoring thread stopped");
    await this.worker?.terminate();
  }
}

const shared = new Map<string, ScoringThread>();

/**
 * The process's one scoring thread for a model (the shipped one when `modelDir` is absent): guards built
 * from the same model, such as the gateway's after a configuration reload, share it rather than each
 * starting a thread of its own.
 */
export function sharedScoringThread(modelDir?: string): ScoringThread {
  const key = modelDir ?? "";
  let thread = shared.get(key);
  if (!thread) {
    thread = new ScoringThread(modelDir ? { modelDir } : {});
    shared.set(key, thread);
  }
  return thread;
}
