/**
 * The worker thread that owns the embedded PGlite database. PGlite executes
 * queries synchronously on its thread (WebAssembly): a batch of a hundred
 * inserts takes milliseconds, which the gateway's event loop cannot spare.
 */
import { parentPort, workerData } from "node:worker_threads";
import { pgliteDriver } from "./pglite.js";
import { SqlEventStore } from "./sql.js";
import type { WorkerMethod } from "./worker.js";

interface Call {
  readonly id: number;
  readonly method: WorkerMethod;
  readonly args: unknown[];
}

const { dataDir, schema, description } = workerData as { dataDir: string | undefined; schema: string; description: string };
let store: SqlEventStore | undefined;
// One call at a time: PGlite is single-connection, and order matters for appends.
let queue: Promise<unknown> = Promise.resolve();

parentPort!.on("message", (call: Call) => {
  queue = queue.then(async () => {
    try {
      if (call.method === "init") {
        store ??= new SqlEventStore(await pgliteDriver(dataDir), schema, description);
        await store.init();
        parentPort!.postMessage({ id: call.id, ok: true });
        return;
      }
      if (!store) throw new Error("event store not initialised");
      const target = store[call.method] as (...args: unknown[]) => Promise<unknown>;
      const value = await target.apply(store, call.args);
      parentPort!.postMessage({ id: call.id, ok: true, value });
      if (call.method === "close") store = undefined;
    } catch (error) {
      const e = error as Error;
      parentPort!.postMessage({ id: call.id, ok: false, error: { name: e.name, message: e.message } });
    }
  });
});
