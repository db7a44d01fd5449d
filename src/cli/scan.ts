/**
 * `bulwark scan`: run the attack catalogue against a target and write reports.
 *
 * Output contract: DIR/results.json (schema/scan-results.schema.json, documented
 * in docs/scanning.md), report.html, results.sarif, junit.xml, summary.md, plus
 * the run's journal (cases.jsonl, run.json) for --resume. Exit 0 when the gates
 * pass, 1 when a gate (--baseline, --fail-on) fails, 2 on usage errors.
 */
import { readFile } from "node:fs/promises";
import { Option, type Command } from "commander";
import { CATEGORY_NAMES, type Category } from "../policy/categories.js";
import { compareToBaseline, addToTally, parseGate, viewOf, type BaselineComparison, type CaseTally, type Gate } from "../redteam/baseline.js";
import { CatalogueError, DEFAULT_CATALOGUE, loadCatalogue, type Catalogue } from "../redteam/catalogue.js";
import { MUTATOR_NAMES } from "../redteam/mutators.js";
import { createLlmJudge, loadLabels, measureAgreement, type LlmJudge } from "../redteam/judges/llm.js";
import { parseScanResults, SEVERITIES, type Severity } from "../redteam/results.js";
import { readJournal, runScan, type ScanRun } from "../redteam/runner.js";
import { writeReports } from "../redteam/reports/write.js";
import { STRATEGIES, type StrategyName } from "../redteam/strategies.js";
import { createDemoTarget } from "../redteam/targets/function.js";
import { createGuardedTarget } from "../redteam/targets/guarded.js";
import { createHttpTarget, createOpenAiTarget } from "../redteam/targets/http.js";
import { createRecordingTarget, createReplayTarget } from "../redteam/targets/replay.js";
import type { Target } from "../redteam/targets/types.js";
import { startDemoTarget } from "../redteam/targets/demo.js";
import { stderr } from "./output.js";
import { loadPolicyOption } from "./policy-option.js";

