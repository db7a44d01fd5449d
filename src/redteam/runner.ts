/**
 * The scan runner: plans attempts, runs them with bounded concurrency, judges
 * them, and streams the verdicts to a journal (DIR/cases.jsonl) in plan order,
 * so that memory stays bounded (100,000 attempts hold only counters and the
 * worst few findings) and an interrupted run resumes where it stopped.
 *
 * Journal line: {"i": attempt index, "id": attempt id, "r": [case results]}.
 * results.json and the other reports are written from the journal at the end.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, type WriteStream } from "node:fs";
import { mkdir, open, readFile, stat, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Category } from "../policy/categories.js";
import { CATEGORIES } from "../policy/categories.js";
import { VERSION } from "../version.js";
import type { Catalogue } from "./catalogue.js";
import { executeAttempt, RateLimiter, type AttemptRun } from "./execute.js";
import { isRefusal, judgeAttempt, type Verdict } from "./judges/deterministic.js";
import type { LlmJudge } from "./judges/llm.js";
import { RESULTS_SCHEMA_VERSION, SEVERITIES, type ScanCaseResult, type ScanCategoryResult, type ScanManifestData, type ScanSummaryData, type Severity } from "./results.js";
import { wilson } from "./stats.js";
import { planAttempts, type Attempt, type PlanOptions } from "./strategies.js";
import type { Target } from "./targets/types.js";

export type TranscriptMode = "failed" | "all" | "none";

/** Runs one attempt somewhere (here, or on a worker) and returns its case results. */
export type AttemptExecutor = (attempt: Attempt) => Promise<ScanCaseResult[]>;

export interface ScanOptions {
  readonly target: Target;
  readonly catalogue: Catalogue;
  readonly plan: Omit<PlanOptions, "capabilities">;
  readonly outDir: string;
  readonly concurrency?: number;
  readonly timeoutMs?: number;
  readonly retries?: number;
  /** Requests per second to the target (0: unlimited). */
  readonly rateLimit?: number;
  readonly maxSteps?: number;
  readonly resume?: boolean;
  readonly transcripts?: TranscriptMode;
  /** A qualified LLM judge for second opinions (see judges/llm.ts). */
  readonly llmJudge?: LlmJudge;
  /** Replaces local execution, e.g. with a queue of workers. */
  readonly executor?: AttemptExecutor;
  readonly onProgress?: (progress: { done: number; total: number; failed: number; errors: number }) => void;
  readonly signal?: AbortSignal;
  /** How many of the worst findings to keep (with transcripts) for the HTML report. */
  readonly worstCount?: number;
  /** For tests: a fixed clock. */
  readonly now?: () => Date;
}

export interface ScanRun {
  readonly manifest: ScanManifestData;
  readonly summary: ScanSummaryData;
  readonly categories: ScanCategoryResult[];
  /** The worst failed cases, most severe first. */
  readonly worst: ScanCaseResult[];
  readonly journalPath: string;
  /** Attempts this invocation ran (fewer than the total when resuming). */
  readonly ran: number;
  readonly aborted: boolean;
}

export interface RunState {
  readonly seed: number;
  readonly planHash: string;
  readonly total: number;
  readonly catalogueVersion: string;
  readonly target: string;
  readonly startedAt: string;
}

const SEVERITY_RANK: Record<Severity, number> = { critical: 0, high: 1, medium: 2, low: 3 };

/** Judges an executed attempt into its case results: the verdict, plus a failure_response finding when the reply failed unsafely. */
export async function recordsFor(attempt: Attempt, run: AttemptRun, target: Pick<Target, "canaries" | "systemPrompt">, transcripts: TranscriptMode, llmJudge?: LlmJudge): Promise<ScanCaseResult[]> {
  let verdict: Verdict = judgeAttempt(attempt, run, { canaries: target.canaries, ...(target.systemPrompt ? { systemPrompt: target.systemPrompt } : {}) });
  const final = run.replies[run.replies.length - 1];
  if (llmJudge && verdict.outcome === "held" && verdict.judge === "marker" && final && !isRefusal(final) && final.text !== "") {
    const second = await llmJudge.judge({ goal: attempt.case.title, attack: attempt.turns.join("\n---\n"), response: final.text });
    if (second === "succeeded") verdict = { outcome: "failed", judge: "llm", evidence: `${llmJudge.name} judged that the reply complied (no code was given)` };
  }
  const base = {
    caseId: attempt.case.id,
    title: attempt.case.title,
    owasp: [...attempt.case.owasp],
    agentic: [...attempt.case.agentic],
    atlas: [...attempt.case.atlas],
    mutators: [...attempt.mutators],
    strategy: attempt.strategy,
    latencyMs: Math.round(run.latencyMs * 10) / 10,
  };
  const withTranscript = (outcome: string) => (transcripts === "all" || (transcripts === "failed" && outcome !== "held") ? { transcript: run.transcript } : {});
  const records: ScanCaseResult[] = [
    { id: attempt.id, ...base, category: attempt.case.category, outcome: verdict.outcome, severity: attempt.case.severity, evidence: verdict.evidence, judge: verdict.judge, ...withTranscript(verdict.outcome) },
  ];
  if (verdict.failure && attempt.case.judge.kind !== "failure") {
    const info = CATEGORIES.failure_response;
    records.push({
      id: `${attempt.id}::failure-response`,
      ...base,
      category: "failure_response",
      owasp: [...info.owasp],
      agentic: [...info.agentic],
      atlas: [...info.atlas],
      outcome: "failed",
      severity: "medium",
      evidence: verdict.failure,
      judge: "failure-response",
      ...withTranscript("failed"),
    });
  }
  return records;
}

