/** The PostgreSQL driver (node-postgres pool). */
import pg from "pg";
import type { SqlClient, SqlDriver } from "./sql.js";

export function postgresDriver(url: string, onError: (error: Error) => void): SqlDriver {
  const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5_000, idleTimeoutMillis: 30_000, application_name: "bulwark-gateway" });
  // An idle connection dropped by the server must not take the gateway down: the writer retries.
  pool.on("error", onError);
  const client = (c: { query: pg.Pool["query"] }): SqlClient => ({
    async query<Row extends object>(text: string, params?: readonly unknown[]): Promise<Row[]> {
      const result = await c.query(text, params ? [...params] : undefined);
      return result.rows as Row[];
    },
  });
  return {
    dialect: "postgres",
    ...client(pool),
    async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
      const connection = await pool.connect();
      try {
        await connection.query("begin");
        const result = await fn(client(connection));
        await connection.query("commit");
        return result;
      } catch (error) {
        await connection.query("rollback").catch(() => undefined);
        throw error;
      } finally {
        connection.release();
      }
    },
    close: () => pool.end(),
  };
}

/** The URL with any password replaced, for logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "postgres://(unparseable url)";
  }
}