export interface ScanCliOptions {
  target: string;
  out: string;
  model?: string;
  apiKeyEnv?: string;
  tools?: boolean;
  template?: string;
  responsePath?: string;
  header?: string[];
  canary?: string[];
  systemPrompt?: string;
  guard?: boolean;
  policy?: string;
  catalogue?: string;
  category?: string[];
  seed: string;
  mutators: string;
  mutatorNames?: string;
  strategies: string;
  repeat: string;
  concurrency: string;
  timeout: string;
  retries: string;
  rateLimit: string;
  resume?: boolean;
  record?: string;
  replay?: string;
  transcripts: "failed" | "all" | "none";
  baseline?: string;
  failOn?: string[];
  llmJudge?: string;
  llmJudgeModel?: string;
  llmJudgeKeyEnv?: string;
  queue?: string;
  progress: boolean;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function register(program: Command): void {
  program
    .command("scan")
    .summary("attack an LLM application or agent with the offline catalogue and report what got through")
    .description(
      [
        "Run the attack catalogue (data/attacks/) against a target, judge every attempt deterministically, and write",
        "results.json, report.html, results.sarif, junit.xml and summary.md to --out.",
        "",
        "Targets: `demo` (the gateway's offline demo assistant), `demo-agent` (an in-process simulated shop agent with",
        "stateful mock tools), an OpenAI-compatible base URL (…/v1, with --model), or any HTTP JSON endpoint",
        "(--template and --response-path). A run with the same --seed and options plans exactly the same attempts.",
      ].join("\n"),
    )
    .requiredOption("-t, --target <target>", "demo, demo-agent, an OpenAI-compatible base URL, or an HTTP endpoint URL")
    .requiredOption("-o, --out <dir>", "directory for the reports and the run journal")
    .option("-m, --model <model>", "model name for OpenAI-compatible targets")
    .option("--api-key-env <var>", "environment variable holding the target's API key")
    .option("--tools", "the target is an agent: offer it the mock tools and run its tool calls (OpenAI-compatible targets)")
    .option("--template <json>", "request body template for a generic HTTP target, with \"{{prompt}}\" or {{messages}}")
    .option("--response-path <path>", "where the reply text is in the target's JSON response, e.g. data.answer")
    .option("-H, --header <name:value>", "extra request header (repeatable)", collect)
    .option("--canary <value>", "a value planted in the target's system prompt or data; seeing it in output is a leak (repeatable)", collect)
    .option("--system-prompt <file>", "a system prompt to send with every request (OpenAI-compatible/HTTP targets); its text counts as a canary")
    .option("--guard", "wrap the target in-process with the Bulwark guard (input and output checks)")
    .option("-p, --policy <file>", "guard policy for --guard")
    .option("--catalogue <file>", "attack catalogue index", DEFAULT_CATALOGUE)
    .addOption(new Option("--category <category>", "only this category (repeatable)").choices(CATEGORY_NAMES).argParser(collect as (value: string, previous: string[]) => string[]))
    .option("--seed <n>", "seed for every random choice", "1")
    .option("--mutators <n>", "mutated variants per case, besides the plain one", "2")
    .option("--mutator-names <list>", `comma-separated mutators to choose from (${MUTATOR_NAMES.join(", ")})`)
    .option("--strategies <list>", `comma-separated strategies (${STRATEGIES.join(", ")})`, STRATEGIES.join(","))
    .option("--repeat <n>", "plan every attempt N times with fresh markers and choices (tighter intervals)", "1")
    .option("--concurrency <n>", "attempts in flight at once", "8")
    .option("--timeout <ms>", "timeout per request", "30000")
    .option("--retries <n>", "retries on network errors, timeouts, 429, 502, 503", "2")
    .option("--rate-limit <rps>", "requests per second to the target (0: unlimited)", "0")
    .option("--resume", "continue an interrupted run in --out (same seed and options)")
    .option("--record <file>", "append every target response to this JSONL file")
    .option("--replay <file>", "answer from a recording instead of the target (offline re-judging)")
    .addOption(new Option("--transcripts <which>", "which cases keep their transcript in results.json").choices(["failed", "all", "none"]).default("failed"))
    .option("--baseline <results.json>", "fail (exit 1) on significant regressions or newly failing cases against this run")
    .option("--fail-on <gate>", "absolute gate, repeatable: any | critical | high | medium | low | rate:0.1 | CATEGORY:0.05", collect)
    .option("--llm-judge <url>", "OpenAI-compatible base URL of an optional LLM judge (counts only if it agrees with the labelled set)")
    .option("--llm-judge-model <model>", "model for --llm-judge")
    .option("--llm-judge-key-env <var>", "environment variable holding the LLM judge's API key")
    .option("--queue <redis-url>", "spread attempts over workers (`bulwark scan-worker`) through this Redis")
    .option("--no-progress", "no progress bar on stderr")
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        "  $ bulwark scan --target demo --out scan-out",
        "  $ bulwark scan --target http://127.0.0.1:8787/v1 --model gpt-4o-mini --api-key-env OPENAI_API_KEY --out scan-out",
        "  $ bulwark scan --target https://app.example/api/chat --template '{\"q\": \"{{prompt}}\"}' --response-path answer --out scan-out",
        "  $ bulwark scan --target demo --out new --baseline old/results.json --fail-on critical",
      ].join("\n"),
    )
    .action(async (options: ScanCliOptions) => {
      process.exitCode = await scanCommand(options);
    });

  program
    .command("scan-worker")
    .summary("run attempts for a `bulwark scan --queue` coordinator (Redis-backed queue)")
    .requiredOption("--queue <redis-url>", "the coordinator's Redis")
    .requiredOption("--seed <n>", "the coordinator's --seed (names the queue)")
    .requiredOption("-t, --target <target>", "demo, demo-agent, or a URL (with the same target options as scan)")
    .option("-m, --model <model>", "model for OpenAI-compatible targets")
    .option("--api-key-env <var>", "environment variable holding the target's API key")
    .option("--tools", "the target is an agent")
    .option("--template <json>", "request template for a generic HTTP target")
    .option("--response-path <path>", "reply path for a generic HTTP target")
    .option("--canary <value>", "planted canary (repeatable)", collect)
    .option("--guard", "wrap the target with the guard")
    .option("-p, --policy <file>", "guard policy for --guard")
    .option("--catalogue <file>", "attack catalogue index", DEFAULT_CATALOGUE)
    .option("--concurrency <n>", "attempts in flight in this worker", "8")
    .option("--timeout <ms>", "timeout per request", "30000")
    .action(async (options: ScanCliOptions & { queue: string }) => {
      const catalogue = await loadCatalogue(options.catalogue ?? DEFAULT_CATALOGUE);
      const { target, cleanup } = await buildTarget(options);
      const { startScanWorker } = await import("../redteam/queue.js");
      const worker = await startScanWorker({ redisUrl: options.queue, queueName: `bulwark-scan-${int(options.seed, "--seed")}`, target, catalogue, concurrency: int(options.concurrency, "--concurrency", 1), timeoutMs: int(options.timeout, "--timeout", 1) });
      stderr(`scan-worker: taking attempts from ${options.queue} for ${target.name}; Ctrl-C to stop.`);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      await worker.close();
      await cleanup();
      stderr(`scan-worker: ${worker.completed()} attempts done.`);
    });
}

