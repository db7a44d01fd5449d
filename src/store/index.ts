/**
 * store/: the event store (audit trail). One interface (types.ts), the SQL store
 * with its one schema and set of migrations (sql.ts) behind two drivers (embedded
 * PGlite in a worker thread, PostgreSQL), a memory store, the hash chain
 * (chain.ts) and the asynchronous batched writer (writer.ts).
 * Imports only src/policy (canonical JSON) from the rest of Bulwark.
 */
export { ChainVerifier, GENESIS_HASH, chainHash, eventPayload, link } from "./chain.js";
export * from "./aggregates.js";
export { MemoryEventStore } from "./memory.js";
export { openStore, StoreUrlError, type OpenStoreOptions } from "./open.js";
export { StoreBusyError } from "./pglite.js";
export { MIGRATIONS, SqlEventStore, type SqlClient, type SqlDriver } from "./sql.js";
export * from "./types.js";
export { EventWriter, type WriterHooks, type WriterOptions, type WriterStats } from "./writer.js";
