/** Opening the store a URL names: `pglite:DIR`, `postgres://...`, or `memory`. */
import { isAbsolute, resolve } from "node:path";
import { MemoryEventStore } from "./memory.js";
import { postgresDriver, redactUrl } from "./postgres.js";
import { SqlEventStore } from "./sql.js";
import type { EventStore } from "./types.js";
import { WorkerEventStore } from "./worker.js";

export interface OpenStoreOptions {
  /** SQL schema for the tables (default `bulwark`). */
  readonly schema?: string;
  /** Directory a relative pglite path resolves against. */
  readonly baseDir?: string;
  /** Connection-level errors of the PostgreSQL pool (the writer retries; this is for logs). */
  readonly onError?: (error: Error) => void;
}

export class StoreUrlError extends Error {}

/** Creates the store (not yet initialised: call `init()`). */
export function openStore(url: string, options: OpenStoreOptions = {}): EventStore {
  const schema = options.schema ?? "bulwark";
  if (url === "memory") return new MemoryEventStore();
  if (url.startsWith("postgres://") || url.startsWith("postgresql://")) {
    return new SqlEventStore(postgresDriver(url, options.onError ?? (() => undefined)), schema, redactUrl(url));
  }
  if (url.startsWith("pglite:")) {
    const path = url.slice("pglite:".length);
    if (path === "" || path === "memory") return new WorkerEventStore(undefined, schema, "pglite:memory");
    const dir = isAbsolute(path) ? path : resolve(options.baseDir ?? process.cwd(), path);
    return new WorkerEventStore(dir, schema, `pglite:${dir}`);
  }
  throw new StoreUrlError(`unknown store URL ${JSON.stringify(url)}: use pglite:DIR, postgres://user@host/db, or memory`);
}
