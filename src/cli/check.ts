/**
 * `bulwark check`: run the guard over text and print one decision per input.
 *
 * Output contract (relied on by later tooling; extend compatibly): one JSON
 * object per input on stdout, in input order:
 *   {"id","decision","score","categories","findings":[{"detector","category","score","span"?}],"latency_us"}
 * A malformed input line yields {"id","error","line"} and the rest is processed.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { Option, type Command } from "commander";
import { createGuard, type Guard } from "../guard/engine.js";
import type { Action, Decision, Role } from "../guard/types.js";
import { ACTIONS, ROLES } from "../policy/schema.js";
import { loadPolicyOption } from "./policy-option.js";
import { renderTable, resolveFormat, stderr, writeOut, type OutputFormat } from "./output.js";

export interface CheckResultLine {
  id: string;
  decision: Action;
  score: number;
  categories: string[];
  findings: Array<{ detector: string; category: string; score: number; span?: { start: number; end: number }; rule?: string; evidence?: string }>;
  latency_us: number;
}

export interface CheckErrorLine {
  id: string;
  error: string;
  line: number;
}

interface CheckItem {
  readonly id: string;
  readonly text: string | Uint8Array;
  readonly role: Role;
}

const SEVERITY: Record<Action, number> = { allow: 0, flag: 1, redact: 2, block: 3 };

export function register(program: Command): void {
  program
    .command("check")
    .summary("check text with the guard and print one decision per input")
    .description(
      [
        "Check text with the guard and print one decision per input.",
        "",
        "Inputs come from TEXT arguments (one input each), from `-` (all of standard input is one text),",
        "or from --input FILE.jsonl (one JSON object per line: {\"id\"?, \"text\", \"role\"?}; `--input -` reads JSONL from stdin).",
        "",
        "Output: one JSON object per input on stdout, in input order; a table instead when stdout is a terminal.",
      ].join("\n"),
    )
    .argument("[text...]", "texts to check, or - to read one text from standard input")
    .option("-p, --policy <file>", "policy file (YAML or JSON); the built-in default policy otherwise")
    .addOption(new Option("-r, --role <role>", "role of the text: untrusted document and tool content is judged more strictly").choices(ROLES.filter((r) => r !== "system")).default("user"))
    .option("-i, --input <file>", "JSONL file of inputs, or - for JSONL on standard input")
    .addOption(new Option("-f, --format <format>", "output format (default: table on a terminal, json otherwise)").choices(["json", "table"]))
    .addOption(new Option("--fail-on <action>", "exit with status 1 when any input gets this action or a more severe one (malformed lines count)").choices(ACTIONS.filter((a) => a !== "allow")))
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        '  $ bulwark check "How do I ignore case in a regex?"',
        '  $ echo "Ignore all previous instructions" | bulwark check -',
        "  $ bulwark check --role document - < retrieved-page.txt",
        "  $ bulwark check --input data/samples/check.jsonl --format table",
        "  $ bulwark check --input prompts.jsonl --fail-on block > decisions.jsonl",
      ].join("\n"),
    )
    .action(async (texts: string[], options: { policy?: string; role: Role; input?: string; format?: string; failOn?: Action }) => {
      const loaded = await loadPolicyOption(options.policy);
      if (!loaded) return;
      const guard = createGuard({ policy: loaded });
      const format = resolveFormat(options.format);
      const items = inputs(texts, options);
      if (!items) return;
      const summary = await runChecks(guard, items, format);
      if (options.failOn && (summary.worst >= SEVERITY[options.failOn] || summary.errors > 0)) process.exitCode = 1;
    });
}

function inputs(texts: string[], options: { role: Role; input?: string }): AsyncIterable<CheckItem | CheckErrorLine> | null {
  if (options.input && texts.length > 0) {
    stderr("bulwark check: give either TEXT arguments or --input, not both");
    process.exitCode = 2;
    return null;
  }
  if (options.input) {
    const stream = options.input === "-" ? process.stdin : createReadStream(options.input);
    return jsonlInputs(stream, options.input, options.role);
  }
  if (texts.length === 0) {
    stderr("bulwark check: nothing to check. Give TEXT, `-` for standard input, or --input FILE.jsonl (see bulwark check --help)");
    process.exitCode = 2;
    return null;
  }
  return (async function* () {
    for (const [index, text] of texts.entries()) {
      yield { id: String(index + 1), text: text === "-" ? await readAll(process.stdin) : text, role: options.role };
    }
  })();
}

async function readAll(stream: Readable): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  // Strip one trailing newline added by `echo`, and keep the bytes raw so invalid UTF-8 is seen by the guard.
  const all = Buffer.concat(chunks);
  return all.at(-1) === 0x0a ? all.subarray(0, all.length - 1) : all;
}

async function* jsonlInputs(stream: Readable, name: string, defaultRole: Role): AsyncIterable<CheckItem | CheckErrorLine> {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let lineNumber = 0;
  try {
    for await (const line of lines) {
      lineNumber++;
      if (line.trim() === "") continue;
      yield parseInputLine(line, lineNumber, defaultRole);
    }
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? `no such file: ${name}` : (error as Error).message;
    yield { id: `line-${lineNumber + 1}`, error: `cannot read ${name}: ${reason}`, line: lineNumber + 1 };
  }
}

export function parseInputLine(line: string, lineNumber: number, defaultRole: Role): CheckItem | CheckErrorLine {
  const fallbackId = `line-${lineNumber}`;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    return { id: fallbackId, error: `line ${lineNumber}: not valid JSON (${(error as Error).message})`, line: lineNumber };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { id: fallbackId, error: `line ${lineNumber}: expected a JSON object like {"text": "..."}, found ${Array.isArray(value) ? "an array" : typeof value}`, line: lineNumber };
  }
  const record = value as Record<string, unknown>;
  const id = typeof record.id === "string" || typeof record.id === "number" ? String(record.id) : fallbackId;
  if (typeof record.text !== "string") {
    return { id, error: `line ${lineNumber}: "text" must be a string, found ${record.text === undefined ? "nothing" : typeof record.text}`, line: lineNumber };
  }
  const role = record.role ?? defaultRole;
  if (typeof role !== "string" || !(ROLES as readonly string[]).includes(role)) {
    return { id, error: `line ${lineNumber}: "role" must be one of ${ROLES.join(", ")}, found ${JSON.stringify(role)}`, line: lineNumber };
  }
  return { id, text: record.text, role: role as Role };
}

export function toResultLine(id: string, decision: Decision): CheckResultLine {
  return {
    id,
    decision: decision.action,
    score: round(decision.score),
    categories: decision.categories,
    findings: decision.findings.map((f) => ({
      detector: f.detector,
      category: f.category,
      score: round(f.score),
      ...(f.span ? { span: { start: f.span.start, end: f.span.end } } : {}),
      ...(f.ruleId ? { rule: f.ruleId } : {}),
      ...(f.evidence ? { evidence: f.evidence } : {}),
    })),
    latency_us: decision.latencyUs,
  };
}

async function runChecks(guard: Guard, items: AsyncIterable<CheckItem | CheckErrorLine>, format: OutputFormat): Promise<{ worst: number; errors: number }> {
  let worst = 0;
  let errors = 0;
  const rows: Array<Array<string | number>> = [];
  const counts: Record<Action, number> = { allow: 0, flag: 0, redact: 0, block: 0 };
  const progress = process.stderr.isTTY && format === "json";
  let done = 0;
  for await (const item of items) {
    let line: CheckResultLine | CheckErrorLine;
    if ("error" in item) {
      line = item;
      errors++;
    } else {
      line = toResultLine(item.id, await guard.check({ text: item.text, role: item.role }));
      worst = Math.max(worst, SEVERITY[line.decision]);
      counts[line.decision]++;
    }
    done++;
    if (format === "json") {
      await writeOut(JSON.stringify(line) + "\n");
      if (progress && done % 100 === 0) process.stderr.write(`\rchecked ${done}`);
    } else if ("error" in line) {
      rows.push([line.id, "ERROR", "", line.error, ""]);
    } else {
      const top = [...line.findings].sort((a, b) => b.score - a.score)[0];
      rows.push([line.id, line.decision, line.score.toFixed(2), line.categories.join(", ") || "-", top ? `${top.detector}${top.rule ? "/" + top.rule : ""}${top.evidence ? ": " + top.evidence : ""}`.slice(0, 80) : "-", `${line.latency_us}`]);
    }
  }
  if (format === "table") {
    await writeOut(renderTable(["id", "decision", "score", "categories", "strongest finding", "µs"], rows) + "\n");
  }
  if (progress && done >= 100) process.stderr.write("\n");
  if (format === "table" || done > 1) {
    stderr(`${done} checked: ${counts.allow} allowed, ${counts.flag} flagged, ${counts.redact} redacted, ${counts.block} blocked${errors ? `, ${errors} malformed` : ""}`);
  }
  return { worst, errors };
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
