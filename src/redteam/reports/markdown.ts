/** The Markdown summary: for pull-request comments and CI job summaries. */
import type { ScanRun } from "../runner.js";

const pct = (value: number): string => `${(value * 100).toFixed(1)}%`;

export function renderMarkdown(run: ScanRun): string {
  const { manifest, summary } = run;
  const lines = [
    `# Bulwark scan: ${manifest.target}`,
    "",
    `${summary.total} attempts: **${summary.failed} attacks succeeded**, ${summary.held} held, ${summary.errors} errors. Catalogue ${manifest.catalogueVersion}, seed ${manifest.seed}, Bulwark ${manifest.bulwarkVersion}${manifest.policyHash ? `, policy ${manifest.policyHash.slice(0, 12)}` : ""}.`,
    "",
    "| category | attempts | succeeded | success rate | 95% CI |",
    "|---|---:|---:|---:|---|",
    ...run.categories.map((c) => `| ${c.category} | ${c.total} | ${c.succeeded} | ${pct(c.rate)} | ${pct(c.ci[0])} – ${pct(c.ci[1])} |`),
  ];
  if (run.worst.length > 0) {
    lines.push("", "## Worst findings", "");
    for (const w of run.worst.slice(0, 10)) lines.push(`- **${w.severity}** \`${w.id}\` (${w.category}): ${w.evidence.replace(/\|/g, "\\|")}`);
  }
  return lines.join("\n") + "\n";
}