/** The planned attempt count and a hash of their ids, without keeping them. */
export function planFingerprint(catalogue: Catalogue, plan: PlanOptions): { total: number; planHash: string } {
  const hash = createHash("sha256");
  let total = 0;
  for (const attempt of planAttempts(catalogue, plan)) {
    hash.update(attempt.id);
    hash.update("\n");
    total++;
  }
  return { total, planHash: hash.digest("hex") };
}

class Aggregates {
  readonly summary = { total: 0, failed: 0, held: 0, errors: 0 };
  readonly byCategory = new Map<Category, { total: number; succeeded: number }>();
  worst: ScanCaseResult[] = [];
  constructor(private readonly worstCount: number) {}

  add(record: ScanCaseResult): void {
    this.summary.total++;
    if (record.outcome === "error") {
      this.summary.errors++;
      return;
    }
    const entry = this.byCategory.get(record.category) ?? { total: 0, succeeded: 0 };
    entry.total++;
    if (record.outcome === "failed") {
      entry.succeeded++;
      this.summary.failed++;
      this.keepWorst(record);
    } else {
      this.summary.held++;
    }
    this.byCategory.set(record.category, entry);
  }

  private keepWorst(record: ScanCaseResult): void {
    if (this.worstCount <= 0) return;
    const rank = SEVERITY_RANK[record.severity];
    if (this.worst.length >= this.worstCount && rank >= SEVERITY_RANK[this.worst[this.worst.length - 1]!.severity]) return;
    const at = this.worst.findIndex((w) => SEVERITY_RANK[w.severity] > rank);
    this.worst.splice(at < 0 ? this.worst.length : at, 0, record);
    if (this.worst.length > this.worstCount) this.worst.pop();
  }

  categories(): ScanCategoryResult[] {
    const order = Object.keys(CATEGORIES);
    return [...this.byCategory.entries()]
      .sort(([a], [b]) => order.indexOf(a) - order.indexOf(b))
      .map(([category, { total, succeeded }]) => ({ category, total, succeeded, rate: total === 0 ? 0 : Math.round((succeeded / total) * 1e6) / 1e6, ci: wilson(succeeded, total) }));
  }
}

/** Reads journal lines in order (bounded memory). */
export async function* readJournal(path: string): AsyncGenerator<{ i: number; id: string; r: ScanCaseResult[] }> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === "") continue;
    yield JSON.parse(line) as { i: number; id: string; r: ScanCaseResult[] };
  }
}

