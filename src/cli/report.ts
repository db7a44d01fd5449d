/**
 * `bulwark report`: the security posture report for a period (src/report):
 * threat-model coverage, the latest scan results, the guard policy and
 * monitoring statistics from the event store, mapped to OWASP LLM and Agentic
 * Top 10, MITRE ATLAS, NIST AI RMF and EU AI Act article 15. Offline: it reads
 * files and the store, nothing else.
 */
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { Option, type Command } from "commander";
import type { LoadedPolicy } from "../policy/load.js";
import type { PostureInput } from "../report/posture.js";
import type { EventStore } from "../store/types.js";
import { loadPolicyOption } from "./policy-option.js";
import { stderr, writeOut } from "./output.js";

interface ReportOptions {
  since?: string;
  until?: string;
  config?: string;
  store?: string;
  schema: string;
  events: boolean;
  policy?: string;
  model?: string;
  results?: string;
  out?: string;
  format?: "html" | "md" | "both";
}

const DAY = 86_400_000;

export function register(program: Command): void {
  program
    .command("report")
    .summary("write the security posture report (HTML and Markdown)")
    .description(
      "Write one security posture report for a period: monitoring statistics, the latest scan, the guard policy and threat-model coverage, mapped to the OWASP LLM and Agentic Top 10, MITRE ATLAS, the NIST AI RMF functions and EU AI Act article 15. Every figure is measured or read from a file you name; a source you do not give is reported as missing, never guessed. Works offline.",
    )
    .option("--since <date>", "start of the period (ISO 8601 date or time)")
    .option("--until <date>", "end of the period (default now)")
    .option("-c, --config <file>", "gateway configuration: its store and policy are used")
    .option("--store <url>", "event store: pglite:DIR, postgres://user@host/db (default pglite:./.bulwark/events)")
    .option("--schema <name>", "SQL schema of the store's tables", "bulwark")
    .option("--no-events", "leave out monitoring statistics (do not open the event store)")
    .option("-p, --policy <file>", "guard policy (default: the configuration's, else the built-in policy)")
    .option("-m, --model <file>", "threat model (YAML or JSON, as for bulwark threats) for threat coverage")
    .option("-r, --results <file>", "scan results (results.json from bulwark scan)")
    .option("-o, --out <dir>", "write report.md, report.html and posture.json into this directory")
    .addOption(new Option("-f, --format <format>", "what to write: html, md or both (default: both with --out, md on stdout without)").choices(["html", "md", "both"]))
    .addHelpText(
      "after",
      [
        "",
        "What goes in:",
        "  event store   decisions, block rate, latency p50/p95/p99, top principals, categories,",
        "                degraded decisions by failed layer and what the failure mode did, signals",
        "                (drift, anomalies, incidents), failure boundaries with their error budgets",
        "  --results     the latest scan (results.json from bulwark scan): attack success by category",
        "  --policy      the guard policy in force and which threat-library controls it enforces",
        "  --model       threat-model coverage (a model file, as for bulwark threats)",
        "",
        "The period runs from --since to --until (default: the 30 days before now), widened to whole",
        "UTC days (whole hours for two days or less). The embedded store (pglite:DIR) is opened by one",
        "process at a time: stop the gateway first, or point --store at its PostgreSQL database.",
        "",
        "Examples:",
        "  $ bulwark report --out posture/                              # last 30 days, embedded store, built-in policy",
        "  $ bulwark report --since 2026-01-01 --format md > posture.md",
        "  $ bulwark report -c bulwark.yaml --model model.yaml --results scan/results.json --out posture/",
        "  $ bulwark report --store postgres://bulwark@db/bulwark --since 2026-01-01 --until 2026-02-01 --format html --out q1/",
      ].join("\n"),
    )
    .action(async (options: ReportOptions) => {
      process.exitCode = await runReport(options);
    });
}

function parseDate(value: string | undefined, option: string, fallback: Date): Date | string {
  if (value === undefined) return fallback;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? `${option} must be an ISO 8601 date or time (e.g. 2026-01-31 or 2026-01-31T12:00:00Z), got ${JSON.stringify(value)}` : date;
}

