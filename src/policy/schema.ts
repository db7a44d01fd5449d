/**
 * The policy schema: the single source of truth for what a policy file may say.
 * TypeScript types are inferred from it, the JSON Schema in schema/ is generated
 * from it (`npm run schema`), and docs/policy.md documents it.
 *
 * Every field has a safe default, so the empty policy `{version: 1}` is the
 * built-in default: all layers on, fail-closed.
 */
import { z } from "zod";
import { GuardModelConfig } from "./guard-model.js";
import { LocalModelConfig } from "./local-model.js";
import { CATEGORY_NAMES } from "./categories.js";
import { AccessConfig } from "./access.js";
import { MonitorConfig } from "./monitor.js";
import { abuseLimitFields } from "./abuse.js";

export const ROLES = ["system", "user", "assistant", "document", "tool"] as const;
export const ACTIONS = ["allow", "flag", "redact", "block"] as const;
export const FAILURE_MODES = ["closed", "open"] as const;

const score = z.number().min(0).max(1);

export const Thresholds = z
  .strictObject({
    flag: score.optional().describe("Findings scoring at least this are flagged."),
    redact: score.optional().describe("Findings scoring at least this are redacted (rewritten) where the layer gives a span; otherwise blocked."),
    block: score.optional().describe("Findings scoring at least this block the request."),
  })
  .describe("Score thresholds (0..1) at which a finding turns into an action. The highest action reached wins.");

const CategoryThresholds = z.partialRecord(z.enum(CATEGORY_NAMES), Thresholds);

/** Secrets and personal data are cut out of the text, not refused: the rest of the message is usually fine. */
const DATA_PROTECTION_THRESHOLDS = {
  secret: { redact: 0.5, block: 1 },
  pii: { redact: 0.5, block: 1 },
};

/** Stricter handling for content the application fetched from elsewhere. */
const UNTRUSTED_CONTENT_THRESHOLDS = {
  prompt_injection: { flag: 0.4, block: 0.6 },
  indirect_injection: { flag: 0.4, block: 0.6 },
  system_prompt_extraction: { flag: 0.4, block: 0.6 },
  jailbreak: { flag: 0.4, block: 0.7 },
  obfuscation: { flag: 0.4, block: 0.7 },
};

const failureMode = z
  .enum(FAILURE_MODES)
  .describe("What happens when this layer throws, times out or returns malformed output: `closed` blocks, `open` lets the request through marked degraded.");

/** Fields every layer's configuration has. */
const layerBase = {
  enabled: z.boolean().default(true).describe("Run this layer."),
  budgetMs: z.number().positive().max(60_000).describe("Time budget in milliseconds; a layer over budget counts as failed."),
  failureMode: failureMode.optional().describe("Overrides the policy's failureMode for this layer."),
};

export const NormalizeConfig = z
  .strictObject({
    ...layerBase,
    budgetMs: layerBase.budgetMs.default(50),
    stripInvisible: z.boolean().default(true).describe("Remove zero-width, bidi-control, Unicode tag and variation-selector characters from the text the model sees."),
    stripControl: z.boolean().default(true).describe("Remove C0/C1 control characters other than tab, line feed and carriage return."),
    maxRepeatRun: z.number().int().min(8).default(256).describe("A run of one character (or one short unit) repeated more than this many times is reported as runaway repetition."),
  })
  .describe("Layer 1: validation and normalisation. Detectors see the folded text (NFKC, confusables, case); the audit keeps the original.");

export const CustomRule = z
  .strictObject({
    id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, "lower-case letters, digits, dot, dash, underscore").describe("Unique rule id."),
    category: z.enum(CATEGORY_NAMES),
    pattern: z.string().min(1).describe("A JavaScript regular expression, matched against the folded (lower-cased, confusable-folded) text. Checked for catastrophic backtracking when the policy loads."),
    flags: z.string().regex(/^[imsu]*$/, "only the flags i, m, s, u").default("").describe("Regular-expression flags (i, m, s, u)."),
    score: score.default(0.9),
    description: z.string().optional(),
  })
  .describe("A user-defined heuristic rule.");

export const HeuristicsConfig = z
  .strictObject({
    ...layerBase,
    budgetMs: layerBase.budgetMs.default(50),
    decode: z.boolean().default(true).describe("Decode obfuscated text (base64, hex, rot13, leetspeak, spaced-out and reversed text) and match rules against it too."),
    disabledRules: z.array(z.string()).default([]).describe("Ids of built-in rules to switch off."),
    customRules: z.array(CustomRule).default([]).describe("Extra rules, checked for ReDoS when the policy loads."),
  })
  .describe("Layer 2: injection and jailbreak heuristics (rules are data, in data/rules/).");

