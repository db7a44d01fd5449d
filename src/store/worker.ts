/** The embedded store seen from the gateway's thread: every call is forwarded to the PGlite worker (pglite-worker.ts). */
import type { Worker } from "node:worker_threads";
import { startSiblingWorker } from "../util/worker.js";
import type { EventAggregates } from "./aggregates.js";
import { eventPayload } from "./chain.js";
import type { AuditEvent, EventQuery, EventStore, IncidentQuery, IncidentRow, StoredEvent, StoredKey, VerifyResult } from "./types.js";

/** What this store asks of the worker (pglite-worker.ts): the store's methods, and appends of events as payload text. */
export type WorkerMethod = keyof EventStore | "appendPayloads";

interface Reply {
  readonly id: number;
  readonly ok: boolean;
  readonly value?: unknown;
  readonly error?: { name: string; message: string };
}

export class WorkerEventStore implements EventStore {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private initialised = false;

  constructor(
    private readonly dataDir: string | undefined,
    private readonly schema: string,
    readonly description: string,
  ) {}

  private spawn(): Worker {
    const workerData = { dataDir: this.dataDir, schema: this.schema, description: this.description };
    const worker = startSiblingWorker(import.meta.url, "pglite-worker", workerData);
    worker.on("message", (reply: Reply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      if (reply.ok) waiter.resolve(reply.value);
      else waiter.reject(Object.assign(new Error(reply.error?.message ?? "event store error"), { name: reply.error?.name ?? "Error" }));
    });
    const fail = (error: Error): void => {
      this.worker = undefined;
      this.initialised = false;
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`event store worker exited (code ${code})`)));
    worker.unref();
    return worker;
  }

  private call<T>(method: WorkerMethod, ...args: unknown[]): Promise<T> {
    this.worker ??= this.spawn();
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      // Referenced only while a call is outstanding: an idle store must not keep the process alive.
      this.worker!.ref();
      this.worker!.postMessage({ id, method, args });
    });
  }

  private async ready(): Promise<void> {
    // A worker that died (and was replaced) must re-open the database before serving calls.
    if (!this.initialised) await this.init();
  }

  async init(): Promise<void> {
    await this.call("init");
    this.initialised = true;
  }

  async append(events: readonly AuditEvent[]): Promise<void> {
    await this.ready();
    // Each event as its payload text, which the worker stores and hashes as it is (SqlEventStore.appendPayloads)
    // instead of rebuilding the object from a structured clone and serialising it again. Making the text costs
    // this thread about 2 µs an event more than the clone would; the worker saves several times that.
    return this.call("appendPayloads", events.map(eventPayload));
  }
  async list(query: EventQuery): Promise<StoredEvent[]> {
    await this.ready();
    return this.call("list", query);
  }
  async get(id: string): Promise<StoredEvent | null> {
    await this.ready();
    return this.call("get", id);
  }
  async verify(): Promise<VerifyResult> {
    await this.ready();
    return this.call("verify");
  }
  async listKeys(): Promise<StoredKey[]> {
    await this.ready();
    return this.call("listKeys");
  }
  async putKey(key: StoredKey): Promise<void> {
    await this.ready();
    return this.call("putKey", key);
  }
  async putIncident(row: IncidentRow): Promise<void> {
    await this.ready();
    return this.call("putIncident", row);
  }
  async getIncident(id: string): Promise<IncidentRow | null> {
    await this.ready();
    return this.call("getIncident", id);
  }
  async listIncidents(query: IncidentQuery): Promise<IncidentRow[]> {
    await this.ready();
    return this.call("listIncidents", query);
  }
  async claimOnce(key: string, holder: string): Promise<boolean> {
    await this.ready();
    return this.call("claimOnce", key, holder);
  }

  // The aggregate queries, answered by the SQL store in the worker.
  decisionSeries: EventAggregates["decisionSeries"] = (query) => this.forward("decisionSeries", query);
  topPrincipals: EventAggregates["topPrincipals"] = (query) => this.forward("topPrincipals", query);
  latency: EventAggregates["latency"] = (query) => this.forward("latency", query);
  policyVersions: EventAggregates["policyVersions"] = (query) => this.forward("policyVersions", query);
  categoryCounts: EventAggregates["categoryCounts"] = (query) => this.forward("categoryCounts", query);
  containment: EventAggregates["containment"] = (query) => this.forward("containment", query);
  signalCounts: EventAggregates["signalCounts"] = (query) => this.forward("signalCounts", query);
  searchEvents: EventAggregates["searchEvents"] = (query) => this.forward("searchEvents", query);
  distribution: EventAggregates["distribution"] = (query) => this.forward("distribution", query);
  mix: EventAggregates["mix"] = (query) => this.forward("mix", query);

  private async forward<T>(method: keyof EventAggregates, query: unknown): Promise<T> {
    await this.ready();
    return this.call(method, query);
  }

  async close(): Promise<void> {
    if (!this.worker) return;
    try {
      if (this.initialised) await this.call("close");
    } finally {
      const worker = this.worker;
      this.worker = undefined;
      this.initialised = false;
      await worker?.terminate();
    }
  }
}
