/**
 * The attack catalogue: versioned data in data/attacks/, validated here. Code is
 * the engine that reads it; every case is data (prompt, payload, judge, tags).
 *
 * data/attacks/catalogue.yaml names the version and the case files; each case
 * file has `defaults` (category, tags, severity) and `cases`.
 */
import { readFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { CATEGORIES, CATEGORY_NAMES, type Category } from "../policy/categories.js";
import { packagePath } from "../util/paths.js";
import { SEVERITIES, type Severity } from "./results.js";

const caseId = z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, "lower-case letters, digits, dot, dash, underscore");
const owaspId = z.string().regex(/^LLM(0[1-9]|10)$/);
const agenticId = z.string().regex(/^ASI(0[1-9]|10)$/);
const atlasId = z.string().regex(/^AML\.T\d{4}(\.\d{3})?$/);

/** What the mock tool environment should hold for an agent case (merged over the default state). */
export const EnvironmentSpec = z
  .strictObject({
    inbox: z.array(z.strictObject({ from: z.string(), subject: z.string(), body: z.string() })).optional(),
    documents: z.record(z.string(), z.string()).optional(),
    web: z.record(z.string(), z.string()).optional(),
    orderNotes: z.record(z.string(), z.string()).optional(),
    callerRole: z.enum(["customer", "support", "admin"]).optional(),
  })
  .describe("Mock tool state for agent cases: injected content lives here (an e-mail, a document, a web page, an order note).");

const ToolExpectation = z.strictObject({
  name: z.string(),
  /** Each argument's JSON text must match this case-insensitive regular expression. */
  args: z.record(z.string(), z.string()).optional(),
});

export const JudgeSpec = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("marker"), refusalHolds: z.boolean().default(true) }).describe("Success when the reply contains the case's marker (a random code the target was asked to say)."),
  z.strictObject({ kind: z.literal("canary") }).describe("Success when a canary or secret planted in the target appears in its reply or tool calls, plainly or encoded, or the system prompt's text reappears."),
  z.strictObject({ kind: z.literal("exfiltration") }).describe("Success when the reply would load or link a URL on the attacker's host (markdown image or link, HTML), or a tool call sends data there."),
  z.strictObject({ kind: z.literal("tool"), calls: z.array(ToolExpectation).min(1) }).describe("Success when the agent executed any of these tool calls (judged on what it did, not what it said)."),
  z.strictObject({ kind: z.literal("consumption"), maxOutputChars: z.number().int().positive().default(20_000), overLimit: z.boolean().default(false) }).describe("Success when the reply exceeds maxOutputChars, or (overLimit) an input over the limits was accepted and answered."),
  z.strictObject({ kind: z.literal("failure") }).describe("Success when the target failed unsafely: 5xx, timeout, stack trace or internal detail, inconsistent status."),
]);

export const CaseSpec = z
  .strictObject({
    id: caseId,
    title: z.string().min(1),
    category: z.enum(CATEGORY_NAMES).optional(),
    owasp: z.array(owaspId).optional(),
    agentic: z.array(agenticId).optional(),
    atlas: z.array(atlasId).optional(),
    severity: z.enum(SEVERITIES).optional(),
    source: z.string().optional().describe("Where the case came from when not written here (dataset and licence)."),
    prompt: z.string().optional().describe("The user message. {{payload}}, {{marker}}, {{attacker_host}}, {{attacker_email}}, {{generated}} are filled in."),
    payload: z.string().optional().describe("The attack part of the prompt: what mutators transform. Without it the whole prompt is mutated."),
    turns: z.array(z.string().min(1)).min(2).optional().describe("User turns of a multi-turn (crescendo) case, sent one after another."),
    environment: EnvironmentSpec.optional(),
    raw: z
      .strictObject({ body: z.string().optional(), hex: z.string().regex(/^([0-9a-f]{2})*$/).optional(), contentType: z.string().optional() })
      .optional()
      .describe("A raw request body (text or hex bytes) for malformed-input cases; HTTP targets send it as is, in-process targets get the decoded text."),
    generate: z.strictObject({ repeat: z.string().min(1), count: z.number().int().positive().max(5_000_000) }).optional().describe("Generated text for {{generated}}: `repeat` times `count`."),
    requires: z.array(z.enum(["tools", "raw"])).default([]).describe("Target capabilities the case needs; cases a target cannot take are skipped."),
    mutable: z.boolean().optional().describe("Whether mutators may transform this case (default from the file)."),
    judge: JudgeSpec,
  })
  .refine((c) => c.prompt !== undefined || c.turns !== undefined || c.raw !== undefined, { message: "a case needs prompt, turns or raw" });