const stageScope = z.enum(["input", "output", "both"]);

/** A regular expression from a policy, checked for catastrophic backtracking when the policy loads. */
const policyPattern = z.string().min(1).max(1000);
const patternFlags = z.string().regex(/^[imsu]*$/, "only the flags i, m, s, u").default("");

export const SecretsConfig = z
  .strictObject({
    ...layerBase,
    budgetMs: layerBase.budgetMs.default(50),
    stages: stageScope.default("both").describe("Where to look: `input` (keys pasted into prompts, before they reach the model), `output` (keys the model leaks), or `both`."),
    disabledRules: z.array(z.string()).default([]).describe("Ids of built-in secret rules (data/secrets/rules.json) to switch off."),
    allowValues: z.array(z.string().min(1)).default([]).describe("Exact values never reported, such as documented example keys your application prints on purpose."),
    entropy: z
      .strictObject({
        enabled: z.boolean().default(true).describe("Report long random-looking strings next to a credential word (key, token, secret, password, ...) even when no specific rule knows their format."),
        minLength: z.number().int().min(12).max(256).default(20).describe("Shortest string considered for the generic rule."),
        minBitsPerChar: z.number().min(2).max(6).default(3.5).describe("Shannon entropy per character a string needs to count as random."),
      })
      .prefault({})
      .describe("Generic high-entropy credential detection."),
  })
  .describe("Secrets and credentials in either direction: cloud and SaaS keys, tokens, private keys, connection strings with passwords, JWTs, and generic high-entropy credentials. Rules are data (data/secrets/rules.json).");

export const PII_ENTITIES = ["email", "phone", "card", "iban", "ssn", "ip"] as const;

export const CustomEntity = z
  .strictObject({
    name: z.string().regex(/^[A-Z][A-Z0-9_]{0,31}$/, "upper-case letters, digits and underscores, starting with a letter").describe("Entity name; also the placeholder's label, as in <EMPLOYEE_ID_1>."),
    pattern: policyPattern.describe("A JavaScript regular expression matched against the text (case as written unless the i flag is given). Checked for catastrophic backtracking when the policy loads."),
    flags: patternFlags.describe("Regular-expression flags (i, m, s, u)."),
    score: score.default(0.9),
  })
  .describe("A policy-defined kind of personal or confidential value.");

export const PiiConfig = z
  .strictObject({
    ...layerBase,
    budgetMs: layerBase.budgetMs.default(50),
    stages: stageScope.default("both").describe("Where to look: `input`, `output`, or `both`."),
    entities: z.array(z.enum(PII_ENTITIES)).default([...PII_ENTITIES]).describe("Built-in entity kinds to detect. Each is validated (phone numbers parsed, cards by Luhn, IBANs by mod-97, SSNs against unissued ranges)."),
    mode: z
      .enum(["mask", "placeholder", "pseudonymize"])
      .default("placeholder")
      .describe("What a redacted value becomes: `mask` (asterisks, keeping a few trailing characters of cards and phones), `placeholder` (a typed, numbered placeholder such as <EMAIL_1>), or `pseudonymize` (a placeholder that is the same for the same value across a whole session, and that authorised callers can turn back into the original)."),
    defaultRegion: z.string().regex(/^[A-Z]{2}$/, "an ISO 3166-1 alpha-2 country code").default("US").describe("Country assumed for phone numbers written without an international prefix."),
    privateIps: z.boolean().default(false).describe("Also report private, loopback, link-local and documentation IP addresses (off: they identify no one)."),
    customEntities: z.array(CustomEntity).default([]).describe("Extra entity patterns, checked for ReDoS when the policy loads."),
  })
  .describe("Personal data (OWASP LLM02), validated to keep false positives down; redacted by mask, typed placeholder or reversible pseudonym.");

export const CanaryConfig = z
  .strictObject({
    ...layerBase,
    budgetMs: layerBase.budgetMs.default(50),
    minPartialLength: z.number().int().min(8).max(24).default(10).describe("Shortest run of a canary's random part that counts as a leak (partial leaks, e.g. a truncated token)."),
  })
  .describe("Canary tokens planted in a session's system prompt, detected in output and tool-call arguments, also base64, hex or URL-encoded, reversed, spaced out or partial. Needs a session (GuardSession).");