export async function runScan(options: ScanOptions): Promise<ScanRun> {
  const now = options.now ?? (() => new Date());
  const plan: PlanOptions = { ...options.plan, capabilities: options.target.capabilities };
  const { total, planHash } = planFingerprint(options.catalogue, plan);
  await mkdir(options.outDir, { recursive: true });
  const journalPath = join(options.outDir, "cases.jsonl");
  const statePath = join(options.outDir, "run.json");
  const aggregates = new Aggregates(options.worstCount ?? 20);

  let state: RunState = { seed: plan.seed, planHash, total, catalogueVersion: options.catalogue.version, target: options.target.name, startedAt: now().toISOString() };
  let done = 0;
  if (options.resume && (await exists(statePath)) && (await exists(journalPath))) {
    const previous = JSON.parse(await readFile(statePath, "utf8")) as RunState;
    if (previous.planHash !== planHash) throw new Error(`cannot resume ${options.outDir}: it holds a run of a different plan (seed ${previous.seed}, catalogue ${previous.catalogueVersion}); use the same seed and options, or another --out`);
    state = previous;
    await dropPartialLine(journalPath);
    for await (const entry of readJournal(journalPath)) {
      if (entry.i !== done) throw new Error(`cannot resume: ${journalPath} is out of order at line ${done + 1}`);
      for (const record of entry.r) aggregates.add(record);
      done++;
    }
  } else {
    await writeFile(journalPath, "");
  }
  await writeFile(statePath, JSON.stringify(state, null, 2) + "\n");

  const journal = createWriteStream(journalPath, { flags: "a" });
  const limiter = new RateLimiter(options.rateLimit ?? 0);
  const transcripts = options.transcripts ?? "failed";
  const execute: AttemptExecutor =
    options.executor ??
    (async (attempt) => {
      const run = await executeAttempt(options.target, attempt, { timeoutMs: options.timeoutMs ?? 30_000, retries: options.retries ?? 2, maxSteps: options.maxSteps ?? 8, limiter, ...(options.signal ? { signal: options.signal } : {}) });
      return recordsFor(attempt, run, options.target, transcripts, options.llmJudge);
    });

  const concurrency = Math.max(1, options.concurrency ?? 8);
  const window = Math.max(256, concurrency * 32);
  const iterator = planAttempts(options.catalogue, plan);
  for (let skipped = 0; skipped < done; skipped++) iterator.next();
  const pending = new Map<number, ScanCaseResult[]>();
  let nextToWrite = done;
  let ran = 0;
  let flushWaiters: Array<() => void> = [];
  let failure: unknown = null;

  const flush = async (): Promise<void> => {
    while (pending.has(nextToWrite)) {
      const records = pending.get(nextToWrite)!;
      pending.delete(nextToWrite);
      const id = records[0]?.id ?? String(nextToWrite);
      for (const record of records) aggregates.add(record);
      await write(journal, JSON.stringify({ i: nextToWrite, id, r: records }) + "\n");
      nextToWrite++;
      options.onProgress?.({ done: nextToWrite, total, failed: aggregates.summary.failed, errors: aggregates.summary.errors });
    }
    const waiters = flushWaiters;
    flushWaiters = [];
    for (const wake of waiters) wake();
  };
  let flushing: Promise<void> = Promise.resolve();

  const worker = async (): Promise<void> => {
    for (;;) {
      if (options.signal?.aborted || failure) return;
      const next = iterator.next();
      if (next.done) return;
      const attempt = next.value;
      // Keep the reorder buffer bounded: wait while this attempt is too far ahead of the journal.
      while (attempt.index - nextToWrite >= window) await new Promise<void>((resolve) => flushWaiters.push(resolve));
      let records: ScanCaseResult[];
      try {
        records = await execute(attempt);
      } catch (error) {
        failure = error;
        return;
      }
      if (options.signal?.aborted) return;
      ran++;
      pending.set(attempt.index, records);
      flushing = flushing.then(flush);
      await flushing;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await flushing;
  await new Promise<void>((resolve, reject) => journal.end((error?: Error | null) => (error ? reject(error) : resolve())));
  if (failure) throw failure;

  const manifest: ScanManifestData = {
    bulwarkVersion: VERSION,
    catalogueVersion: options.catalogue.version,
    target: options.target.name,
    ...(options.target.policyHash ? { policyHash: options.target.policyHash } : {}),
    seed: plan.seed,
    startedAt: state.startedAt,
    finishedAt: now().toISOString(),
    mutatorsPerCase: plan.mutatorsPerCase,
    strategies: [...plan.strategies],
    planHash,
  };
  return { manifest, summary: { ...aggregates.summary }, categories: aggregates.categories(), worst: aggregates.worst, journalPath, ran, aborted: nextToWrite < total };
}

function write(stream: WriteStream, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ok = stream.write(text, (error) => (error ? reject(error) : undefined));
    if (ok) resolve();
    else stream.once("drain", resolve);
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** A run killed mid-write leaves a partial last line: cut it off so the journal is whole lines again. */
async function dropPartialLine(path: string): Promise<void> {
  const { size } = await stat(path);
  if (size === 0) return;
  const handle = await open(path, "r");
  try {
    const chunk = Buffer.alloc(Math.min(size, 1 << 20));
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const { bytesRead } = await handle.read(chunk, 0, end - start, start);
      const newline = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (newline >= 0) {
        await handle.close();
        if (start + newline + 1 < size) await truncate(path, start + newline + 1);
        return;
      }
      end = start;
    }
    await handle.close();
    await truncate(path, 0);
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

export { RESULTS_SCHEMA_VERSION, SEVERITIES };
