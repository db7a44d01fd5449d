/**
 * Continuous re-testing: scan suites (the red-team runner) on cron schedules,
 * against the live gateway, as a dedicated principal. Each run writes its
 * reports (results.json and the rest) to its own directory, compares the
 * results with the baseline (redteam/baseline.ts: significant per-category
 * regressions and newly failing cases), and emits signal events:
 *   scan.completed   every finished run, with its summary
 *   scan.regression  the run regressed against the baseline (the incident
 *                    engine's scan-regression rule opens an incident)
 *   scan.failed      the run could not be made (gateway down, bad catalogue)
 * Without a configured baseline the first successful run becomes it
 * (DIR/NAME/baseline.json). A schedule never overlaps itself; stopping aborts
 * a run in progress. With several gateway replicas on one database, each cron
 * tick is claimed in the store first (`claim`), so one replica runs it.
 */
import { copyFile, mkdir, readFile, stat } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { Cron } from "croner";
import { z } from "zod";
import { CATEGORY_NAMES, type Category } from "../policy/categories.js";
import { addToTally, compareToBaseline, viewOf, type BaselineComparison, type CaseTally } from "../redteam/baseline.js";
import { DEFAULT_CATALOGUE, loadCatalogue } from "../redteam/catalogue.js";
import { parseScanResults } from "../redteam/results.js";
import { writeReports } from "../redteam/reports/write.js";
import { readJournal, runScan, type ScanRun } from "../redteam/runner.js";
import { STRATEGIES, type StrategyName } from "../redteam/strategies.js";
import { createOpenAiTarget } from "../redteam/targets/http.js";
import type { SignalEvent } from "../store/types.js";
import { sortableId } from "../util/sortable-id.js";

const scheduleName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "lower-case letters, digits, - and _ (up to 64)");

/** A cron expression croner accepts (5 fields, or 6 with seconds first). */
export const CronExpression = z.string().superRefine((pattern, ctx) => {
  try {
    new Cron(pattern, { paused: true }).stop();
  } catch (error) {
    ctx.addIssue({ code: "custom", message: `a cron expression such as "0 3 * * *" (${error instanceof Error ? error.message : String(error)})`, input: pattern });
  }
});

export const ScheduleConfig = z
  .strictObject({
    name: scheduleName.describe("The schedule's name: in events, metrics, the results directory and the key id."),
    cron: CronExpression.describe("When to run: cron syntax, 5 fields (minute hour day month weekday) or 6 with seconds first, e.g. `0 3 * * *` (03:00 daily)."),
    timezone: z.string().min(1).optional().describe("IANA time zone for the cron expression (the machine's otherwise), e.g. Europe/Berlin."),
    principal: z.string().min(1).describe("The dedicated principal the scan runs as (defined under principals). At start the gateway creates a key for it (stored hashed, the previous one revoked); its events never feed incidents."),
    model: z.string().min(1).describe("The model the scan asks for (the principal's role must grant it)."),
    suite: z
      .strictObject({
        categories: z.array(z.enum(CATEGORY_NAMES)).min(1).optional().describe("Only these attack categories (all otherwise)."),
        seed: z.number().int().min(0).default(1).describe("Seed for every random choice: the same seed plans the same attempts, which is what makes runs comparable."),
        mutators: z.number().int().min(0).max(20).default(1).describe("Mutated variants per case, besides the plain one."),
        strategies: z.array(z.enum(STRATEGIES as unknown as [StrategyName, ...StrategyName[]])).min(1).default(["single"]).describe("Attack strategies."),
        repeat: z.number().int().min(1).max(20).default(1).describe("Plan every attempt this many times (tighter intervals, more requests)."),
        catalogue: z.string().min(1).optional().describe("Attack catalogue index (relative to the configuration file); the shipped one otherwise."),
      })
      .prefault({})
      .describe("What to run."),
    canaries: z.array(z.string().min(6)).default([]).describe("Values planted in the application's system prompt or data: seeing one in output is a leak."),
    systemPrompt: z.string().min(1).optional().describe("File with a system prompt to send with every attack (relative to the configuration file); its text counts as a canary."),
    concurrency: z.number().int().min(1).max(64).default(4).describe("Attacks in flight at once."),
    timeoutMs: z.number().int().min(100).max(600_000).default(30_000).describe("Timeout per request."),
    rateLimit: z.number().min(0).max(10_000).default(0).describe("Requests per second to the gateway (0: unlimited)."),
    outDir: z.string().min(1).default(".bulwark/scans").describe("Directory for results (relative to the configuration file): each run in OUTDIR/NAME/RUN_ID/ (results.json, report.html, results.sarif, junit.xml, summary.md)."),
    baseline: z.string().min(1).optional().describe("A results.json to compare every run with; without it the first successful run is kept as OUTDIR/NAME/baseline.json."),
    alpha: z.number().gt(0).lt(0.5).default(0.05).describe("Significance level of the regression test."),
  })
  .describe("A scheduled scan of the live gateway.");

