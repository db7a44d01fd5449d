/**
 * The policy's `access` section: which tools exist, what they may do (their
 * side-effect level), what their arguments may be (JSON Schema and allowlists),
 * which roles may call them, when a person must approve a call, how provenance
 * of untrusted content limits calls, and spotlighting of untrusted content.
 *
 * Enforced by src/access (library) and src/gateway/agency.ts (gateway). With no
 * tools declared, tool calls are not checked at all (the gateway knows nothing
 * about them); declaring one tool turns checking on for every call, and calls
 * to undeclared tools are then denied.
 */
import { Ajv2020 } from "ajv/dist/2020.js";
import { Ajv } from "ajv";
import { z } from "zod";
import { checkPatternSafety } from "./pattern-safety.js";

/** Side-effect levels, from least to most consequential. */
export const TOOL_EFFECTS = ["read", "write", "external", "destructive"] as const;
export type ToolEffect = (typeof TOOL_EFFECTS)[number];

const toolName = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$/, "a tool name: letters, digits, underscore, dot, colon, dash (up to 64)");
const toolPattern = z.string().regex(/^[A-Za-z0-9_.:*-]{1,64}$/, "a tool name, or a pattern with `*` (e.g. `search_*`, `*`)");
const argumentPath = z
  .string()
  .regex(/^(?:[A-Za-z0-9_$-]{1,64}|\*)(?:\.(?:[A-Za-z0-9_$-]{1,64}|\*)){0,7}$/, "an argument name or a dotted path (`to`, `recipients.*`, `files.*.path`; `*` is every element or value)");
