/**
 * The policy schema: the single source of truth for what a policy file may say.
 * TypeScript types are inferred from it, the JSON Schema in schema/ is generated
 * from it (`npm run schema`), and docs/policy.md documents it.
 *
 * Every field has a safe default, so the empty policy `{version: 1}` is the
 * built-in default: all layers on, fail-closed.
 */
import { z } from "zod";
import { CATEGORY_NAMES } from "./categories.js";

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

export const Limits = z
  .strictObject({
    maxBytes: z.number().int().positive().default(256 * 1024).describe("Largest input in UTF-8 bytes."),
    maxChars: z.number().int().positive().default(128 * 1024).describe("Largest input in Unicode code points."),
    maxTokens: z.number().int().positive().default(32_768).describe("Largest input in tokens of `tokenizer`."),
    tokenizer: z.enum(["o200k_base", "cl100k_base"]).default("o200k_base").describe("Tokenizer used to count tokens (gpt-tokenizer)."),
  })
  .describe("Size limits. An input over any limit is blocked with category `oversize`; it is never truncated silently.");

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
        categories: CategoryThresholds.prefault({}).describe("Thresholds per category."),
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
      })
      .prefault({})
      .describe("Per-layer configuration."),
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
export type CustomRuleSpec = z.output<typeof CustomRule>;
