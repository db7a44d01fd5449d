/**
 * Writing the reports of a finished run, all streamed from the journal so that
 * memory stays bounded: results.json (the documented schema), report.html,
 * results.sarif (SARIF 2.1.0), junit.xml and summary.md.
 */
import { createWriteStream, type WriteStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readJournal, type ScanRun } from "../runner.js";
import { RESULTS_SCHEMA_VERSION, type ScanCaseResult } from "../results.js";
import type { Catalogue } from "../catalogue.js";
import { renderHtml } from "./html.js";
import { renderMarkdown } from "./markdown.js";
import { sarifHeader, sarifResult, sarifRules } from "./sarif.js";
import { junitCase, junitFooter, junitHeader } from "./junit.js";

export const REPORT_FILES = { json: "results.json", html: "report.html", sarif: "results.sarif", junit: "junit.xml", markdown: "summary.md" } as const;

export async function writeReports(run: ScanRun, catalogue: Catalogue, outDir: string): Promise<Record<keyof typeof REPORT_FILES, string>> {
  const paths = Object.fromEntries(Object.entries(REPORT_FILES).map(([key, name]) => [key, join(outDir, name)])) as Record<keyof typeof REPORT_FILES, string>;

  // results.json: the header, then the cases streamed from the journal.
  const json = createWriteStream(paths.json);
  const header = JSON.stringify({ schemaVersion: RESULTS_SCHEMA_VERSION, manifest: run.manifest, summary: run.summary, categories: run.categories }, null, 2);
  await put(json, header.slice(0, -2) + ',\n  "cases": [');
  let first = true;
  for await (const entry of readJournal(run.journalPath)) {
    for (const record of entry.r) {
      await put(json, (first ? "\n    " : ",\n    ") + JSON.stringify(record));
      first = false;
    }
  }
  await put(json, "\n  ]\n}\n");
  await close(json);

  // SARIF: one rule per catalogue case, one result per failed attempt.
  const sarif = createWriteStream(paths.sarif);
  const rules = sarifRules(catalogue);
  const ruleIndex = new Map(rules.map((rule, index) => [rule.id, index]));
  await put(sarif, sarifHeader(run, rules));
  first = true;
  for await (const record of failedRecords(run.journalPath)) {
    const location = catalogue.cases.find((c) => c.id === record.caseId)?.location;
    await put(sarif, (first ? "" : ",") + JSON.stringify(sarifResult(record, ruleIndex.get(record.caseId) ?? ruleIndex.get("failure-response") ?? 0, location)));
    first = false;
  }
  await put(sarif, "]}]}\n");
  await close(sarif);

  // JUnit: a test suite per category, a test case per attempt.
  const junit = createWriteStream(paths.junit);
  await put(junit, junitHeader(run));
  for await (const entry of readJournal(run.journalPath)) for (const record of entry.r) await put(junit, junitCase(record));
  await put(junit, junitFooter());
  await close(junit);

  await writeFile(paths.html, renderHtml(run));
  await writeFile(paths.markdown, renderMarkdown(run));
  return paths;
}

async function* failedRecords(journal: string): AsyncGenerator<ScanCaseResult> {
  for await (const entry of readJournal(journal)) for (const record of entry.r) if (record.outcome === "failed") yield record;
}

function put(stream: WriteStream, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stream.write(text, (error) => (error ? reject(error) : undefined))) resolve();
    else stream.once("drain", resolve);
  });
}

function close(stream: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
}
