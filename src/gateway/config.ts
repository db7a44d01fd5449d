/**
 * The gateway's configuration file: its schema (zod, the single source of truth,
 * like the policy's), loading from YAML or JSON, and the one-line configuration
 * built from command-line options.
 *
 * Secrets never live in this file in plain text: API keys and admin credentials
 * are stored hashed (`bulwark keys hash`), and the upstream's credential is read
 * from an environment variable named here.
 */
import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { LineCounter, parseDocument, isNode } from "yaml";
import { z } from "zod";
import { AlertsConfig } from "../monitor/alerts.js";
import { IncidentsConfig } from "../monitor/incidents.js";
import { ScheduleConfig } from "../monitor/schedules.js";
import { isKeyHash } from "./identity.js";

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/, "letters, digits, dot, dash, underscore, @ (up to 128)");
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name");
const keyHash = z.string().refine(isKeyHash, "a key hash from `bulwark keys hash` (sha256:<64 hex> or scrypt:...)");
const millis = (fallback: number, max = 3_600_000) => z.number().int().positive().max(max).default(fallback);

export const UpstreamConfig = z
  .strictObject({
    url: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe("Base URL of the OpenAI-compatible upstream, including /v1 (e.g. https://api.openai.com/v1, http://127.0.0.1:11434/v1). Without one the gateway serves the offline demo upstream."),
    apiKeyEnv: envName.optional().describe("Name of the environment variable holding the upstream's API key. The gateway sends it upstream and never returns or logs it."),
    connections: z.number().int().min(1).max(4096).default(128).describe("Most keep-alive connections to the upstream."),
    connectTimeoutMs: millis(5_000).describe("Time allowed to open a connection."),
    headersTimeoutMs: millis(120_000).describe("Time allowed for the upstream to start answering (models can think for a while)."),
    bodyTimeoutMs: millis(60_000).describe("Longest silence allowed between two pieces of the upstream's body (a hung stream ends with an error after this)."),
    retries: z.number().int().min(0).max(5).default(2).describe("Retries after a connection failure or a 429/502/503/504 before any response byte reached the client."),
    retryBackoffMs: millis(200, 60_000).describe("First retry delay; doubles each retry, with jitter."),
    maxTokensField: z.enum(["max_tokens", "max_completion_tokens"]).default("max_tokens").describe("Which field carries a role's token limit when a request gives none."),
  })
  .describe("The model server behind the gateway.");

export const StoreConfig = z
  .strictObject({
    url: z
      .string()
      .min(1)
      .default("pglite:./.bulwark/events")
      .describe("Where events go: `pglite:DIR` (embedded, no server; relative to the config file), `postgres://user:pass@host/db`, or `memory` (lost at exit; tests and demos)."),
    schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "a lower-case SQL identifier").default("bulwark").describe("SQL schema holding the tables."),
    bufferSize: z.number().int().min(10).max(1_000_000).default(10_000).describe("Most events waiting to be written. Beyond it events are dropped and counted (or requests refused, see onBufferFull)."),
    batchSize: z.number().int().min(1).max(5_000).default(500).describe("Most events written per transaction."),
    flushIntervalMs: millis(100, 60_000).describe("Longest time an event waits before a write is attempted."),
    onBufferFull: z
      .enum(["drop", "reject"])
      .default("drop")
      .describe("When the store is down and the buffer full: `drop` new events (counted, alarmed, and recorded as a gap event once the store is back) or `reject` requests with 503 so that no request goes unaudited."),
  })
  .describe("The event store (audit trail).");

export const RedisConfig = z.strictObject({
  url: z.string().regex(/^rediss?:\/\/\S+$/, "a redis:// or rediss:// URL").describe("Redis server, e.g. redis://127.0.0.1:6379 (a password goes in the URL: redis://:PASSWORD@host:6379)."),
  keyPrefix: z.string().regex(/^[A-Za-z0-9:._-]{1,64}$/, "letters, digits, colon, dot, dash, underscore").default("bulwark:").describe("Prefix of every key the gateway writes (replicas that share limits use the same prefix)."),
  commandTimeoutMs: millis(100, 10_000).describe("A Redis command not answered in this time counts as failed (limits then follow the policy's limits.rate.failureMode)."),
});

