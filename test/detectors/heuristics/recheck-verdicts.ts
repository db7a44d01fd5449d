/** Proving built-in patterns safe with recheck, and the recorded verdicts (see scripts/recheck-heuristics.ts). */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { check } from "recheck";

export const VERDICTS_FILE = new URL("../../../data/rules/heuristics/recheck-verdicts.json", import.meta.url);
/** The flags the engine compiles built-in patterns with. */
export const RECHECK_FLAGS = "y";

export interface VerdictsFile {
  readonly recheck: string;
  readonly flags: string;
  readonly verdicts: Record<string, { id: string; status: "safe"; checker: string }>;
}

export interface Verdict {
  readonly status: "safe" | "vulnerable" | "unknown";
  readonly checker: string;
  readonly detail: string;
}

export function recheckVersion(): string {
  const require = createRequire(import.meta.url);
  return (require("recheck/package.json") as { version: string }).version;
}

/** Verdicts depend on the pattern, the flags and the checker's version. */
export function patternKey(source: string): string {
  return createHash("sha256").update(`${recheckVersion()}\u0000${RECHECK_FLAGS}\u0000${source}`).digest("hex");
}

export function readVerdicts(): VerdictsFile["verdicts"] {
  if (!existsSync(VERDICTS_FILE)) return {};
  return (JSON.parse(readFileSync(VERDICTS_FILE, "utf8")) as VerdictsFile).verdicts;
}

/**
 * recheck's default checker picks the exact automaton analysis for small
 * patterns, which can run out of time on wide alternations; then the fuzzing
 * checker (the one it uses for every larger pattern) decides.
 */
export async function provePattern(source: string, timeoutMs = 60_000): Promise<Verdict> {
  let diagnostics = await check(source, RECHECK_FLAGS, { timeout: timeoutMs });
  if (diagnostics.status === "unknown" && diagnostics.error.kind === "timeout" && diagnostics.checker === "automaton") {
    diagnostics = await check(source, RECHECK_FLAGS, { timeout: timeoutMs, checker: "fuzz" });
  }
  const detail = diagnostics.status === "vulnerable" ? `${diagnostics.complexity.type}: ${diagnostics.attack.pattern.slice(0, 80)}` : diagnostics.status === "unknown" ? diagnostics.error.kind : "";
  return { status: diagnostics.status, checker: diagnostics.checker ?? "unknown", detail };
}

/** Run `task` over `items` with at most `limit` running at once. */
export async function mapLimited<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