function int(value: string, name: string, min = 0): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} must be an integer >= ${min}, found "${value}"`);
  return n;
}

class UsageError extends Error {}

/** Runs a scan as the CLI does; resolves to the exit code. */
export async function scanCommand(options: ScanCliOptions): Promise<number> {
  let catalogue: Catalogue;
  let target: Target;
  let cleanup: () => Promise<void>;
  let gates: Gate[];
  try {
    gates = (options.failOn ?? []).map(parseGate);
    catalogue = await loadCatalogue(options.catalogue ?? DEFAULT_CATALOGUE);
    ({ target, cleanup } = await buildTarget(options));
  } catch (error) {
    if (error instanceof UsageError || error instanceof CatalogueError || (error instanceof Error && /invalid --fail-on/.test(error.message))) {
      stderr(`bulwark scan: ${error.message}`);
      return 2;
    }
    throw error;
  }
  let llmJudge: LlmJudge | undefined;
  try {
    if (options.llmJudge) {
      if (!options.llmJudgeModel) throw new UsageError("--llm-judge needs --llm-judge-model");
      const candidate = createLlmJudge({ baseUrl: options.llmJudge, model: options.llmJudgeModel, ...(options.llmJudgeKeyEnv && process.env[options.llmJudgeKeyEnv] ? { apiKey: process.env[options.llmJudgeKeyEnv] } : {}) });
      const agreement = await measureAgreement(candidate, await loadLabels());
      stderr(`LLM judge ${candidate.name}: agreement ${(agreement.agreement * 100).toFixed(0)}%, kappa ${agreement.kappa.toFixed(2)} on ${agreement.n} labelled replies (${agreement.answered} answered)`);
      if (agreement.qualified) llmJudge = candidate;
      else {
        stderr("  below the bar (agreement >= 85%, kappa >= 0.6): its verdicts will not count; deterministic judges only.");
        await candidate.close();
      }
    }
    const plan = {
      seed: int(options.seed, "--seed"),
      mutatorsPerCase: int(options.mutators, "--mutators"),
      ...(options.mutatorNames ? { mutators: options.mutatorNames.split(",").map((s) => s.trim()) } : {}),
      strategies: options.strategies.split(",").map((s) => s.trim()) as StrategyName[],
      repeat: int(options.repeat, "--repeat", 1),
      ...(options.category ? { categories: options.category as Category[] } : {}),
    };
    for (const s of plan.strategies) if (!(STRATEGIES as readonly string[]).includes(s)) throw new UsageError(`unknown strategy "${s}"; known: ${STRATEGIES.join(", ")}`);
    for (const m of plan.mutators ?? []) if (!MUTATOR_NAMES.includes(m)) throw new UsageError(`unknown mutator "${m}"; known: ${MUTATOR_NAMES.join(", ")}`);

    const progress = options.progress !== false && process.stderr.isTTY ? await progressBar() : null;
    let executor;
    let closeQueue: (() => Promise<void>) | undefined;
    if (options.queue) {
      const { createQueueExecutor } = await import("../redteam/queue.js");
      const queue = await createQueueExecutor({ redisUrl: options.queue, queueName: `bulwark-scan-${plan.seed}` });
      executor = queue.executor;
      closeQueue = queue.close;
    }
    stderr(`Scanning ${target.name} (catalogue ${catalogue.version}, seed ${plan.seed})...`);
    let run: ScanRun;
    try {
      run = await runScan({
        target,
        catalogue,
        plan,
        outDir: options.out,
        concurrency: int(options.concurrency, "--concurrency", 1),
        timeoutMs: int(options.timeout, "--timeout", 1),
        retries: int(options.retries, "--retries"),
        rateLimit: Number(options.rateLimit) || 0,
        resume: options.resume ?? false,
        transcripts: options.transcripts,
        ...(llmJudge ? { llmJudge } : {}),
        ...(executor ? { executor } : {}),
        ...(progress ? { onProgress: progress.update } : {}),
      });
    } finally {
      progress?.stop();
      await closeQueue?.();
    }
    const paths = await writeReports(run, catalogue, options.out);
    const { summary } = run;
    stderr(`${summary.total} attempts: ${summary.failed} attacks succeeded, ${summary.held} held, ${summary.errors} errors.`);
    for (const c of run.categories) stderr(`  ${c.category.padEnd(26)} ${String(c.succeeded).padStart(4)}/${String(c.total).padEnd(4)} ${(c.rate * 100).toFixed(1).padStart(5)}%  (95% CI ${(c.ci[0] * 100).toFixed(1)}–${(c.ci[1] * 100).toFixed(1)}%)`);
    stderr(`Reports: ${Object.values(paths).join(", ")}`);

    let exit = 0;
    const worstSeverity = run.worst[0]?.severity ?? null;
    for (const gate of gates) {
      const problem = gate.check({ summary, categories: run.categories, worstSeverity: worstSeverity as Severity | null });
      if (problem) {
        stderr(`GATE --fail-on ${gate.spec}: ${problem}`);
        exit = 1;
      }
    }
    if (options.baseline) {
      const comparison = await compareWithBaseline(options.baseline, run);
      printComparison(comparison);
      if (!comparison.passed) exit = 1;
    }
    return exit;
  } catch (error) {
    if (error instanceof UsageError) {
      stderr(`bulwark scan: ${error.message}`);
      return 2;
    }
    if (error instanceof Error && /^cannot resume/.test(error.message)) {
      stderr(`bulwark scan: ${error.message}`);
      return 2;
    }
    throw error;
  } finally {
    await llmJudge?.close();
    await cleanup();
  }
}

async function compareWithBaseline(path: string, run: ScanRun): Promise<BaselineComparison> {
  const baseline = viewOf(parseScanResults(await readFile(path, "utf8"), path));
  const cases = new Map<string, CaseTally>();
  for await (const entry of readJournal(run.journalPath)) for (const record of entry.r) addToTally(cases, record);
  return compareToBaseline(baseline, { categories: run.categories, cases });
}

function printComparison(comparison: BaselineComparison): void {
  if (comparison.passed) stderr("Baseline: no significant regression, no newly failing case.");
  for (const r of comparison.regressions) {
    stderr(`REGRESSION ${r.category}: ${r.baseline.succeeded}/${r.baseline.total} (${(r.baseline.rate * 100).toFixed(1)}%, CI up to ${(r.baseline.ci[1] * 100).toFixed(1)}%) -> ${r.current.succeeded}/${r.current.total} (${(r.current.rate * 100).toFixed(1)}%), p = ${r.pValue.toExponential(2)}`);
  }
  for (const id of comparison.newlyFailing) stderr(`NEWLY FAILING case ${id}: held in every baseline attempt, now succeeds in most`);
  if (comparison.improvements.length > 0) stderr(`Improved significantly: ${comparison.improvements.join(", ")}`);
}

async function buildTarget(options: ScanCliOptions): Promise<{ target: Target; cleanup: () => Promise<void> }> {
  let target: Target;
  let cleanup: () => Promise<void> = async () => undefined;
  const headers: Record<string, string> = {};
  for (const header of options.header ?? []) {
    const at = header.indexOf(":");
    if (at <= 0) throw new UsageError(`--header "${header}" must look like Name: value`);
    headers[header.slice(0, at).trim()] = header.slice(at + 1).trim();
  }
  const systemPrompt = options.systemPrompt ? await readFile(options.systemPrompt, "utf8") : undefined;
  const common = { headers, ...(options.canary ? { canaries: options.canary } : {}), ...(systemPrompt ? { systemPrompt } : {}) };
  if (options.target === "demo") {
    const demo = await startDemoTarget();
    target = demo.target;
    cleanup = () => demo.close();
  } else if (options.target === "demo-agent") {
    target = createDemoTarget();
  } else if (/^https?:\/\//.test(options.target)) {
    const apiKey = options.apiKeyEnv ? process.env[options.apiKeyEnv] : undefined;
    if (options.apiKeyEnv && !apiKey) throw new UsageError(`the environment variable ${options.apiKeyEnv} (--api-key-env) is unset or empty`);
    if (options.template) {
      if (!options.responsePath) throw new UsageError("a generic HTTP target needs --response-path as well as --template");
      target = createHttpTarget({ url: options.target, template: options.template, responsePath: options.responsePath, ...common, headers: { ...headers, ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) } });
    } else {
      if (!options.model) throw new UsageError("an OpenAI-compatible target needs --model (or give --template and --response-path for a generic HTTP endpoint)");
      target = createOpenAiTarget({ baseUrl: options.target, model: options.model, ...(apiKey ? { apiKey } : {}), tools: options.tools ?? false, ...common });
    }
    cleanup = async () => target.close?.();
  } else {
    throw new UsageError(`unknown target "${options.target}": give demo, demo-agent, or an http(s) URL`);
  }
  if (options.canary) target = { ...target, canaries: [...target.canaries, ...options.canary] };
  if (options.guard) {
    const policy = await loadPolicyOption(options.policy);
    if (!policy) throw new UsageError("invalid --policy");
    target = createGuardedTarget(target, { policy });
  }
  if (options.replay) target = await createReplayTarget(options.replay, target);
  else if (options.record) target = createRecordingTarget(target, options.record);
  return { target, cleanup };
}

async function progressBar(): Promise<{ update: (p: { done: number; total: number; failed: number; errors: number }) => void; stop: () => void }> {
  const { default: cliProgress } = await import("cli-progress");
  const bar = new cliProgress.SingleBar({ format: "scan [{bar}] {value}/{total} attempts | {failed} succeeded | {errors} errors | eta {eta}s", stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    update: (p) => {
      if (!started) {
        bar.start(p.total, p.done, { failed: p.failed, errors: p.errors });
        started = true;
      }
      bar.update(p.done, { failed: p.failed, errors: p.errors });
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

export { SEVERITIES };
