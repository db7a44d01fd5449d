/**
 * Measure the heuristics layer on the shared datasets (../shared/datasets, see
 * its INDEX.md): detection rate on attack rows, false-positive rate on benign
 * rows, and, for harmful requests (not injections), just how often they are
 * flagged.
 *
 *   npm run eval:heuristics [-- --per-corpus 3000] [-- --json out.json]
 *
 * Rows are deduplicated per dataset on whitespace-collapsed lower-case text.
 * Benign corpora are sampled deterministically (every k-th row) to at most
 * --per-corpus rows. Document corpora are checked with role `document`, all
 * else with role `user`. The layer runs without the normalize layer (folded =
 * lower-cased text), as the engine does when normalisation is off. Timing is
 * in bench/heuristics.ts, not here.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { PolicySchema } from "../src/policy/schema.js";
import { createHeuristicsLayer } from "../src/detectors/heuristics/index.js";
import type { LayerInput, LayerOutput, Role } from "../src/guard/types.js";

const DATASETS = new URL("../../shared/datasets/", import.meta.url);
const FLAG = 0.5;
const BLOCK = 0.8;

const args = process.argv.slice(2);
const perCorpus = Number(args[args.indexOf("--per-corpus") + 1] ?? 3000) || 3000;
const jsonOut = args.includes("--json") ? args[args.indexOf("--json") + 1] : undefined;
const showMisses = args.includes("--misses") ? args[args.indexOf("--misses") + 1] : undefined;
const showFalse = args.includes("--false-positives") ? args[args.indexOf("--false-positives") + 1] : undefined;

const layer = createHeuristicsLayer(PolicySchema.parse({ version: 1 }));
if (!layer) throw new Error("heuristics layer disabled in the default policy");

interface Row {
  text: string;
  label: string;
  role: Role;
}

function score(row: Row): { score: number; categories: string[] } {
  const input: LayerInput = {
    text: row.text,
    original: row.text,
    views: { folded: row.text.toLowerCase(), foldedToText: null, hidden: [] },
    role: row.role,
    trust: "untrusted",
    stage: "input",
    intake: { bytes: Buffer.byteLength(row.text), invalidUtf8: 0, loneSurrogates: 0 },
    signal: new AbortController().signal,
  };
  const output = layer!.check(input) as LayerOutput;
  const top = output.findings.reduce((max, f) => Math.max(max, f.score), 0);
  return { score: top, categories: output.findings.filter((f) => f.score >= FLAG).map((f) => f.category) };
}

function readJsonl(path: URL): Array<Record<string, unknown>> {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function dedupe(rows: Row[]): Row[] {
  const seen = new Set<string>();
  return rows.filter((row) => {
    const key = `${row.label}\u0000${row.text.toLowerCase().replace(/\s+/g, " ").trim()}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function sample<T>(rows: T[], limit: number): T[] {
  if (rows.length <= limit) return rows;
  const step = rows.length / limit;
  return Array.from({ length: limit }, (_, i) => rows[Math.floor(i * step)]!);
}

interface Line {
  dataset: string;
  label: string;
  rows: number;
  flagged: number;
  blocked: number;
}

const lines: Line[] = [];
const examples: Array<{ dataset: string; label: string; score: number; text: string }> = [];

function evaluate(dataset: string, rows: Row[]): void {
  const byLabel = new Map<string, Row[]>();
  for (const row of dedupe(rows)) byLabel.set(row.label, [...(byLabel.get(row.label) ?? []), row]);
  for (const [label, group] of [...byLabel].sort()) {
    let flagged = 0;
    let blocked = 0;
    for (const row of group) {
      const result = score(row);
      if (result.score >= FLAG) flagged++;
      if (result.score >= BLOCK) blocked++;
      const wantMiss = showMisses && dataset.includes(showMisses) && label === "attack" && result.score < FLAG;
      const wantFalse = showFalse && dataset.includes(showFalse) && label === "benign" && result.score >= FLAG;
      if (wantMiss || wantFalse) examples.push({ dataset, label, score: result.score, text: row.text });
    }
    lines.push({ dataset, label, rows: group.length, flagged, blocked });
  }
}

const normalized = new URL("_normalized/", DATASETS);
if (!existsSync(normalized)) throw new Error(`datasets not found at ${DATASETS.pathname}`);
for (const file of readdirSync(normalized).filter((name) => name.endsWith(".jsonl")).sort()) {
  const dataset = file.replace(/\.jsonl$/, "");
  const rows = readJsonl(new URL(file, normalized)).map((record) => {
    const label = String(record.label);
    // BIPIA's benign rows are e-mails, tables and code: fetched content.
    const role: Role = dataset === "bipia-train" && label === "benign" ? "document" : "user";
    return { text: String(record.text ?? ""), label, role };
  });
  evaluate(dataset, rows);
}

const benign = new URL("benign/", DATASETS);
for (const corpus of readdirSync(benign).sort()) {
  const path = new URL(`${corpus}/data.jsonl`, benign);
  if (!existsSync(path)) continue;
  const rows = sample(
    readJsonl(path).map((record) => ({
      text: String(record.text ?? ""),
      label: String(record.label),
      role: (record.kind === "document" ? "document" : "user") as Role,
    })),
    perCorpus,
  );
  evaluate(`benign/${corpus}`, rows);
}

const percent = (part: number, whole: number): string => (whole === 0 ? "-" : `${((100 * part) / whole).toFixed(1)}%`);
const header = ["dataset", "label", "rows", "measure", `>= ${FLAG} (flag)`, `>= ${BLOCK} (block)`];
const table = lines.map((line) => {
  const measure = line.label === "attack" ? "detection" : line.label === "benign" ? "false positives" : "flag rate";
  return [line.dataset, line.label, String(line.rows), measure, percent(line.flagged, line.rows), percent(line.blocked, line.rows)];
});
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
const format = (cells: string[]): string => "| " + cells.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ") + " |";
console.log(format(header));
console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
for (const row of table) console.log(format(row));

const total = (label: string, filter: (line: Line) => boolean = () => true) => {
  const selected = lines.filter((line) => line.label === label && filter(line));
  const rows = selected.reduce((sum, line) => sum + line.rows, 0);
  return { rows, flagged: selected.reduce((sum, line) => sum + line.flagged, 0), blocked: selected.reduce((sum, line) => sum + line.blocked, 0) };
};
const attacks = total("attack");
const benignRows = total("benign");
console.log(`\nall attack rows: ${attacks.rows}, flagged ${percent(attacks.flagged, attacks.rows)}, blocked ${percent(attacks.blocked, attacks.rows)}`);
console.log(`all benign rows: ${benignRows.rows}, false positives ${percent(benignRows.flagged, benignRows.rows)} at flag, ${percent(benignRows.blocked, benignRows.rows)} at block`);
for (const example of examples) console.log(`\n[${example.dataset} ${example.label} ${example.score}] ${example.text.slice(0, 400).replace(/\s+/g, " ")}`);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ flag: FLAG, block: BLOCK, lines }, null, 2));