export const PromptLeakConfig = z
  .strictObject({
    ...layerBase,
    budgetMs: layerBase.budgetMs.default(50),
    systemPrompt: z.string().optional().describe("The application's system prompt, when it is fixed. A session's own system prompt takes precedence."),
    shingleWords: z.number().int().min(2).max(12).default(4).describe("Length of the n-grams of content words (stop words dropped, light stemming) compared between output and system prompt."),
    minSharedShingles: z.number().int().min(1).default(4).describe("Fewest shared n-grams before overlap counts at all (short prompts share a few by chance)."),
    minCoverage: score.default(0.2).describe("Fraction of the system prompt's n-grams that must reappear in the output for a confident (block) finding; half of it flags."),
  })
  .describe("System-prompt text reappearing in output, found by overlap of normalised word n-grams, robust to reformatting and light paraphrase.");

export const ExfiltrationConfig = z
  .strictObject({
    ...layerBase,
    budgetMs: layerBase.budgetMs.default(50),
    allowedHosts: z.array(z.string().min(1)).default([]).describe("Hosts that output may load from or link to. `example.com` also allows its subdomains; `*` allows every host (data-carrying URLs are still checked)."),
    links: z
      .enum(["allow", "allowlist"])
      .default("allow")
      .describe("Plain links (not auto-loading) to hosts outside the allowlist: `allow` them unless they carry data, or treat them like images (`allowlist`)."),
    minDataEntropyLength: z.number().int().min(16).default(24).describe("Shortest random-looking run in a URL's path or query that counts as carried data."),
  })
  .describe("Exfiltration through output that is rendered or followed: markdown images and links, auto-loading HTML (img, iframe, script, link, CSS url()), and URLs carrying secrets, personal data, canaries or encoded payloads.");

export const OutputSafetyConfig = z
  .strictObject({
    ...layerBase,
    budgetMs: layerBase.budgetMs.default(50),
    sinks: z
      .array(z.enum(["html", "sql", "shell"]))
      .default([])
      .describe("Where the application sends model output: to an HTML/markdown renderer (`html`), a SQL database (`sql`) or a shell (`shell`). Fragments dangerous to each listed sink are reported; with no sinks this layer is off."),
  })
  .describe("Improper output handling (OWASP LLM05): script and event-handler HTML, SQL injection and destructive statements, shell command chaining and dangerous commands.");

export const StructuredOutputConfig = z
  .strictObject({
    ...layerBase,
    budgetMs: layerBase.budgetMs.default(50),
    schema: z.record(z.string(), z.unknown()).optional().describe("A JSON Schema (draft 2020-12 or draft-07) that model output must satisfy. Without one this layer is off."),
    extractFromFence: z.boolean().default(true).describe("Accept JSON wrapped in a single markdown code fence (```json ... ```)."),
  })
  .describe("JSON Schema validation of structured output (ajv).");

const OperatingPoint = z
  .strictObject({
    blockFpr: z.number().gt(0).max(0.5).optional().describe("False-positive rate on benign calibration text at which the classifier's score reaches this role's block threshold."),
    flagFpr: z.number().gt(0).max(0.5).optional().describe("False-positive rate at which the score reaches the flag threshold (at least blockFpr)."),
  })
  .describe("Where the classifier's calibrated score crosses the policy thresholds, as target false-positive rates.");

export const ClassifierConfig = z
  .strictObject({
    ...layerBase,
    budgetMs: layerBase.budgetMs.default(50),
    modelDir: z.string().optional().describe("Directory of a model trained with `bulwark train`; the model shipped in the package when absent. Read once, when the guard is created."),
    blockFpr: z.number().gt(0).max(0.5).default(0.01).describe("Target false-positive rate at the block threshold, for every role without its own: measured on ordinary benign text from sources the scoring model never saw (out-of-fold calibration), so new traffic of a familiar kind is blocked at about this rate."),
    flagFpr: z.number().gt(0).max(0.5).default(0.03).describe("Target false-positive rate at the flag threshold, for every role without its own. Between the flag and block points the classifier flags: the finding is recorded in the decision and the text goes through."),
    roles: z.partialRecord(z.enum(ROLES), OperatingPoint).default({}).describe("Per-role target false-positive rates."),
    minScore: score.default(0.25).describe("Calibrated scores below this are not reported as findings."),
    offloadChars: z
      .number()
      .int()
      .min(0)
      .default(65_536)
      .describe("Inputs of at least this many characters (of the folded text) are scored on a worker thread, in parallel with the other detect layers and off the host's event loop; 0 scores everything in place. The thread loads the model once; decisions are the same either way."),
  })
  .describe("Layer 3: the learned injection and jailbreak classifier (src/model), scored per window of the text, per JSON string value and per decoded payload; calibrated per role to target false-positive rates.");

