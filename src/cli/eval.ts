/**
 * `bulwark eval`: measure detection on labelled JSONL, per file (or per `set`
 * field) and overall: TPR, FPR, precision, F1, ROC AUC, recall at 1% FPR, and
 * latency p50/p99. By default it measures the whole guard under a policy (a
 * block counts as detected); `--detector classifier` measures the model alone.
 */
import { Option, type Command } from "commander";
import { createGuard } from "../guard/engine.js";
import { calibrate, detect } from "../model/detect.js";
import { evaluateDetector, evalRowCells, EVAL_HEADER, markdownTable, type DetectorVerdict, type EvalItem } from "../model/evaluate.js";
import { categoryFor, domainForRole } from "../model/layer.js";
import { readLabelled } from "../model/records.js";
import { loadClassifier, shippedClassifier } from "../model/weights.js";
import { foldText } from "../model/text.js";
import { loadPolicyOption } from "./policy-option.js";
import { renderTable, stderr, writeOut } from "./output.js";

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function register(program: Command): void {
  program
    .command("eval")
    .summary("measure detection accuracy and latency on labelled JSONL")
    .description(
      [
        "Measure detection on JSONL lines {\"text\", \"label\": \"attack\"|\"benign\", \"role\"?, \"set\"?}.",
        "Prints per set (the file name, or the line's `set`) and overall: TPR, FPR, precision, F1, ROC AUC,",
        "recall at 1% FPR and latency p50/p99 in microseconds. Evaluate only on data the model never saw.",
        "",
        "--detector guard (default) runs every layer of the policy and counts a block as a detection;",
        "--detector classifier scores with the classifier alone at its block operating point.",
      ].join("\n"),
    )
    .requiredOption("-d, --data <file>", "labelled JSONL (repeatable)", collect, [])
    .option("-p, --policy <file>", "policy file (YAML or JSON); the built-in default policy otherwise")
    .addOption(new Option("--detector <name>", "what to measure").choices(["guard", "classifier"]).default("guard"))
    .option("--model <dir>", "model directory for --detector classifier (default: the shipped model)")
    .option("--json", "print JSON rows instead of a table")
    .addHelpText("after", ["", "Examples:", "  $ bulwark eval --data traffic.jsonl", "  $ bulwark eval --data attacks.jsonl --data benign.jsonl --detector classifier --json"].join("\n"))
    .action(async (options: { data: string[]; policy?: string; detector: "guard" | "classifier"; model?: string; json?: boolean }) => {
      const loaded = await loadPolicyOption(options.policy);
      if (!loaded) return;
      const items: EvalItem[] = [];
      for (const path of options.data) {
        const { records, skipped } = readLabelled(path);
        if (skipped > 0) stderr(`${path}: skipped ${skipped} lines whose label is neither attack nor benign`);
        items.push(...records);
      }
      if (items.length === 0) {
        stderr("eval: no labelled lines");
        process.exitCode = 2;
        return;
      }
      let run: (item: EvalItem) => DetectorVerdict | Promise<DetectorVerdict>;
      if (options.detector === "classifier") {
        const classifier = options.model ? loadClassifier(options.model) : shippedClassifier();
        const config = loaded.policy.layers.classifier;
        run = (item) => {
          const domain = domainForRole(item.role);
          const detection = detect(classifier, foldText(item.text), item.text, domain);
          const category = categoryFor(item.role, detection, new Set());
          const t = { ...loaded.policy.actions.default, ...loaded.policy.actions.categories[category], ...loaded.policy.actions.roles[item.role]?.[category] };
          const thresholds = { flag: t.flag ?? 0.5, block: t.block ?? 0.8 };
          const roleConfig = config.roles[item.role];
          const blockFpr = roleConfig?.blockFpr ?? config.blockFpr;
          const score = calibrate(detection.raw, classifier.metadata.calibration[domain], { blockFpr, flagFpr: Math.max(blockFpr, roleConfig?.flagFpr ?? config.flagFpr) }, thresholds);
          return { score, flagged: score >= thresholds.block };
        };
      } else {
        const guard = createGuard({ policy: loaded });
        run = async (item) => {
          const decision = await guard.check({ text: item.text, role: item.role });
          return { score: decision.score, flagged: decision.action === "block" };
        };
      }
      const rows = await evaluateDetector(items, run);
      if (options.json) await writeOut(JSON.stringify({ detector: options.detector, policy: loaded.source, rows }, null, 2) + "\n");
      else if (process.stdout.isTTY) await writeOut(renderTable(EVAL_HEADER, rows.map(evalRowCells)) + "\n");
      else await writeOut(markdownTable(EVAL_HEADER, rows.map(evalRowCells)) + "\n");
    });
}
