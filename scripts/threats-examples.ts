/**
 * Renders the threat-modeling examples in docs/examples/ in every format
 * (`npm run threats:examples`). Each example NAME has NAME.model.yaml, a guard
 * policy NAME.policy.yaml and, where a scan was run, NAME.results.json; the
 * reports go to docs/examples/NAME/. test/threats/examples.test.ts renders them
 * again in memory and fails when the committed files differ, so the docs never
 * drift from the code.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { parsePolicy } from "../src/policy/load.js";
import { analyse } from "../src/threats/analyse.js";
import { parseEvidence } from "../src/threats/evidence.js";
import { parseThreatModel } from "../src/threats/load-model.js";
import { renderReport, type ThreatFormat } from "../src/threats/render/index.js";
import { packagePath } from "../src/util/paths.js";

export const EXAMPLES = ["support-bot", "coding-agent", "email-assistant"] as const;
const OUTPUTS: ReadonlyArray<[ThreatFormat, string]> = [
  ["md", "report.md"],
  ["html", "report.html"],
  ["json", "report.json"],
  ["sarif", "report.sarif"],
  ["mermaid", "diagram.mmd"],
];

/** Every rendered file, keyed by its path relative to the package root. Sources are named relative to the root, so the bytes do not depend on where the repository lives. */
export function renderExamples(): Map<string, string> {
  const files = new Map<string, string>();
  for (const name of EXAMPLES) {
    const relative = (file: string): string => `docs/examples/${file}`;
    const read = (file: string): string => readFileSync(packagePath("docs", "examples", file), "utf8");
    const model = parseThreatModel(read(`${name}.model.yaml`), relative(`${name}.model.yaml`));
    const policy = parsePolicy(read(`${name}.policy.yaml`), relative(`${name}.policy.yaml`));
    const evidenceFile = `${name}.results.json`;
    const evidence = existsSync(packagePath("docs", "examples", evidenceFile)) ? parseEvidence(read(evidenceFile), relative(evidenceFile)) : null;
    const report = analyse({ model, policy, evidence });
    for (const [format, file] of OUTPUTS) files.set(`docs/examples/${name}/${file}`, renderReport(report, format));
  }
  return files;
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, "/").split("/").pop() ?? "");
if (invokedDirectly) {
  for (const [path, text] of renderExamples()) {
    mkdirSync(packagePath(...path.split("/").slice(0, -1)), { recursive: true });
    writeFileSync(packagePath(...path.split("/")), text);
    console.error(`wrote ${path}`);
  }
}