async function runReport(options: ReportOptions): Promise<number> {
  const until = parseDate(options.until, "--until", new Date());
  if (typeof until === "string") return fail(until);
  const since = parseDate(options.since, "--since", new Date(until.getTime() - 30 * DAY));
  if (typeof since === "string") return fail(since);
  if (since.getTime() >= until.getTime()) return fail(`--since (${since.toISOString()}) must be before --until (${until.toISOString()})`);
  const format = options.format ?? (options.out ? "both" : "md");
  if (format === "both" && !options.out) return fail("--format both writes two files: give --out DIR (or choose --format md or html for standard output)");

  let storeUrl = options.store ?? "pglite:./.bulwark/events";
  let schema = options.schema;
  let baseDir = process.cwd();
  let policyPath = options.policy;
  if (options.config) {
    const { ConfigError, configPath, loadConfigFile } = await import("../gateway/config.js");
    try {
      const loaded = await loadConfigFile(options.config);
      if (!options.store) storeUrl = loaded.config.store.url;
      if (options.schema === "bulwark") schema = loaded.config.store.schema;
      baseDir = loaded.baseDir;
      if (!policyPath && loaded.config.policy) policyPath = configPath(loaded, loaded.config.policy);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      return fail(error.message);
    }
  }
  const policy: LoadedPolicy | null = await loadPolicyOption(policyPath);
  if (!policy) return 2;

  let threats: PostureInput["threats"] = null;
  if (options.model) {
    const { loadThreatModelFile } = await import("../threats/load-model.js");
    const { analyse } = await import("../threats/analyse.js");
    const { loadEvidenceFile } = await import("../threats/evidence.js");
    const { ThreatModelError } = await import("../threats/problems.js");
    try {
      const model = await loadThreatModelFile(options.model);
      const evidence = options.results ? await loadEvidenceFile(options.results) : null;
      threats = analyse({ model, policy, evidence });
    } catch (error) {
      if (error instanceof ThreatModelError) return fail(error.message);
      throw error;
    }
  }

  let scan: PostureInput["scan"] = null;
  if (options.results) {
    const { readFile } = await import("node:fs/promises");
    const { parseScanResults } = await import("../redteam/results.js");
    let text: string;
    try {
      text = await readFile(options.results, "utf8");
    } catch (error) {
      return fail(`--results ${options.results}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message}`);
    }
    try {
      scan = { source: options.results, results: parseScanResults(text, options.results) };
    } catch (error) {
      return fail((error as Error).message);
    }
  }

  let store: EventStore | null = null;
  if (options.events) {
    if (storeUrl === "memory") return fail("a memory store exists only inside its gateway: give --store pglite:DIR or postgres://..., or --no-events");
    if (storeUrl.startsWith("pglite:")) {
      const path = storeUrl.slice("pglite:".length);
      const dir = isAbsolute(path) ? path : resolve(baseDir, path);
      if (!existsSync(dir)) return fail(`no event store at ${dir} (the gateway creates it on first start): give --store or --config, or --no-events to report without monitoring statistics`);
    }
    const { openStore } = await import("../store/open.js");
    store = openStore(storeUrl, { schema, baseDir });
    try {
      await store.init();
    } catch (error) {
      await store.close().catch(() => undefined);
      return fail(`cannot open the event store ${store.description}: ${(error as Error).message}`);
    }
  }

  try {
    const { buildPostureReport } = await import("../report/posture.js");
    const { renderPostureHtml, renderPostureMarkdown } = await import("../report/render.js");
    const report = await buildPostureReport({ since, until, store: store ? { aggregates: store, description: store.description } : null, policy, threats, scan });
    const outputs: Array<[string, string]> = [];
    if (format === "md" || format === "both") outputs.push(["report.md", renderPostureMarkdown(report)]);
    if (format === "html" || format === "both") outputs.push(["report.html", renderPostureHtml(report)]);
    if (options.out) {
      await mkdir(options.out, { recursive: true });
      outputs.push(["posture.json", JSON.stringify(report, null, 2) + "\n"]);
      for (const [name, text] of outputs) await writeFile(join(options.out, name), text);
      stderr(`wrote ${outputs.map(([name]) => join(options.out!, name)).join(", ")}`);
    } else {
      await writeOut(outputs[0]![1]);
    }
    const m = report.monitoring;
    stderr(
      `period ${report.period.since} to ${report.period.until}: ${m ? `${m.totals.decisions} decisions, ${m.totals.blocks} blocked` : "no monitoring statistics"}; ${report.scan ? `scan ${report.scan.summary.failed}/${report.scan.summary.total} attacks succeeded` : "no scan results"}; ${report.threats ? `${report.threats.summary.open} open threats` : "no threat model"}`,
    );
    return 0;
  } finally {
    await store?.close().catch(() => undefined);
  }
}

function fail(message: string): number {
  stderr(`bulwark report: ${message}`);
  return 2;
}
