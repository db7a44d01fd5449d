/**
 * The embedded driver: PGlite (PostgreSQL compiled to WebAssembly), no server.
 * PGlite runs queries on the thread that owns it, so the gateway keeps it in a
 * worker thread (worker.ts); this driver is what runs inside that worker.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import type { SqlClient, SqlDriver } from "./sql.js";

export class StoreBusyError extends Error {}

/** `dataDir` undefined means in memory. */
export async function pgliteDriver(dataDir: string | undefined): Promise<SqlDriver> {
  const release = dataDir ? lockDataDir(dataDir) : () => undefined;
  let db: PGlite;
  try {
    if (dataDir) mkdirSync(dirname(dataDir), { recursive: true });
    db = await PGlite.create(dataDir ? { dataDir } : {});
  } catch (error) {
    release();
    throw error;
  }
  const client = (c: Pick<PGlite, "query" | "exec">): SqlClient => ({
    async query<Row extends object>(text: string, params?: readonly unknown[]): Promise<Row[]> {
      return (await c.query<Row>(text, params ? [...params] : undefined)).rows;
    },
    // PGlite reads a query's blob as the file /dev/blob.
    async copyFrom(target: string, rows: string): Promise<void> {
      await c.exec(`copy ${target} from '/dev/blob'`, { blob: new Blob([rows]) });
    },
  });
  return {
    dialect: "pglite",
    ...client(db),
    transaction: <T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> => db.transaction((tx) => fn(client(tx))),
    async close(): Promise<void> {
      try {
        await db.close();
      } finally {
        release();
      }
    },
  };
}

/**
 * PGlite is single-process: a second process opening the same directory would
 * corrupt it. A lock file beside the directory names the owning process.
 */
function lockDataDir(dataDir: string): () => void {
  const lockFile = `${dataDir}.lock`;
  mkdirSync(dirname(lockFile), { recursive: true });
  try {
    const owner = Number(readFileSync(lockFile, "utf8").trim());
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
      throw new StoreBusyError(
        `the embedded event store ${dataDir} is in use by process ${owner} (a running gateway?). Stop it first, or ask the running gateway (GET /admin/audit/verify).`,
      );
    }
  } catch (error) {
    if (error instanceof StoreBusyError) throw error;
  }
  writeFileSync(lockFile, String(process.pid));
  return () => {
    try {
      if (readFileSync(lockFile, "utf8").trim() === String(process.pid)) rmSync(lockFile, { force: true });
    } catch {
      // already gone
    }
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
