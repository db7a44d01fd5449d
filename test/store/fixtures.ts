/**
 * Store backends for tests. Creating a PGlite cluster (initdb in WebAssembly)
 * takes seconds, so one template cluster is made per machine and PGlite
 * version and copied for each test (tens of milliseconds).
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { sortableId } from "../../src/util/sortable-id.js";
import type { DecisionEvent } from "../../src/store/types.js";

const { version } = JSON.parse(readFileSync(new URL("../../node_modules/@electric-sql/pglite/package.json", import.meta.url), "utf8")) as { version: string };

export const POSTGRES_URL = process.env.BULWARK_TEST_POSTGRES_URL;
if (!POSTGRES_URL) console.warn("BULWARK_TEST_POSTGRES_URL is not set: the PostgreSQL store tests are skipped (the embedded PGlite store runs the same suite).");

/** A fresh PGlite data directory (a copy of the template cluster). */
export async function pgliteDataDir(): Promise<string> {
  const template = join(tmpdir(), `bulwark-pglite-template-${version}`);
  if (!existsSync(join(template, "PG_VERSION"))) {
    const building = mkdtempSync(join(tmpdir(), "bulwark-pglite-building-"));
    const db = await PGlite.create({ dataDir: join(building, "data") });
    await db.close();
    try {
      renameSync(join(building, "data"), template);
    } catch {
      // Another test file built it first.
    }
    rmSync(building, { recursive: true, force: true });
  }
  const dir = join(mkdtempSync(join(tmpdir(), "bulwark-pglite-")), "data");
  cpSync(template, dir, { recursive: true });
  return dir;
}

export function uniqueSchema(): string {
  return `bulwark_test_${sortableId().toLowerCase()}`;
}

let counter = 0;
export function decision(overrides: Partial<DecisionEvent> = {}): DecisionEvent {
  counter++;
  return {
    kind: "decision",
    id: sortableId(),
    time: new Date(Date.UTC(2025, 0, 1, 0, 0, counter)).toISOString(),
    requestId: `req-${counter}`,
    principal: counter % 2 ? "alice" : "bob",
    keyId: "k",
    route: "/v1/chat/completions",
    model: "m",
    stage: "input",
    role: "user",
    location: "messages[0].content",
    action: counter % 5 === 0 ? "block" : "allow",
    categories: counter % 5 === 0 ? ["prompt_injection"] : [],
    score: counter % 5 === 0 ? 0.93 : 0,
    findings: [],
    layers: [{ name: "heuristics", status: "ok", durationUs: 12 }],
    degraded: false,
    policyName: "default",
    policyHash: "sha256:abc",
    latencyUs: 40,
    excerpt: `message number ${counter} with unicode ✓ and "quotes"`,
    ...overrides,
  };
}