export const RoleConfig = z.strictObject({
  models: z.array(z.string().min(1)).min(1).describe("Models this role may use: exact names or patterns with `*` (e.g. `gpt-4o*`, `*`)."),
  maxTokens: z.number().int().positive().optional().describe("Largest completion a request may ask for; requests that ask for none get this limit."),
});

export const PrincipalConfig = z.strictObject({
  roles: z.array(name).min(1),
  description: z.string().optional(),
});

export const KeyConfig = z.strictObject({
  id: name.describe("A name for the key, shown in events and logs (never the key itself)."),
  principal: name,
  hash: keyHash,
});

export const GatewayConfigSchema = z
  .strictObject({
    version: z.literal(1).describe("Configuration format version."),
    listen: z
      .strictObject({
        host: z.string().min(1).default("127.0.0.1").describe("Interface to listen on. Loopback by default; use 0.0.0.0 deliberately."),
        port: z.number().int().min(0).max(65_535).default(8787),
      })
      .prefault({}),
    upstream: UpstreamConfig.prefault({}),
    policy: z.string().min(1).optional().describe("Guard policy file (relative to this file); the built-in policy otherwise."),
    store: StoreConfig.prefault({}),
    redis: RedisConfig.optional().describe("Shared state for several gateway replicas (rate-limit counters, budgets, the quarantine list); each replica keeps its own in memory without it."),
    roles: z.record(name, RoleConfig).default({}),
    principals: z.record(name, PrincipalConfig).default({}),
    keys: z.array(KeyConfig).default([]).describe("API keys, stored hashed. With no keys at all, requests on a loopback address are served as principal `anonymous` (all models)."),
    admin: z
      .strictObject({
        keys: z.array(z.strictObject({ id: name, hash: keyHash })).min(1),
      })
      .optional()
      .describe("Credentials for the admin API (/admin/...); without them the admin API is off."),
    limits: z
      .strictObject({
        maxBodyBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(4 * 1024 * 1024).describe("Largest request body; larger ones get 413."),
        maxJsonDepth: z.number().int().min(8).max(1000).default(64).describe("Deepest JSON nesting accepted."),
        requestTimeoutMs: millis(30_000).describe("Time a client has to send its whole request (slow clients get 408)."),
        maxMessages: z.number().int().min(1).max(100_000).default(2_000).describe("Most messages in one request."),
      })
      .prefault({}),
    log: z
      .strictObject({
        level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
        requests: z.boolean().default(true).describe("One log line per request."),
      })
      .prefault({}),
    drainTimeoutMs: millis(10_000, 600_000).describe("On SIGTERM: longest wait for in-flight requests before closing them."),
    alerts: AlertsConfig.prefault({}),
    incidents: IncidentsConfig.prefault({}),
    schedules: z.array(ScheduleConfig).default([]).describe("Scheduled scans of this gateway (continuous re-testing); see docs/monitoring.md."),
  })
  .superRefine((config, ctx) => {
    for (const [principal, spec] of Object.entries(config.principals)) {
      spec.roles.forEach((role, index) => {
        if (!(role in config.roles)) ctx.addIssue({ code: "custom", path: ["principals", principal, "roles", index], message: `a role defined under roles (${Object.keys(config.roles).join(", ") || "none defined"})`, input: role });
      });
    }
    config.schedules.forEach((schedule, index) => {
      if (!(schedule.principal in config.principals)) ctx.addIssue({ code: "custom", path: ["schedules", index, "principal"], message: "a principal defined under principals (the scan's dedicated principal)", input: schedule.principal });
      if (config.keys.length === 0) ctx.addIssue({ code: "custom", path: ["schedules", index], message: "API keys under keys: a schedule's key would otherwise end the keyless (anonymous) mode", input: schedule.name });
      if (config.schedules.findIndex((other) => other.name === schedule.name) !== index) ctx.addIssue({ code: "custom", path: ["schedules", index, "name"], message: "a schedule name not used before", input: schedule.name });
    });
    const ids = new Set<string>();
    const hashes = new Set<string>();
    config.keys.forEach((key, index) => {
      if (!(key.principal in config.principals)) ctx.addIssue({ code: "custom", path: ["keys", index, "principal"], message: "a principal defined under principals", input: key.principal });
      if (ids.has(key.id)) ctx.addIssue({ code: "custom", path: ["keys", index, "id"], message: "a key id not used before", input: key.id });
      if (hashes.has(key.hash)) ctx.addIssue({ code: "custom", path: ["keys", index, "hash"], message: "a hash not used by another key", input: "(hash)" });
      ids.add(key.id);
      hashes.add(key.hash);
    });
  })
  .describe("Bulwark gateway configuration.");

