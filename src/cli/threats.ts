/**
 * `bulwark threats MODEL.yaml`: threat modeling as code. Loads the system
 * model, runs the threat library over it, scores the threats, checks coverage
 * against a guard policy and evidence from scan results, and prints a report.
 *
 * Output: the report on stdout (or --out FILE) in the chosen format; problems
 * on stderr. Exit status: 0, 1 when --fail-on is met, 2 for invalid input.
 */
import { readFile, writeFile } from "node:fs/promises";
import type { Command} from "commander";
import { Option } from "commander";
import type { LoadedPolicy } from "../policy/load.js";
import { analyse } from "../threats/analyse.js";
import { parseBaseline } from "../threats/diff.js";
import { loadEvidenceFile } from "../threats/evidence.js";
import { loadLibraryFile } from "../threats/library.js";
import { loadThreatModelFile } from "../threats/load-model.js";
import { ThreatModelError } from "../threats/problems.js";
import { FORMATS, renderReport, type ThreatFormat } from "../threats/render/index.js";
import { SEVERITIES, type Severity } from "../threats/scoring.js";
import { loadPolicyOption } from "./policy-option.js";
import { stderr, writeOut } from "./output.js";

interface ThreatsOptions {
  policy?: string;
  evidence?: string;
  library: string[];
  format: ThreatFormat;
  out?: string;
  diff?: string;
  failOn?: Severity;
  timestamp?: string;
}

export function register(program: Command): void {
  program
    .command("threats")
    .summary("threat-model an AI system described in a YAML model")
    .description(
      [
        "Threat-model an AI system described as code (see docs/threat-modeling.md).",
        "",
        "Runs the threat library over MODEL.yaml, scores each threat (likelihood × impact), marks each",
        "Bulwark mitigation enforced or missing in the guard policy (--policy), attaches evidence from",
        "`bulwark scan` results (--evidence), applies the risk decisions recorded in the model, and",
        "prints a prioritised report. The same inputs always give the same bytes.",
      ].join("\n"),
    )
    .argument("<model>", "the system model (YAML or JSON)")
    .option("-p, --policy <file>", "guard policy to assess Bulwark controls against")
    .option("-e, --evidence <file>", "scan results (results.json from bulwark scan)")
    .option("-l, --library <file>", "extra threat rules, adding to or overriding the built-in library (repeatable)", (value: string, previous: string[]) => [...previous, value], [] as string[])
    .addOption(new Option("-f, --format <format>", "output format").choices(FORMATS).default("md"))
    .option("-o, --out <file>", "write the report to a file instead of standard output")
    .option("--diff <baseline>", "compare with an earlier JSON report: list new and removed threats (for CI)")
    .addOption(new Option("--fail-on <severity>", "exit 1 when an open threat has this residual severity or worse (with --diff: only new threats count)").choices(SEVERITIES))
    .option("--timestamp <iso>", "include this time in the report (omitted by default so reports are reproducible)")
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        "  $ bulwark threats docs/examples/support-bot.model.yaml",
        "  $ bulwark threats model.yaml --policy bulwark.policy.yaml --evidence scan/results.json --format html --out threats.html",
        "  $ bulwark threats model.yaml --format sarif --out threats.sarif",
        "  $ bulwark threats model.yaml --format json --diff baseline.json --fail-on high",
      ].join("\n"),
    )
    .action(async (modelPath: string, options: ThreatsOptions) => {
      process.exitCode = await runThreats(modelPath, options);
    });
}

async function runThreats(modelPath: string, options: ThreatsOptions): Promise<number> {
  let policy: LoadedPolicy | null = null;
  if (options.policy) {
    policy = await loadPolicyOption(options.policy);
    if (!policy) return 2;
  }
  try {
    const model = await loadThreatModelFile(modelPath);
    const libraries = await Promise.all(options.library.map((path) => loadLibraryFile(path)));
    const evidence = options.evidence ? await loadEvidenceFile(options.evidence) : null;
    const baseline = options.diff ? { report: parseBaseline(await readText(options.diff), options.diff), source: options.diff } : null;
    const report = analyse({ model, libraries, policy, evidence, baseline, ...(options.timestamp ? { timestamp: options.timestamp } : {}) });
    const text = renderReport(report, options.format);
    if (options.out) await writeFile(options.out, text);
    else await writeOut(text);
    const counted = report.threats.filter((t) => t.risk.status === "open" && (!report.diff || t.baseline === "new"));
    const s = report.summary;
    stderr(`${s.threats} threats (${s.open} open; residual ${SEVERITIES.slice().reverse().map((sev) => `${s.residual[sev]} ${sev}`).join(", ")})${report.diff ? `; ${report.diff.added.length} new, ${report.diff.removed.length} removed since ${report.diff.baseline}` : ""}${options.out ? `; wrote ${options.out}` : ""}`);
    if (options.failOn) {
      const threshold = SEVERITIES.indexOf(options.failOn);
      const failing = counted.filter((t) => SEVERITIES.indexOf(t.residual.severity) >= threshold);
      if (failing.length > 0) {
        stderr(`--fail-on ${options.failOn}: ${failing.length} ${report.diff ? "new " : ""}open threat${failing.length === 1 ? "" : "s"} at or above ${options.failOn}: ${failing.slice(0, 10).map((t) => t.id).join(", ")}${failing.length > 10 ? ", ..." : ""}`);
        return 1;
      }
    }
    return 0;
  } catch (error) {
    if (!(error instanceof ThreatModelError)) throw error;
    stderr(error.message);
    stderr("Fix the problems above (the reference is docs/threat-modeling.md).");
    return 2;
  }
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new ThreatModelError(path, [{ path: "", expected: "a readable file", found: (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message }], "baseline report");
  }
}