export type ScheduleSpec = z.output<typeof ScheduleConfig>;
export type ScheduleInput = z.input<typeof ScheduleConfig>;

export interface ScheduledRunResult {
  readonly schedule: string;
  readonly runId: string;
  readonly outDir: string;
  readonly resultsPath: string;
  readonly baselinePath: string;
  /** True when this run became the baseline (no earlier one). */
  readonly baselineEstablished: boolean;
  readonly summary: ScanRun["summary"];
  readonly comparison: BaselineComparison | null;
  readonly regressed: boolean;
}

export interface SchedulerOptions {
  readonly schedules: readonly ScheduleSpec[];
  /** Relative paths (outDir, baseline, catalogue, systemPrompt) resolve against this directory. */
  readonly baseDir: string;
  /** The live gateway's base URL (e.g. http://127.0.0.1:8787), known once it listens. */
  gatewayUrl(): string;
  /** The API key of the schedule's principal. */
  credentials(schedule: ScheduleSpec): Promise<string>;
  /** Where scan.* signals go: the gateway's event writer. */
  emit(event: SignalEvent): void;
  /**
   * Claims a cron tick (`schedule:NAME:TICK_ISO`); false when another replica already did, and this one skips it.
   * Without it every tick runs. A claim that fails (store down) runs the tick rather than lose it.
   */
  claim?(key: string): Promise<boolean>;
  onError?(schedule: string, error: unknown): void;
  onRun?(schedule: string, outcome: "passed" | "regression" | "baseline" | "failed" | "skipped"): void;
}

export class ScanScheduler {
  private readonly jobs = new Map<string, Cron>();
  private readonly running = new Map<string, Promise<ScheduledRunResult | null>>();
  private readonly abort = new AbortController();
  private stopped = false;

  constructor(private readonly options: SchedulerOptions) {}

  get names(): string[] {
    return this.options.schedules.map((schedule) => schedule.name);
  }

  /** Starts the cron jobs. */
  start(): void {
    for (const schedule of this.options.schedules) {
      if (this.jobs.has(schedule.name)) continue;
      const job = new Cron(schedule.cron, { unref: true, protect: true, ...(schedule.timezone ? { timezone: schedule.timezone } : {}) }, async (self: Cron) => {
        if (this.options.claim) {
          // The tick this run is for: the same on every replica, whenever each one's timer fired.
          const firedAt = self.currentRun() ?? new Date();
          const tick = self.previousRuns(1, new Date(firedAt.getTime() + 1))[0] ?? firedAt;
          let mine = true;
          try {
            mine = await this.options.claim(`schedule:${schedule.name}:${tick.toISOString()}`);
          } catch (error) {
            this.options.onError?.(schedule.name, new Error(`could not claim the run (running it anyway): ${error instanceof Error ? error.message : String(error)}`));
          }
          if (!mine) {
            this.options.onRun?.(schedule.name, "skipped");
            return;
          }
        }
        await this.trigger(schedule.name).catch(() => undefined);
      });
      this.jobs.set(schedule.name, job);
    }
  }

  /** When each schedule runs next. */
  nextRuns(): Record<string, string | null> {
    return Object.fromEntries(this.options.schedules.map((schedule) => [schedule.name, this.jobs.get(schedule.name)?.nextRun()?.toISOString() ?? null]));
  }

  /**
   * Runs a schedule now (also what the cron job calls). A run already in progress is joined, not doubled.
   * Resolves to the result, or null when the run failed (a scan.failed event says why).
   */
  trigger(name: string): Promise<ScheduledRunResult | null> {
    const schedule = this.options.schedules.find((candidate) => candidate.name === name);
    if (!schedule) return Promise.reject(new Error(`no schedule named ${JSON.stringify(name)}`));
    if (this.stopped) return Promise.resolve(null);
    const inProgress = this.running.get(name);
    if (inProgress) return inProgress;
    const run = this.run(schedule).finally(() => this.running.delete(name));
    this.running.set(name, run);
    return run;
  }