export type GatewayConfigInput = z.input<typeof GatewayConfigSchema>;
export type GatewayConfig = z.output<typeof GatewayConfigSchema>;
export type RoleSpec = z.output<typeof RoleConfig>;

export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
  readonly line?: number;
}

export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];
  constructor(source: string, problems: readonly ConfigProblem[]) {
    super(`${source}: invalid gateway configuration (${problems.length} problem${problems.length === 1 ? "" : "s"})\n${problems.map((p) => `  ${p.line ? `line ${p.line}: ` : ""}${p.path || "(document)"}: ${p.message}`).join("\n")}`);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/** A validated configuration plus where it came from, so relative paths resolve against the file. */
export interface LoadedConfig {
  readonly config: GatewayConfig;
  /** The file, or `command line`. */
  readonly source: string;
  /** Directory relative paths (policy, pglite store) resolve against. */
  readonly baseDir: string;
}

export function resolveConfig(input: unknown, source: string, baseDir: string, locate?: (path: readonly PropertyKey[]) => number | undefined): LoadedConfig {
  const result = GatewayConfigSchema.safeParse(input, { reportInput: true });
  if (!result.success) {
    throw new ConfigError(
      source,
      result.error.issues.map((issue) => {
        const line = locate?.(issue.path);
        const found = "input" in issue && issue.input !== undefined ? `, found ${short(issue.input)}` : issue.code === "invalid_type" ? ", found nothing" : "";
        const keys = issue.code === "unrecognized_keys" ? `unknown key(s) ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}` : `expected ${issue.message.replace(/^Invalid input: expected /, "")}${found}`;
        return { path: issue.path.map(String).join("."), message: keys, ...(line ? { line } : {}) };
      }),
    );
  }
  return { config: result.data, source, baseDir };
}

export function parseConfig(text: string, source: string, baseDir: string): LoadedConfig {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      source,
      document.errors.map((error) => ({ path: "", message: `valid YAML: ${error.message.split("\n")[0] ?? error.code}`, line: lineCounter.linePos(error.pos[0]).line })),
    );
  }
  const locate = (path: readonly PropertyKey[]): number | undefined => {
    for (let depth = path.length; depth >= 0; depth--) {
      const node: unknown = depth === 0 ? document.contents : document.getIn(path.slice(0, depth), true);
      if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  return resolveConfig(document.toJS(), source, baseDir, locate);
}

export async function loadConfigFile(path: string): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message;
    throw new ConfigError(path, [{ path: "", message: `a readable configuration file, found ${reason}` }]);
  }
  return parseConfig(text, path, dirname(resolve(path)));
}

/** A path from the configuration, resolved against the configuration file's directory. */
export function configPath(loaded: LoadedConfig, path: string): string {
  return isAbsolute(path) ? path : resolve(loaded.baseDir, path);
}

function short(value: unknown): string {
  const json = JSON.stringify(value);
  const shown = json === undefined ? String(value) : json;
  return shown.length > 60 ? shown.slice(0, 57) + "..." : shown;
}