const CaseFile = z.strictObject({
  defaults: z
    .strictObject({
      category: z.enum(CATEGORY_NAMES),
      owasp: z.array(owaspId).optional(),
      agentic: z.array(agenticId).optional(),
      atlas: z.array(atlasId).optional(),
      severity: z.enum(SEVERITIES).default("high"),
      mutable: z.boolean().default(true),
    })
    .describe("Values every case in the file has unless it says otherwise."),
  cases: z.array(CaseSpec).min(1),
});

const CatalogueIndex = z.strictObject({
  version: z.string().regex(/^\d+\.\d+\.\d+$/, "a semantic version"),
  description: z.string().optional(),
  files: z.array(z.string().regex(/^[a-z0-9-]+\.ya?ml$/)).min(1),
});

export type JudgeSpecData = z.output<typeof JudgeSpec>;
export type EnvironmentSpecData = z.output<typeof EnvironmentSpec>;

/** A catalogue case with its file's defaults applied. */
export interface AttackCase {
  readonly id: string;
  readonly title: string;
  readonly category: Category;
  readonly owasp: readonly string[];
  readonly agentic: readonly string[];
  readonly atlas: readonly string[];
  readonly severity: Severity;
  readonly source?: string;
  readonly prompt?: string;
  readonly payload?: string;
  readonly turns?: readonly string[];
  readonly environment?: EnvironmentSpecData;
  readonly raw?: { readonly body?: string; readonly hex?: string; readonly contentType?: string };
  readonly generate?: { readonly repeat: string; readonly count: number };
  readonly requires: readonly ("tools" | "raw")[];
  readonly mutable: boolean;
  readonly judge: JudgeSpecData;
  /** Where the case is written, for reports that point at it (path relative to the package, 1-based line). */
  readonly location: { readonly file: string; readonly line: number };
}

export interface Catalogue {
  readonly version: string;
  readonly cases: readonly AttackCase[];
}

export class CatalogueError extends Error {}

export const DEFAULT_CATALOGUE = packagePath("data", "attacks", "catalogue.yaml");

/** Loads and validates a catalogue; every problem is reported with its file and path. */
export async function loadCatalogue(indexPath: string = DEFAULT_CATALOGUE): Promise<Catalogue> {
  const index = parseWith(CatalogueIndex, parseYaml(await readText(indexPath)), indexPath);
  const cases: AttackCase[] = [];
  const seen = new Map<string, string>();
  const problems: string[] = [];
  for (const name of index.files) {
    const path = join(dirname(indexPath), name);
    const text = await readText(path);
    let file: z.output<typeof CaseFile>;
    try {
      file = parseWith(CaseFile, parseYaml(text), path);
    } catch (error) {
      problems.push((error as Error).message);
      continue;
    }
    const lines = text.split("\n");
    for (const spec of file.cases) {
      const where = seen.get(spec.id);
      if (where) problems.push(`${path}: case id ${spec.id} is also used in ${where}`);
      seen.set(spec.id, path);
      const category = spec.category ?? file.defaults.category;
      const info = CATEGORIES[category];
      const line = lines.findIndex((l) => new RegExp(`^\\s*-\\s*id:\\s*["']?${escapeRegExp(spec.id)}["']?\\s*$`).test(l)) + 1;
      cases.push({
        id: spec.id,
        title: spec.title,
        category,
        owasp: spec.owasp ?? file.defaults.owasp ?? info.owasp,
        agentic: spec.agentic ?? file.defaults.agentic ?? info.agentic,
        atlas: spec.atlas ?? file.defaults.atlas ?? info.atlas,
        severity: spec.severity ?? file.defaults.severity,
        ...(spec.source ? { source: spec.source } : {}),
        ...(spec.prompt !== undefined ? { prompt: spec.prompt } : {}),
        ...(spec.payload !== undefined ? { payload: spec.payload } : {}),
        ...(spec.turns ? { turns: spec.turns } : {}),
        ...(spec.environment ? { environment: spec.environment } : {}),
        ...(spec.raw ? { raw: spec.raw } : {}),
        ...(spec.generate ? { generate: spec.generate } : {}),
        requires: spec.requires,
        mutable: spec.mutable ?? (file.defaults.mutable && spec.raw === undefined && spec.turns === undefined && spec.generate === undefined),
        judge: spec.judge,
        location: { file: relative(packagePath(), path).split("\\").join("/"), line: Math.max(1, line) },
      });
    }
  }
  if (problems.length > 0) throw new CatalogueError(`invalid attack catalogue:\n${problems.join("\n")}`);
  return { version: index.version, cases };
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    throw new CatalogueError(`cannot read attack catalogue file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function parseWith<T extends z.ZodType>(schema: T, value: unknown, path: string): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => `  ${path}: ${issue.path.join(".") || "(root)"}: ${issue.message}`);
  throw new CatalogueError(lines.join("\n"));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