export const Limits = z
  .strictObject({
    maxBytes: z.number().int().positive().default(256 * 1024).describe("Largest input in UTF-8 bytes."),
    maxChars: z.number().int().positive().default(128 * 1024).describe("Largest input in Unicode code points."),
    maxTokens: z.number().int().positive().default(32_768).describe("Largest input in tokens of `tokenizer`."),
    tokenizer: z.enum(["o200k_base", "cl100k_base"]).default("o200k_base").describe("Tokenizer used to count tokens (gpt-tokenizer)."),
    ...abuseLimitFields,
  })
  .describe("Size limits (an input over any limit is blocked with category `oversize`; it is never truncated silently), and rate limits, budgets, anomaly detection and quarantine (src/policy/abuse.ts).");

export const PolicySchema = z
  .strictObject({
    $schema: z.string().optional().describe("Path or URL of the JSON Schema, for editors."),
    version: z.literal(1).describe("Policy format version."),
    name: z.string().default("default").describe("A name for this policy, shown in decisions and reports."),
    failureMode: failureMode.default("closed").describe("Default failure mode for every layer."),
    earlyExit: z.boolean().default(true).describe("Stop running later layers once a block is certain."),
    limits: Limits.prefault({}),
    actions: z
      .strictObject({
        default: Thresholds.prefault({ flag: 0.5, block: 0.8 }).describe("Thresholds for any category without its own."),
        categories: CategoryThresholds.prefault(DATA_PROTECTION_THRESHOLDS).describe("Thresholds per category. By default secrets and personal data are redacted rather than blocked (their layers score at most 0.95, under the block threshold of 1), so a conversation carries on without the value."),
        roles: z
          .partialRecord(z.enum(ROLES), CategoryThresholds)
          .prefault({ document: UNTRUSTED_CONTENT_THRESHOLDS, tool: UNTRUSTED_CONTENT_THRESHOLDS })
          .describe("Thresholds per message role and category. By default untrusted content (document, tool) blocks injection at a lower score than user input, because instructions hidden there are indirect prompt injection."),
      })
      .prefault({})
      .describe("How findings turn into actions."),
    layers: z
      .strictObject({
        normalize: NormalizeConfig.prefault({}),
        heuristics: HeuristicsConfig.prefault({}),
        classifier: ClassifierConfig.prefault({}),
        secrets: SecretsConfig.prefault({}),
        pii: PiiConfig.prefault({}),
        canary: CanaryConfig.prefault({}),
        promptLeak: PromptLeakConfig.prefault({}),
        exfiltration: ExfiltrationConfig.prefault({}),
        outputSafety: OutputSafetyConfig.prefault({}),
        structuredOutput: StructuredOutputConfig.prefault({}),
        guardModel: GuardModelConfig.prefault({}),
        localModel: LocalModelConfig.prefault({}),
      })
      .prefault({})
      .describe("Per-layer configuration."),
    access: AccessConfig.prefault({}),
    monitor: MonitorConfig.prefault({}),
    streaming: z
      .strictObject({
        holdbackChars: z
          .number()
          .int()
          .min(16)
          .max(65_536)
          .default(256)
          .describe("Characters of a streamed response held back until the text after them has arrived, so that a secret, personal value or canary split across chunks is caught before any of it is released. Must exceed the longest value to catch; adds at most this many characters to the time to first token."),
        checkEveryChars: z.number().int().min(1).max(65_536).default(64).describe("How much new text accumulates before the output layers run again (amortises their cost over small chunks)."),
      })
      .prefault({})
      .describe("The streaming output checker."),
  })
  .describe("A Bulwark guard policy.");

/** A policy as written in a file (defaults not yet applied). */
export type PolicyInput = z.input<typeof PolicySchema>;
/** A validated policy with every default filled in. */
export type Policy = z.output<typeof PolicySchema>;
export type Role = (typeof ROLES)[number];
export type Action = (typeof ACTIONS)[number];
export type FailureMode = (typeof FAILURE_MODES)[number];
export type ThresholdSet = z.output<typeof Thresholds>;
export type NormalizeOptions = z.output<typeof NormalizeConfig>;
export type HeuristicsOptions = z.output<typeof HeuristicsConfig>;
export type ClassifierOptions = z.output<typeof ClassifierConfig>;
export type CustomRuleSpec = z.output<typeof CustomRule>;
export type SecretsOptions = z.output<typeof SecretsConfig>;
export type PiiOptions = z.output<typeof PiiConfig>;
export type PiiEntity = (typeof PII_ENTITIES)[number];
export type CustomEntitySpec = z.output<typeof CustomEntity>;
export type CanaryOptions = z.output<typeof CanaryConfig>;
export type PromptLeakOptions = z.output<typeof PromptLeakConfig>;
export type ExfiltrationOptions = z.output<typeof ExfiltrationConfig>;
export type OutputSafetyOptions = z.output<typeof OutputSafetyConfig>;
export type StructuredOutputOptions = z.output<typeof StructuredOutputConfig>;