const domainName = z
  .string()
  .regex(/^(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, "a lower-case domain name (IDNs in punycode, xn--...), optionally starting with `*.` for its subdomains");
const pathPrefix = z.string().regex(/^\/(?:[^\0\\]*)$/, "an absolute POSIX path (starting with /, no backslash or NUL)");

export const ArgumentRule = z
  .strictObject({
    argument: argumentPath.describe("Which argument the rule constrains: a top-level name or a dotted path, `*` standing for every array element or object value. Every string found there must pass; a missing argument passes (require it in `schema`)."),
    emailDomains: z.array(domainName).min(1).optional().describe("The value must be one plain e-mail address (no display name, no list) whose domain is one of these. `example.com` is that domain only; `*.example.com` its subdomains."),
    hosts: z.array(domainName).min(1).optional().describe("The value must be an absolute URL whose host is one of these (compared after IDN and case normalisation; user-info tricks such as `https://good.com@evil.net` see the real host). `*.example.com` allows subdomains."),
    schemes: z.array(z.string().regex(/^[a-z][a-z0-9+.-]{0,31}$/)).min(1).default(["https"]).describe("With `hosts`: the URL schemes allowed."),
    pathPrefixes: z.array(pathPrefix).min(1).optional().describe("The value must be an absolute POSIX path that, after resolving `.` and `..`, lies inside one of these directories. Relative paths, backslashes, NUL and percent-encoded dots are refused. Symbolic links cannot be seen from here: the tool must not follow them out."),
  })
  .superRefine((rule, ctx) => {
    const kinds = [rule.emailDomains, rule.hosts, rule.pathPrefixes].filter((kind) => kind !== undefined).length;
    if (kinds !== 1) ctx.addIssue({ code: "custom", path: [], message: "exactly one of emailDomains, hosts or pathPrefixes", input: rule });
  })
  .describe("An allowlist for one argument.");

export const ToolSpec = z
  .strictObject({
    effect: z.enum(TOOL_EFFECTS).default("destructive").describe("Side-effect level: `read` (looks something up), `write` (changes the application's own data), `external` (sends or fetches outside: e-mail, HTTP), `destructive` (deletes, pays, cannot be undone). Undeclared levels count as destructive."),
    description: z.string().max(500).optional(),
    schema: z.record(z.string(), z.unknown()).optional().describe("A JSON Schema (draft 2020-12, or draft-07 with its $schema) the parsed arguments must satisfy; compiled once when the policy loads."),
    allow: z.array(ArgumentRule).default([]).describe("Allowlists for argument values (e-mail domains, URL hosts, file path prefixes)."),
    approval: z.enum(["required", "never"]).optional().describe("`required`: every call waits for a person's approval; `never`: never, whatever `access.approval.effects` says. Unset: as `access.approval.effects` says for this tool's effect."),
    trustedArguments: z
      .array(argumentPath)
      .optional()
      .describe("Arguments whose values must come from trusted parts of the conversation once untrusted content entered it (provenance). Unset: every argument. For example only `to` for a send_email tool whose body the model writes."),
  })
  .describe("A tool the model may propose calls to.");

const RoleTools = z.strictObject({
  tools: z.array(toolPattern).default([]).describe("Tools this role may call: names or patterns with `*`."),
});

export const AccessConfig = z
  .strictObject({
    tools: z.record(toolName, ToolSpec).default({}).describe("The tools the application offers the model. With none declared, tool calls are not checked; with any declared, calls to undeclared tools are denied."),
    roles: z
      .record(z.string().regex(/^(?:\*|[A-Za-z0-9][A-Za-z0-9._@-]{0,127})$/, "a role name from the gateway configuration, or `*` for every caller"), RoleTools)
      .default({})
      .describe("Which roles may call which tools. Role names are the gateway configuration's roles (a principal's roles); `*` grants to every caller, including one without roles."),
    onDeny: z
      .enum(["remove", "replace", "block"])
      .default("replace")
      .describe("What happens to a denied call in a response: `remove` it (explained only in the `bulwark` field), `replace` it with a note in the assistant message's content (and the `bulwark` field), or `block` the whole response with a guardrail error."),
    maxArgumentChars: z.number().int().min(64).max(8 * 1024 * 1024).default(65_536).describe("Longest arguments string a call may have; longer ones are denied without being parsed."),
    approval: z
      .strictObject({
        enabled: z.boolean().default(false).describe("Hold calls that need approval as pending, for a person to approve or reject (gateway: /admin/approvals). Off: such calls are denied."),
        effects: z.array(z.enum(TOOL_EFFECTS)).default([]).describe("Side-effect levels whose calls always need approval (a tool's own `approval` overrides)."),
        ttlSeconds: z.number().int().min(10).max(7 * 24 * 3600).default(3600).describe("How long a pending call waits before it expires (rejected)."),
        maxPending: z.number().int().min(1).max(1_000_000).default(10_000).describe("Most pending calls held at once; further calls needing approval are denied."),
      })
      .prefault({})
      .describe("Human approval of tool calls."),
    provenance: z
      .strictObject({
        enabled: z.boolean().default(true).describe("Track whether untrusted content (tool results, documents, input the guard flagged) entered the conversation; once it has, calls with the effects below must take the values of their trusted arguments from trusted messages (system, developer, user)."),
        effects: z.array(z.enum(TOOL_EFFECTS)).default(["write", "external", "destructive"]).describe("Side-effect levels that provenance limits."),
        action: z.enum(["deny", "approval"]).default("deny").describe("What happens to a call whose arguments do not come from trusted parts: `deny` it, or hold it for `approval` (needs approval.enabled; denied otherwise)."),
        flaggedInput: z.boolean().default(true).describe("Count input the guard flagged (action flag) as untrusted, whatever its role."),
      })
      .prefault({})
      .describe("Provenance of untrusted content (information-flow control, after CaMeL and FIDES)."),
    spotlight: z
      .strictObject({
        enabled: z.boolean().default(false).describe("Mark untrusted content before it reaches the model, and tell the model in a system message what the marks mean."),
        mode: z.enum(["delimit", "datamark"]).default("delimit").describe("`delimit`: wrap each untrusted text in markers with a random per-request tag; `datamark`: join its words with a marker character."),
        marker: z.string().min(1).max(4).default("\u02c6").describe("The datamark character (default ˆ, U+02C6)."),
      })
      .prefault({})
      .describe("Spotlighting of untrusted content (Hines et al., 2024). Off by default."),
  })
  .superRefine((access, ctx) => {
    const names = Object.keys(access.tools);
    for (const [role, spec] of Object.entries(access.roles)) {
      spec.tools.forEach((pattern, index) => {
        const regex = globToRegExp(pattern);
        if (!names.some((name) => regex.test(name))) {
          ctx.addIssue({ code: "custom", path: ["roles", role, "tools", index], message: `a declared tool or a pattern matching one (declared: ${names.join(", ") || "none"})`, input: pattern });
        }
      });
    }
    for (const [name, tool] of Object.entries(access.tools)) {
      if (!tool.schema) continue;
      const problem = schemaProblem(tool.schema);
      if (problem) ctx.addIssue({ code: "custom", path: ["tools", name, "schema"], message: problem, input: "(schema)" });
    }
    if (access.provenance.action === "approval" && !access.approval.enabled) {
      ctx.addIssue({ code: "custom", path: ["provenance", "action"], message: "approval.enabled: true to send calls for approval (or action: deny)", input: access.provenance.action });
    }
  })
  .describe("Tool authorisation, human approval, provenance of untrusted content and spotlighting (OWASP LLM06 Excessive Agency; Agentic ASI02, ASI03). See docs/agents.md.");

export type AccessOptions = z.output<typeof AccessConfig>;
export type ToolSpecOptions = z.output<typeof ToolSpec>;
export type ArgumentRuleOptions = z.output<typeof ArgumentRule>;

/** `*` matches any run of characters; everything else is literal. */
export function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`, "s");
}

const AJV_OPTIONS = { allErrors: false, strict: false, validateFormats: false } as const;
let shared: { draft7: Ajv; draft2020: Ajv } | undefined;

/**
 * An Ajv for the schema's draft; formats are not checked (no format plug-in), unknown keywords are ignored.
 * Shared per draft (an Ajv instance is costly to make, and it caches compiled schemas by object), except for a
 * schema with its own `$id`, which gets a fresh one so that loading the same policy twice cannot clash.
 */
export function ajvFor(schema: Record<string, unknown>): Ajv {
  const draft = typeof schema["$schema"] === "string" ? schema["$schema"] : "";
  const old = draft.includes("draft-07") || draft.includes("draft-06");
  if (schema["$id"] !== undefined) return old ? new Ajv(AJV_OPTIONS) : new Ajv2020(AJV_OPTIONS);
  shared ??= { draft7: new Ajv(AJV_OPTIONS), draft2020: new Ajv2020(AJV_OPTIONS) };
  return old ? shared.draft7 : shared.draft2020;
}

/** Why a tool's argument schema is unusable, or null: it must compile, and its regular expressions must run in linear time. */
function schemaProblem(schema: Record<string, unknown>): string | null {
  try {
    ajvFor(schema).compile(schema);
  } catch (error) {
    return `a valid JSON Schema (${(error as Error).message.slice(0, 200)})`;
  }
  for (const pattern of schemaPatterns(schema)) {
    const verdict = checkPatternSafety(pattern, "u");
    if (!verdict.safe) return `patterns that run in linear time: ${JSON.stringify(pattern.slice(0, 40))} is ${verdict.reason}`;
  }
  return null;
}

/** Every `pattern` and `patternProperties` key in a schema (they run against model-written arguments). */
function schemaPatterns(root: unknown): string[] {
  const found: string[] = [];
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) stack.push(...node);
    else if (node && typeof node === "object") {
      for (const [key, value] of Object.entries(node)) {
        if (key === "pattern" && typeof value === "string") found.push(value);
        if (key === "patternProperties" && value && typeof value === "object") found.push(...Object.keys(value));
        stack.push(value);
      }
    }
  }
  return found;
}