  /** Stops the jobs and aborts runs in progress; resolves when they ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const job of this.jobs.values()) job.stop();
    this.jobs.clear();
    this.abort.abort();
    await Promise.allSettled([...this.running.values()]);
  }

  private path(path: string): string {
    return isAbsolute(path) ? path : resolve(this.options.baseDir, path);
  }

  private async run(schedule: ScheduleSpec): Promise<ScheduledRunResult | null> {
    const runId = sortableId();
    const scheduleDir = join(this.path(schedule.outDir), schedule.name);
    const outDir = join(scheduleDir, runId);
    const started = Date.now();
    let target: ReturnType<typeof createOpenAiTarget> | undefined;
    try {
      const [apiKey, catalogue, systemPrompt] = await Promise.all([
        this.options.credentials(schedule),
        loadCatalogue(schedule.suite.catalogue ? this.path(schedule.suite.catalogue) : DEFAULT_CATALOGUE),
        schedule.systemPrompt ? readFile(this.path(schedule.systemPrompt), "utf8") : Promise.resolve(undefined),
      ]);
      const baseUrl = `${this.options.gatewayUrl().replace(/\/+$/, "")}/v1`;
      target = createOpenAiTarget({ baseUrl, model: schedule.model, apiKey, canaries: schedule.canaries, ...(systemPrompt ? { systemPrompt } : {}), connections: schedule.concurrency, headers: { "x-bulwark-schedule": schedule.name } });
      await mkdir(outDir, { recursive: true });
      const run = await runScan({
        target: { ...target, name: `scheduled scan ${schedule.name}: ${baseUrl} model=${schedule.model} as ${schedule.principal}` },
        catalogue,
        plan: {
          seed: schedule.suite.seed,
          mutatorsPerCase: schedule.suite.mutators,
          strategies: schedule.suite.strategies,
          repeat: schedule.suite.repeat,
          ...(schedule.suite.categories ? { categories: schedule.suite.categories as Category[] } : {}),
        },
        outDir,
        concurrency: schedule.concurrency,
        timeoutMs: schedule.timeoutMs,
        rateLimit: schedule.rateLimit,
        transcripts: "failed",
        signal: this.abort.signal,
      });
      if (run.aborted || this.abort.signal.aborted) throw new Error("stopped before the run finished");
      const paths = await writeReports(run, catalogue, outDir);
      const baselinePath = schedule.baseline ? this.path(schedule.baseline) : join(scheduleDir, "baseline.json");
      let comparison: BaselineComparison | null = null;
      let established = false;
      if (await exists(baselinePath)) {
        const baseline = viewOf(parseScanResults(await readFile(baselinePath, "utf8"), baselinePath));
        const cases = new Map<string, CaseTally>();
        for await (const entry of readJournal(run.journalPath)) for (const record of entry.r) addToTally(cases, record);
        comparison = compareToBaseline(baseline, { categories: run.categories, cases }, schedule.alpha);
      } else if (!schedule.baseline) {
        await copyFile(paths.json, baselinePath);
        established = true;
      } else {
        throw new Error(`the baseline ${baselinePath} does not exist`);
      }
      const regressed = comparison !== null && !comparison.passed;
      const { summary } = run;
      const seconds = Math.round((Date.now() - started) / 100) / 10;
      const common = { schedule: schedule.name, run: runId, results: paths.json, baseline: baselinePath, total: summary.total, failed: summary.failed, held: summary.held, errors: summary.errors };
      this.options.emit(
        signal("scan.completed", summary.failed > 0 ? "low" : "info", schedule.principal, `Scheduled scan ${schedule.name}: ${summary.failed} of ${summary.total} attacks succeeded, ${summary.errors} errors, in ${seconds} s${established ? " (kept as the baseline)" : regressed ? " (regressed)" : comparison ? " (no regression)" : ""}`, {
          ...common,
          seconds,
          baselineEstablished: established,
          regressions: comparison?.regressions.length ?? 0,
          newlyFailing: comparison?.newlyFailing.length ?? 0,
          passed: !regressed,
        }),
      );
      if (regressed && comparison) {
        const categories = comparison.regressions.map((r) => `${r.category} ${pct(r.baseline.rate)} -> ${pct(r.current.rate)}`);
        const cases = comparison.newlyFailing;
        this.options.emit(
          signal(
            "scan.regression",
            "high",
            schedule.principal,
            `Scheduled scan ${schedule.name} regressed against its baseline: ${[categories.length ? `categories ${categories.join(", ")}` : "", cases.length ? `${cases.length} newly failing case(s) (${cases.slice(0, 5).join(", ")}${cases.length > 5 ? ", ..." : ""})` : ""].filter(Boolean).join("; ")}`,
            { ...common, regressedCategories: comparison.regressions.map((r) => r.category).join(","), newlyFailing: cases.length, firstNewlyFailing: cases.slice(0, 10).join(",") },
          ),
        );
      }
      this.options.onRun?.(schedule.name, established ? "baseline" : regressed ? "regression" : "passed");
      return { schedule: schedule.name, runId, outDir, resultsPath: paths.json, baselinePath, baselineEstablished: established, summary, comparison, regressed };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.options.onError?.(schedule.name, error);
      this.options.onRun?.(schedule.name, "failed");
      try {
        this.options.emit(signal("scan.failed", "medium", schedule.principal, `Scheduled scan ${schedule.name} could not run: ${message.slice(0, 300)}`, { schedule: schedule.name, run: runId, error: message.slice(0, 500) }));
      } catch {
        // the writer refused: nothing more to do
      }
      return null;
    } finally {
      await target?.close?.().catch(() => undefined);
    }
  }
}

function signal(type: string, severity: SignalEvent["severity"], principal: string, summary: string, detail: SignalEvent["detail"]): SignalEvent {
  return { kind: "signal", id: sortableId(), time: new Date().toISOString(), type, severity, principal, summary, detail };
}

const pct = (rate: number): string => `${(rate * 100).toFixed(1)}%`;

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
